"""Class-distance normalized variance (CDNV) and its parts (Section 2.2; Galanti et al., 2022).

For classes i, j with embedding means ``mu_i`` and within-class variances ``Var_i``:

    Var_c   = (1 / n_c) sum_{k : y_k = c} || f(x_k) - mu_c ||^2      (uniform over the class's embeddings)
    V_ij    = (Var_i + Var_j) / (2 || mu_i - mu_j ||^2)
    CDNV    = Avg_{i != j} V_ij

Lower CDNV = tighter, better separated classes (CDNV -> 0 is neural collapse). Fig. 4 (right)
also plots the two ingredients separately: the average within-class variance and the average
squared distance between class means; :func:`cdnv_parts` returns all three from one pass.

Identical class means: when ``mu_i == mu_j`` exactly for some ``i != j`` the two classes cannot
be told apart by their means, and ``V_ij`` is defined as ``+inf`` (the limit as the distance goes
to 0), so :func:`cdnv` is ``+inf`` too. This is a value, not an error, so that a degenerate layer
(e.g. constant features at initialization) yields a reportable number instead of stopping a sweep.
"""
from __future__ import annotations

import torch

from .ncc import _means_from_indices
from .validation import check_features_labels, encode_labels, require_min_per_class

__all__ = ["within_class_variance", "class_mean_distance", "cdnv_matrix", "cdnv", "cdnv_parts"]


def _stats(features: torch.Tensor, labels: torch.Tensor, need_variance: bool):
    """Float64 means ``(C, D)``, counts ``(C,)``, class indices ``(N,)``, classes ``(C,)``."""
    features, labels = check_features_labels(features, labels)
    classes, inverse = encode_labels(labels, min_classes=2)
    means64, counts = _means_from_indices(features, inverse, classes.numel())
    if need_variance:
        require_min_per_class(counts, classes, 2, why="a within-class variance")
    return features, means64, counts, inverse, classes


