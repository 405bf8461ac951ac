"""VICReg loss (Bardes et al., 2022) split into the paper's terms (Sec. 2.1, Eq. 1).

    L = lambda * s(Z, Z')  +  mu * [v(Z) + v(Z')]  +  nu * [c(Z) + c(Z')]
        \\__ invariance __/    \\_____________ regularization _____________/

with, for embeddings Z of shape (B, D):

    s(Z, Z') = 1/(B D) sum_{b,d} (Z_bd - Z'_bd)^2                            (mean squared error)
    v(Z)     = 1/D sum_d relu(1 - sqrt(Var_b(Z_{.d}) + eps))                 (hinge on the std, unbiased Var)
    c(Z)     = 1/D sum_{d != e} Cov(Z)_{de}^2,  Cov(Z) = (Z - mean)^T (Z - mean) / (B - 1)

The three terms come from lightly (``lightly.loss.vicreg_loss.invariance_loss`` / ``variance_loss`` /
``covariance_loss``), called with explicit arguments.

Relation to the reference implementations (pinned by ``tests/methods/test_vicreg.py``):
the original VICReg code (facebookresearch/vicreg) and lightly's ``VICRegLoss`` both use
``mu * 0.5 * [v(Z) + v(Z')]`` -- the mean of the two views' variance terms -- and ``nu * [c(Z) + c(Z')]``
(no 0.5). Eq. (1) of the paper writes the plain sum for both, which is what this module computes. Hence

    vicreg_loss(...)["total"] == VICRegLoss(lambda, mu, nu)(z1, z2) + 0.5 * vicreg_loss(...)["variance"]

i.e. the paper's mu equals 2x the reference code's mu on the variance term; the invariance and covariance terms
are identical. Both conventions reach the same minimiser for the variance hinge; only the balance between the
terms differs by that factor (relevant when comparing mu-ablation numbers across code bases).
"""
from __future__ import annotations

from typing import Callable, Optional

from lightly.loss.vicreg_loss import covariance_loss, invariance_loss, variance_loss
from torch import Tensor

from sslre.methods._inputs import check_pair

Gather = Callable[[Tensor], Tensor]


def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    lam: float = 25.0,
    mu: float = 25.0,
    nu: float = 1.0,
    *,
    eps: float = 1e-4,
    gather: Optional[Gather] = None,
) -> dict[str, Tensor]:
    """VICReg loss terms of Eq. (1) for two views' projections.

    Args:
        z1, z2: ``(B, D)`` projections of the two views of the same B images (row b of each = same image).
        lam, mu, nu: weights of invariance, variance, covariance (paper: 25, 25, 1).
        eps: added to the variance before the square root (lightly's and the original default 1e-4).
        gather: optional callable mapping a local ``(B, D)`` tensor to the global ``(B * world, D)`` batch
            (e.g. ``lambda t: torch.cat(lightly.utils.dist.gather(t))``, which keeps gradients). Variance and
            covariance are batch statistics, so under DDP they should see the global batch; the invariance term
            is a per-pair mean and stays local. ``None`` (single process): no gathering.

    Returns:
        dict of scalar tensors: ``invariance`` = lam*s(Z,Z') (>= 0), ``variance`` = mu*(v(Z)+v(Z')) in
        [0, 2*mu], ``covariance`` = nu*(c(Z)+c(Z')) (>= 0), ``regularization`` = variance + covariance,
        ``total`` = invariance + regularization. Lower is better for all.

    Example:
        >>> import torch
        >>> z = torch.randn(64, 8)
        >>> float(vicreg_loss(z, z)["invariance"])
        0.0
    """
    check_pair("vicreg_loss", z1, z2, "variance over the batch")
    # Statistics in float32 even under bf16 autocast: the variance hinge and squared covariances lose too much in bf16.
    z1, z2 = z1.float(), z2.float()
    inv = lam * invariance_loss(x=z1, y=z2)
    g1, g2 = (gather(z1), gather(z2)) if gather is not None else (z1, z2)  # (B_global, D) each
    var = mu * (variance_loss(x=g1, eps=eps) + variance_loss(x=g2, eps=eps))
    cov = nu * (covariance_loss(x=g1) + covariance_loss(x=g2))
    reg = var + cov
    return {"invariance": inv, "variance": var, "covariance": cov, "regularization": reg, "total": inv + reg}
