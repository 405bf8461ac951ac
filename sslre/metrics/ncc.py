"""Class means and nearest-class-center (NCC) accuracy (paper Section 2.2).

NCC classifies an embedding by its closest class mean:

    h(x) = argmin_c || f(x) - mu_c ||,    mu_c = (1 / n_c) sum_{i : y_i = c} f(x_i)

with the means ``mu_c`` taken from the *train* split. "NCC train accuracy" evaluates the train
embeddings against those means, "NCC test accuracy" held-out embeddings against the same means.
"""
from __future__ import annotations

import math

import torch

from .validation import (
    accumulation_dtype,
    as_features,
    as_labels,
    check_features_labels,
    encode_labels,
    map_to_classes,
    MetricInputError,
)

__all__ = ["class_means", "ncc_predict", "ncc_accuracy"]

# Rows of eval features per chunk are chosen so that one (chunk, C) score block stays near this
# many elements (64 MiB in float32): 50,000 x 500 classes never materializes at once.
_SCORE_BLOCK_ELEMENTS = 1 << 24


def _means_from_indices(
    features: torch.Tensor, inverse: torch.Tensor, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 class means ``(C, D)`` and counts ``(C,)`` from class indices (no loop over classes)."""
    acc = accumulation_dtype(features)
    sums = torch.zeros(n_classes, features.shape[1], dtype=acc, device=features.device)  # (C, D)
    sums.index_add_(0, inverse, features.to(acc))  # (C, D) per-class sums, one pass over N
    counts = torch.bincount(inverse, minlength=n_classes)  # (C,)
    return sums / counts.unsqueeze(1).to(acc), counts  # (C, D) means


def class_means(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class mean embeddings ``mu_c = mean_{i: y_i = c} f(x_i)`` (Section 2.2).

    Args:
        features: ``(N, D)`` float32/float64 embeddings, any device.
        labels: ``(N,)`` integer class ids (need not be contiguous).

    Returns:
        ``(means, classes)``: ``means`` ``(C, D)`` in the features' dtype and device, row ``c``
        the mean of class ``classes[c]``; ``classes`` ``(C,)`` int64, the sorted unique labels.
        Sums are accumulated in float64 with one ``index_add_`` (no Python loop, no per-class sync).

    A single class is allowed here (its mean is well defined); NCC and CDNV need at least two.

    >>> m, c = class_means(torch.tensor([[0., 0.], [2., 0.], [5., 5.]]), torch.tensor([4, 4, 9]))
    >>> m.tolist(), c.tolist()
    ([[1.0, 0.0], [5.0, 5.0]], [4, 9])
    """
    features, labels = check_features_labels(features, labels)
    classes, inverse = encode_labels(labels, min_classes=1)
    means, _ = _means_from_indices(features, inverse, classes.numel())
    return means.to(features.dtype), classes


def _nearest_center(features: torch.Tensor, means64: torch.Tensor, chunk_size: int | None) -> torch.Tensor:
    """Index ``(M,)`` of the nearest row of ``means64`` ``(C, D)`` for each row of ``features`` ``(M, D)``.

    ``||x - mu||^2 = ||x||^2 - 2 x.mu + ||mu||^2``; ``||x||^2`` is the same for every class so the
    argmin only needs ``||mu||^2 - 2 x.mu``. To keep that expansion safe when all features share a
    large offset (e.g. 1000 +- 0.01 in float32, where x.mu would cancel catastrophically), both
    sides are first translated by the centroid of the class means: distances are translation
    invariant, and the remaining magnitudes are those of the class spread. Both are then divided by a
    power of two near that spread, so features of any magnitude the dtype holds give the same argmin.
    Ties go to the lowest class index (``argmin``), so results are deterministic.
    """
    dtype = features.dtype
    shift = means64.mean(dim=0, keepdim=True)  # (1, D) centroid of the class means
    centred = means64 - shift  # (C, D) float64
    # Divide both sides by a power of two near the means' magnitude: ||mu||^2 of features near 1e19 overflows
    # float32 (every score inf, argmin garbage) and near 1e-20 underflows; the argmin is unchanged by the scale.
    amax = float(centred.abs().max())
    scale = 2.0 ** math.frexp(amax)[1] if amax > 0 and math.isfinite(amax) else 1.0
    mu = (centred / scale).to(dtype)  # (C, D) centered, rescaled means in the compute dtype
    mu_sq = (mu * mu).sum(dim=1)  # (C,) ||mu_c||^2
    n, n_classes = features.shape[0], mu.shape[0]
    if chunk_size is None:
        chunk_size = max(1, _SCORE_BLOCK_ELEMENTS // max(n_classes, 1))
    shift_c = shift.to(dtype)
    out = torch.empty(n, dtype=torch.int64, device=features.device)
    for start in range(0, n, chunk_size):
        x = (features[start : start + chunk_size] - shift_c).div_(scale)  # (B, D) centered, rescaled chunk
        scores = torch.addmm(mu_sq.unsqueeze(0), x, mu.T, beta=1.0, alpha=-2.0)  # (B, C) ||mu||^2 - 2 x.mu
        out[start : start + chunk_size] = scores.argmin(dim=1)
    return out


def ncc_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    eval_features: torch.Tensor | None = None,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """NCC predicted labels ``(M,)`` (original label values) for ``eval_features`` (default: train).

    Means from ``(train_features (N, D), train_labels (N,))``; ``eval_features`` ``(M, D)`` must
    have the same D, dtype and device.
    """
    train_features, train_labels = check_features_labels(
        train_features, train_labels, features_name="train_features", labels_name="train_labels"
    )
    classes, inverse = encode_labels(train_labels, min_classes=2, name="train_labels")
    means64, _ = _means_from_indices(train_features, inverse, classes.numel())
    feats = train_features if eval_features is None else _check_eval(eval_features, train_features)
    return classes[_nearest_center(feats, means64, chunk_size)]


def _check_eval(eval_features: torch.Tensor, train_features: torch.Tensor) -> torch.Tensor:
    eval_features = as_features(eval_features, "eval_features")
    if eval_features.shape[1] != train_features.shape[1]:
        raise MetricInputError(
            f"eval_features have {eval_features.shape[1]} dims but train_features have {train_features.shape[1]}"
        )
    if eval_features.device != train_features.device:
        raise MetricInputError(
            f"eval_features are on {eval_features.device} but train_features on {train_features.device}"
        )
    return eval_features.to(train_features.dtype)


def ncc_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    eval_features: torch.Tensor | None = None,
    eval_labels: torch.Tensor | None = None,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Nearest-class-center accuracy (Section 2.2): ``mean_i [argmin_c ||f(x_i) - mu_c|| == y_i]``.

    Args:
        train_features: ``(N, D)`` float32/float64 embeddings that define the class means.
        train_labels: ``(N,)`` integer class ids, at least 2 classes (need not be contiguous).
        eval_features: ``(M, D)`` embeddings to classify; ``None`` = the train features
            ("NCC train accuracy"). Give ``eval_labels`` with it ("NCC test accuracy").
        eval_labels: ``(M,)`` integer labels; each must be one of the train classes.
        chunk_size: eval rows per distance block (default: about 2^24 / C), bounds memory.

    Returns:
        0-dim tensor in the train features' dtype and device, in ``[0, 1]``; higher = the
        embedding is better clustered by these labels. Chance is about ``1 / C``.

    >>> x = torch.tensor([[0., 0.], [0., 1.], [5., 5.], [5., 6.]])
    >>> float(ncc_accuracy(x, torch.tensor([0, 0, 1, 1])))
    1.0
    """
    train_features, train_labels = check_features_labels(
        train_features, train_labels, features_name="train_features", labels_name="train_labels"
    )
    classes, inverse = encode_labels(train_labels, min_classes=2, name="train_labels")
    means64, _ = _means_from_indices(train_features, inverse, classes.numel())
    if eval_features is None:
        if eval_labels is not None:
            raise MetricInputError("eval_labels given without eval_features")
        feats, target = train_features, inverse
    else:
        if eval_labels is None:
            raise MetricInputError("eval_features given without eval_labels")
        feats = _check_eval(eval_features, train_features)
        target = map_to_classes(
            as_labels(eval_labels, feats.shape[0], "eval_labels", device=feats.device), classes, "eval_labels"
        )
    pred = _nearest_center(feats, means64, chunk_size)  # (M,) class indices
    correct = (pred == target).sum()
    return (correct.to(torch.float64) / target.numel()).to(train_features.dtype)