def _variance64(features: torch.Tensor, means64: torch.Tensor, counts: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Two-pass within-class variance ``(C,)`` in float64: center by the class mean, then square.

    Never ``E||x||^2 - ||mu||^2``: with features 1000 +- 0.01 that difference cancels to noise.
    """
    centered = features.to(torch.float64) - means64[inverse]  # (N, D) deviations from own class mean
    sq = (centered * centered).sum(dim=1)  # (N,) squared distance to own class mean
    sums = torch.zeros(means64.shape[0], dtype=torch.float64, device=features.device)  # (C,)
    sums.index_add_(0, inverse, sq)
    return sums / counts.to(torch.float64)  # (C,) mean over the class (uniform, 1/n_c)


def _mean_dist2_64(means64: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``(C, C)`` between the rows of ``means64`` ``(C, D)``, float64.

    Computed from explicit differences (``cdist`` without the ``||a||^2 + ||b||^2 - 2ab`` matmul
    trick), so identical means give exactly 0 and close means keep their relative precision.
    """
    centered = means64 - means64.mean(dim=0, keepdim=True)  # (C, D); translation does not change distances
    dist = torch.cdist(centered.unsqueeze(0), centered.unsqueeze(0), compute_mode="donot_use_mm_for_euclid_dist")[0]  # (C, C)
    return dist * dist


def _matrix64(var64: torch.Tensor, dist2: torch.Tensor) -> torch.Tensor:
    """``V_ij = (Var_i + Var_j) / (2 d_ij)`` ``(C, C)``; NaN on the diagonal, +inf where d_ij == 0."""
    num = var64.unsqueeze(0) + var64.unsqueeze(1)  # (C, C) Var_i + Var_j
    v = num / (2.0 * dist2)
    v = torch.where(dist2 == 0, torch.full_like(v, float("inf")), v)  # identical means (also 0/0) -> +inf
    v.fill_diagonal_(float("nan"))
    return v


def within_class_variance(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Within-class variance ``Var_c = (1/n_c) sum_{y_k = c} ||f(x_k) - mu_c||^2`` per class (Sec. 2.2).

    Args:
        features: ``(N, D)`` float32/float64; labels: ``(N,)`` integer, >= 2 classes, >= 2 samples each.

    Returns:
        ``(C,)`` in the features' dtype/device, ordered like the sorted unique labels; >= 0,
        lower = tighter classes. The total variance (trace of the class covariance), with the
        uniform 1/n_c normalization of the paper (not 1/(n_c - 1)). Computed two-pass in float64.

    >>> within_class_variance(torch.tensor([[0., 0.], [2., 0.], [5., 5.], [5., 7.]]), torch.tensor([0, 0, 1, 1]))
    tensor([1., 1.])
    """
    features, means64, counts, inverse, _ = _stats(features, labels, need_variance=True)
    return _variance64(features, means64, counts, inverse).to(features.dtype)


def class_mean_distance(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Squared distances between class means ``D_ij = ||mu_i - mu_j||^2``, ``(C, C)`` (Sec. 2.2).

    Symmetric, zero diagonal, >= 0; larger = classes further apart. Features ``(N, D)``,
    labels ``(N,)`` with >= 2 classes; result in the features' dtype/device.

    >>> class_mean_distance(torch.tensor([[0., 0.], [3., 4.]]), torch.tensor([0, 1]))
    tensor([[ 0., 25.],
            [25.,  0.]])
    """
    features, means64, _, _, _ = _stats(features, labels, need_variance=False)
    return _mean_dist2_64(means64).to(features.dtype)


def cdnv_matrix(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pairwise CDNV ``V_ij = (Var_i + Var_j) / (2 ||mu_i - mu_j||^2)``, ``(C, C)`` (Sec. 2.2).

    Symmetric; diagonal NaN (undefined for i == j); ``+inf`` where two class means coincide.
    Features ``(N, D)`` float32/float64; labels ``(N,)``, >= 2 classes with >= 2 samples each.

    >>> x = torch.tensor([[0., 0.], [2., 0.], [5., 5.], [5., 7.]])   # Var = 1, 1; ||mu_0 - mu_1||^2 = 52
    >>> round(cdnv_matrix(x, torch.tensor([0, 0, 1, 1]))[0, 1].item(), 6) == round(2 / (2 * 52), 6)
    True
    """
    features, means64, counts, inverse, _ = _stats(features, labels, need_variance=True)
    var64 = _variance64(features, means64, counts, inverse)
    return _matrix64(var64, _mean_dist2_64(means64)).to(features.dtype)


def _offdiag_mean(m: torch.Tensor) -> torch.Tensor:
    """Mean of the off-diagonal entries of a square ``(C, C)`` matrix."""
    c = m.shape[0]
    mask = ~torch.eye(c, dtype=torch.bool, device=m.device)  # (C, C) True off the diagonal
    return m[mask].mean()


def cdnv(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CDNV ``= Avg_{i != j} (Var_i + Var_j) / (2 ||mu_i - mu_j||^2)`` (Sec. 2.2; Galanti et al. 2022).

    Args:
        features: ``(N, D)`` float32/float64 embeddings, any device.
        labels: ``(N,)`` integer class ids; >= 2 classes, each with >= 2 samples.

    Returns:
        0-dim tensor (features' dtype/device), in ``[0, +inf]``; lower = better clustered
        (0 = all embeddings of a class collapsed on their mean). ``+inf`` if two class means coincide.
        Invariant to label permutation, sample order, translation, rotation and isotropic scaling.

    >>> x = torch.tensor([[0., 0.], [2., 0.], [5., 5.], [5., 7.]])
    >>> round(cdnv(x, torch.tensor([0, 0, 1, 1])).item(), 6) == round(1 / 52, 6)
    True
    """
    return cdnv_parts(features, labels)["cdnv"]


def cdnv_parts(features: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """CDNV and the two quantities it is made of (Fig. 4 right), from one pass over the data.

    Returns a dict of 0-dim tensors (features' dtype/device):

    - ``cdnv``: ``Avg_{i != j} V_ij`` as in :func:`cdnv` (lower = better clustered);
    - ``within_var``: ``Avg_c Var_c``, the average within-class variance (lower = tighter);
    - ``mean_dist2``: ``Avg_{i != j} ||mu_i - mu_j||^2``, the average squared distance between
      class means (higher = classes further apart).

    Note ``cdnv`` is the average of ratios, not ``within_var / mean_dist2``.
    """
    features, means64, counts, inverse, _ = _stats(features, labels, need_variance=True)
    var64 = _variance64(features, means64, counts, inverse)  # (C,)
    dist2 = _mean_dist2_64(means64)  # (C, C)
    v = _matrix64(var64, dist2)  # (C, C)
    return {
        "cdnv": _offdiag_mean(v).to(features.dtype),
        "within_var": var64.mean().to(features.dtype),
        "mean_dist2": _offdiag_mean(dist2).to(features.dtype),
    }
