"""Curve helpers: normalization by the value at initialization, ratios (Figs. 2-4) and chance correction.

The paper plots several curves "normalized", i.e. divided by their value at epoch 0, and the
semantic / random ratios of Fig. 4 (right). Both accept anything ``torch.as_tensor`` takes
(lists, NumPy arrays, tensors) and return float64 tensors (float tensors keep their dtype).
"""
from __future__ import annotations

from typing import Any

import torch

from .validation import MetricInputError

__all__ = ["normalize_by_init", "ratio", "majority_accuracy", "chance_corrected"]


def _as_float(x: Any, name: str) -> torch.Tensor:
    # Python floats and lists become float64 (torch's default float32 would round them); tensors keep their dtype
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    if not isinstance(x, torch.Tensor) and t.is_floating_point():
        t = torch.as_tensor(x, dtype=torch.float64)
    if t.is_complex() or t.dtype == torch.bool:
        raise MetricInputError(f"{name} must be real numbers; got dtype {t.dtype}")
    return t if t.is_floating_point() else t.to(torch.float64)


def normalize_by_init(values: Any) -> torch.Tensor:
    """``values / values[0]``: a series over epochs divided by its value at initialization.

    Args:
        values: ``(T,)`` series ordered by epoch, ``values[0]`` at epoch 0; or ``(T, ...)``, in
            which case every column is divided by its own first entry.

    Returns:
        Same shape, float; 1.0 at epoch 0 by construction.

    Raises:
        MetricInputError: empty series, non-finite or zero initial value (the normalization
        would be meaningless: e.g. a linear accuracy of exactly 0 at init).

    >>> normalize_by_init([0.25, 0.375, 0.625]).tolist()
    [1.0, 1.5, 2.5]
    """
    v = _as_float(values, "values")
    if v.dim() == 0 or v.shape[0] == 0:
        raise MetricInputError(f"values must be a non-empty series (T, ...); got shape {tuple(v.shape)}")
    init = v[0]
    if bool((init == 0).any()):
        raise MetricInputError("values[0] (the value at initialization) is 0: cannot normalize by it")
    if not bool(torch.isfinite(init).all()):
        raise MetricInputError(f"values[0] (the value at initialization) is not finite: {init.tolist()}")
    return v / init


def ratio(a: Any, b: Any) -> torch.Tensor:
    """Elementwise ``a / b`` (e.g. semantic / random CDNV, Fig. 4 right), broadcasting like torch.

    Raises :class:`MetricInputError` when the shapes do not broadcast or some ``b`` is 0.

    >>> ratio([1.0, 3.0], [2.0, 4.0]).tolist()
    [0.5, 0.75]
    """
    ta, tb = _as_float(a, "a"), _as_float(b, "b")
    try:
        torch.broadcast_shapes(ta.shape, tb.shape)
    except RuntimeError as exc:
        raise MetricInputError(f"a {tuple(ta.shape)} and b {tuple(tb.shape)} do not broadcast") from exc
    if bool((tb == 0).any()):
        raise MetricInputError("ratio denominator b contains 0")
    return ta / tb


def majority_accuracy(train_labels: Any, test_labels: Any) -> torch.Tensor:
    """Test accuracy of the constant classifier that always answers the train split's most frequent label.

    The chance level of an accuracy on imbalanced labels (e.g. random targets from a generator near
    initialization, which predicts few classes: Sec. 5 / App. B.5). Ties go to the smallest label.

    Args:
        train_labels: ``(N,)`` integer labels; test_labels: ``(M,)`` integer labels (any values).

    Returns:
        0-dim float64 tensor in [0, 1]: the share of test labels equal to the train majority label.

    >>> majority_accuracy([0, 1, 1, 2], [1, 1, 0, 2]).item()
    0.5
    """
    tr, te = torch.as_tensor(train_labels), torch.as_tensor(test_labels)
    if tr.dim() != 1 or te.dim() != 1 or tr.numel() == 0 or te.numel() == 0:
        raise MetricInputError(f"labels must be non-empty 1-D; got train {tuple(tr.shape)}, test {tuple(te.shape)}")
    if tr.is_floating_point() or te.is_floating_point():
        raise MetricInputError("labels must be integers")
    values, counts = torch.unique(tr, return_counts=True)  # sorted values: argmax picks the smallest on ties
    top = values[int(torch.argmax(counts))]
    return (te.to(tr.device) == top).to(torch.float64).mean()


def chance_corrected(accuracy: Any, baseline: Any) -> torch.Tensor:
    """``(accuracy - baseline) / (1 - baseline)``: the share of the headroom above chance that is won.

    1 = perfect, 0 = no better than the baseline (e.g. :func:`majority_accuracy`), negative = worse.
    Comparable across label sets with different class balance, where raw accuracy is not.
    Broadcasts; a baseline of 1 (nothing left to win) gives NaN.

    >>> chance_corrected(0.625, 0.25).item()
    0.5
    """
    acc, base = _as_float(accuracy, "accuracy"), _as_float(baseline, "baseline")
    return torch.where(base < 1, (acc - base) / (1 - base), torch.full_like(acc * base, float("nan")))
