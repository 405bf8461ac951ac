"""BYOL (Grill et al., 2020): predictor on the online network, momentum (EMA) target network, cosine loss.

For two views v, v' of a batch: online projections z = g(f(v)) and predictions q = h(z), target projections
z_t = g_t(f_t(v)) from the momentum copy (no gradient). With lightly's ``NegativeCosineSimilarity`` and the
symmetric form of lightly's BYOL example,

    L = 1/2 * [ -mean_b cos(q_b, z'_t,b)  -  mean_b cos(q'_b, z_t,b) ]        in [-1, 1]

The paper (Sec. 3.2, Eq. 2) writes 2 - 2 cos per pair and sums both directions: paper loss = 4 + 4 L, the same
minimiser and 4x the gradient. The whole loss is *invariance* (the views' representations agree); BYOL has no
explicit regularizer -- collapse is avoided by the predictor and the slowly moving target -- so its
``loss_regularization``, ``loss_variance`` and ``loss_covariance`` are NaN (Sec. 2.1 of Ben-Shaul et al. splits
losses into these two parts; a method without the second part is "not applicable" for claims that need it).

Target update (paper Sec. 3.2; lightly ``update_momentum``): before step k's forward,

    theta_t <- tau_k theta_t + (1 - tau_k) theta,   tau_k = cosine_schedule(k, K, tau_base, tau_end)

(lightly's ``cosine_schedule``: tau_base at k = 0 rising to tau_end at k = K - 1), with K the run's optimizer
steps. The first update is a no-op (the target starts as a copy of the online network).
"""
from __future__ import annotations

from lightly.loss import NegativeCosineSimilarity
from torch import Tensor


def byol_loss(p1: Tensor, p2: Tensor, t1: Tensor, t2: Tensor) -> dict[str, Tensor]:
    """Symmetric BYOL loss ``{"invariance", "total"}`` (equal; scalars in [-1, 1], lower = views agree).

    Args:
        p1, p2: ``(B, D)`` online predictions of views 1 and 2.
        t1, t2: ``(B, D)`` target projections of views 1 and 2 (detached: the target gets no gradient).

    Example:
        >>> import torch
        >>> z = torch.randn(4, 3)
        >>> round(float(byol_loss(z, z, z, z)["total"]), 4)
        -1.0
    """
    if p1.dim() != 2 or not p1.shape == p2.shape == t1.shape == t2.shape:
        raise ValueError(f"byol_loss expects four (B, D) tensors of equal shape, got "
                         f"{[tuple(t.shape) for t in (p1, p2, t1, t2)]}")
    criterion = NegativeCosineSimilarity(dim=1, eps=1e-8)
    inv = 0.5 * (criterion(p1.float(), t2.detach().float()) + criterion(p2.float(), t1.detach().float()))
    return {"invariance": inv, "total": inv}
