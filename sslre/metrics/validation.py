"""Input checks shared by the metric kernels, with errors that name the problem.

Every kernel in :mod:`sslre.metrics` takes ``features`` ``(N, D)`` (float32 or float64, any
device) and ``labels`` ``(N,)`` (any integer dtype, any label values: they need not be
contiguous, ``[3, 7, 7, 42]`` is fine). The checks here turn every malformed input into a
:class:`MetricInputError` whose message says what is wrong, instead of a shape error deep inside
a matmul or a silently wrong number.

Labels are encoded once with :func:`encode_labels` (``torch.unique(..., return_inverse=True)``),
so that kernels work on class indices ``0..C-1`` in the order of the sorted unique labels.
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "MetricInputError",
    "as_features",
    "as_labels",
    "check_features_labels",
    "encode_labels",
    "require_min_per_class",
    "map_to_classes",
    "accumulation_dtype",
]


class MetricInputError(ValueError):
    """The input of a metric kernel is malformed; the message names the argument and the problem."""


def as_features(features: Any, name: str = "features") -> torch.Tensor:
    """Check ``features`` is a finite floating-point ``(N, D)`` tensor with N >= 1, D >= 1.

    NumPy arrays are accepted and converted with ``torch.as_tensor`` (no copy where possible).
    Integer features are refused rather than silently cast: they usually mean labels were passed
    in the features' place.
    """
    if not isinstance(features, torch.Tensor):
        try:
            features = torch.as_tensor(features)
        except Exception as exc:  # noqa: BLE001 - re-raised with the argument's name
            raise MetricInputError(f"{name} must be a tensor of shape (N, D); got {type(features).__name__}") from exc
    if features.dim() != 2:
        raise MetricInputError(f"{name} must be 2-D (N, D); got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise MetricInputError(f"{name} must be float32 or float64; got dtype {features.dtype}")
    if features.shape[0] == 0 or features.shape[1] == 0:
        raise MetricInputError(f"{name} is empty: shape {tuple(features.shape)}")
    # A NaN or inf anywhere makes the sum non-finite: one reduction instead of isfinite's four full passes and
    # temporaries. Only a non-finite sum is looked at closely (finite values can overflow the sum; they pass).
    if not bool(torch.isfinite(features.sum())) and not bool(torch.isfinite(features).all()):
        n_bad = int((~torch.isfinite(features)).any(dim=1).sum())
        raise MetricInputError(f"{name} contain NaN or inf values (in {n_bad} of {features.shape[0]} rows)")
    return features


def as_labels(labels: Any, n: int, name: str = "labels", device: torch.device | None = None) -> torch.Tensor:
    """Check ``labels`` is an integer ``(n,)`` tensor; return it as int64 on ``device``."""
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
        except Exception as exc:  # noqa: BLE001
            raise MetricInputError(f"{name} must be a 1-D integer tensor; got {type(labels).__name__}") from exc
    if labels.dim() != 1:
        raise MetricInputError(f"{name} must be 1-D (N,); got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise MetricInputError(f"{name} must have an integer dtype (class ids); got dtype {labels.dtype}")
    if labels.shape[0] != n:
        raise MetricInputError(f"{name} has length {labels.shape[0]} but the features have {n} rows")
    return labels.to(device=device, dtype=torch.int64)


def check_features_labels(
    features: Any, labels: Any, *, features_name: str = "features", labels_name: str = "labels"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a ``(features (N, D), labels (N,))`` pair; labels are moved to the features' device."""
    features = as_features(features, features_name)
    labels = as_labels(labels, features.shape[0], labels_name, device=features.device)
    return features, labels


def encode_labels(labels: torch.Tensor, *, min_classes: int = 2, name: str = "labels") -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted unique labels ``classes`` ``(C,)`` and class indices ``inverse`` ``(N,)`` in ``0..C-1``.

    >>> encode_labels(torch.tensor([7, 3, 7, 42]))
    (tensor([ 3,  7, 42]), tensor([1, 0, 1, 2]))
    """
    classes, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    if classes.numel() < min_classes:
        raise MetricInputError(
            f"{name} contain {classes.numel()} distinct class(es); at least {min_classes} are needed"
        )
    return classes, inverse


def require_min_per_class(counts: torch.Tensor, classes: torch.Tensor, minimum: int = 2, why: str = "a variance") -> None:
    """Raise if a class has fewer than ``minimum`` samples (``counts`` ``(C,)`` per class index)."""
    small = counts < minimum
    if bool(small.any()):
        bad = classes[small][:10].tolist()
        raise MetricInputError(
            f"{int(small.sum())} class(es) have fewer than {minimum} samples, needed for {why}: labels {bad}"
            + (" ..." if int(small.sum()) > 10 else "")
        )


def map_to_classes(labels: torch.Tensor, classes: torch.Tensor, name: str = "eval_labels") -> torch.Tensor:
    """Class indices of ``labels`` in the sorted ``classes`` ``(C,)``; raise for labels not in ``classes``."""
    idx = torch.searchsorted(classes, labels).clamp_(max=classes.numel() - 1)  # (M,) candidate positions
    missing = classes[idx] != labels
    if bool(missing.any()):
        bad = torch.unique(labels[missing])[:10].tolist()
        raise MetricInputError(
            f"{name} contain labels absent from the train classes: {bad}"
            + (" ..." if torch.unique(labels[missing]).numel() > 10 else "")
        )
    return idx


def accumulation_dtype(features: torch.Tensor) -> torch.dtype:
    """dtype for O(N D) sums (class means, variances): float64, whatever the input.

    Summing 10^4 float32 values near 1000 loses ~1e-3 absolute, i.e. the whole within-class
    spread when sigma = 0.01; the sums are O(N D), negligible next to the O(N C D) distance
    matmuls, so they are always done in float64 and the results cast back to the input dtype.
    """
    return torch.float64
