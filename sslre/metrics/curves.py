"""Curve helpers: normalization by the value at initialization, and ratios (Figs. 2-4).

The paper plots several curves "normalized", i.e. divided by their value at epoch 0, and the
semantic / random ratios of Fig. 4 (right). Both accept anything ``torch.as_tensor`` takes
(lists, NumPy arrays, tensors) and return float64 tensors (float tensors keep their dtype).
"""
from __future__ import annotations

from typing import Any

import torch

from .validation import MetricInputError

__all__ = ["normalize_by_init", "ratio"]


def _as_float(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
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

    >>> normalize_by_init([0.2, 0.3, 0.5]).tolist()
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
