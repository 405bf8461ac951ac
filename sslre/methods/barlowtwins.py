"""Barlow Twins loss (Zbontar et al., 2021, Sec. 2, Eq. 1) split into invariance and regularization (Sec. 2.1).

For projections Z, Z' of shape (B, D), each standardised per dimension over the batch (mean 0, biased std 1:
lightly's ``_normalize``, a parameter-free batch norm), the cross-correlation matrix is

    C = Z_n^T Z'_n / B                                                   (D, D), C_ij in [-1, 1]

and the loss, times solo-learn's ``scale_loss`` s (1 in the paper), is

    L = s * sum_i (1 - C_ii)^2  +  s * lambda * sum_{i != j} C_ij^2
        \\_____ invariance ____/    \\_________ regularization ________/

The on-diagonal term makes the two views' features agree (invariance); the off-diagonal "redundancy reduction"
term decorrelates the features, the role VICReg's covariance term plays (regularization, Sec. 2.1 of Ben-Shaul
et al.). Both terms come from lightly's ``BarlowTwinsLoss`` pieces (``_normalize``, ``_off_diagonal``), so
``total == s * BarlowTwinsLoss(lambda_param=lambda)(z1, z2)`` (pinned by ``tests/methods/test_barlowtwins.py``).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from lightly.loss.barlow_twins_loss import _normalize, _off_diagonal
from torch import Tensor

from sslre.methods._inputs import check_pair


def barlow_twins_loss(
    z1: Tensor, z2: Tensor, lam: float = 0.0051, scale: float = 1.0, *, gather: Optional[Callable[[Tensor], Tensor]] = None,
) -> dict[str, Tensor]:
    """Barlow Twins terms for two views' projections.

    Args:
        z1, z2: ``(B, D)`` projections; row b of each is a view of the same image. B >= 2.
        lam: lambda, weight of the off-diagonal term (paper 0.0051; lightly's default 5e-3).
        scale: s, factor on both terms (solo-learn's CIFAR ``scale_loss`` 0.1; paper 1).
        gather: optional callable mapping a local ``(B, D)`` tensor to the global ``(W * B, D)`` batch, keeping
            gradients (``sslre.distributed.gather_cat``). The standardisation and C are batch statistics, so under
            DDP they see the global batch, as one process would. ``None``: one process.

    Returns:
        dict of scalar tensors: ``invariance`` = s * sum_i (1 - C_ii)^2 in [0, 4 s D], ``regularization`` =
        s * lam * sum_{i != j} C_ij^2 in [0, s lam D (D - 1)], ``total`` = their sum. Lower is better.

    Example:
        >>> import torch
        >>> z = torch.randn(64, 4)
        >>> round(float(barlow_twins_loss(z, z)["invariance"]), 4)  # identical views: C_ii = 1
        0.0
    """
    check_pair("barlow_twins_loss", z1, z2, "standardised over the batch")
    # Batch statistics in float32 even under bf16 autocast (as for VICReg).
    z1, z2 = z1.float(), z2.float()
    g1, g2 = (gather(z1), gather(z2)) if gather is not None else (z1, z2)  # (N, D) each, N = W * B
    c = _normalize(g1).T @ _normalize(g2) / g1.shape[0]  # (D, D) cross-correlation
    inv = scale * (torch.diagonal(c) - 1).pow(2).sum()
    reg = scale * lam * _off_diagonal(c).pow(2).sum()
    return {"invariance": inv, "regularization": reg, "total": inv + reg}
