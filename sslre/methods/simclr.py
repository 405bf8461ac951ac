"""SimCLR's NT-Xent loss (Chen et al., 2020) split into invariance and regularization (Sec. 2.1).

For 2B anchors (each view of each image), with u = normalize(z) and sim(a, b) = a.b / (|a| |b|):

    invariance     = -1/(2B) sum_anchors sim(u_i, u_i+) / tau                       (positive pair)
    regularization =  1/(2B) sum_anchors log sum_{k != i} exp(sim(u_i, u_k) / tau)  (all 2B-1 other samples)
    total          = invariance + regularization   ==   NT-Xent cross-entropy

**Positive pair in the denominator.** The paper writes the log-sum-exp over j != i of the *other view's*
samples, i.e. without the positive. SimCLR's NT-Xent, and lightly's ``NTXentLoss(memory_bank_size=0)``, put the
positive in the denominator together with the 2B-2 negatives (both views of every other image). This module
follows NT-Xent: the regularization term's log-sum-exp runs over all 2B-1 samples other than the anchor itself,
*including* the positive, so ``total`` equals lightly's loss exactly (pinned by ``tests/methods/test_simclr.py``).
The split itself is the paper's: the invariance term holds only the positive similarity.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from sslre.methods._inputs import check_pair


def simclr_loss(
    z1: Tensor, z2: Tensor, temperature: float = 0.5, *, gather: Optional[Callable[[Tensor], Tensor]] = None,
    rank: int = 0,
) -> dict[str, Tensor]:
    """NT-Xent for two views split into ``invariance``, ``regularization``, ``total`` (scalars).

    Args:
        z1, z2: ``(B, D)`` projections; row b of each is a view of the same image. B >= 2.
        temperature: tau > 0.
        gather: optional callable mapping a local ``(B, D)`` tensor to the global ``(W * B, D)`` batch in rank
            order, keeping gradients (``sslre.distributed.gather_cat``). Under DDP the negatives are then every
            other sample of the *global* batch, as in SimCLR; the anchors stay local. ``None``: one process.
        rank: this process's rank (its slice of the gathered batch starts at ``rank * B``).

    Returns:
        ``invariance`` in [-1/tau, 1/tau] (lower = views agree), ``regularization`` (log-sum-exp, lower =
        samples spread out), ``total`` = their sum (>= 0, the cross-entropy of picking the positive).

    Example:
        >>> import torch
        >>> z = torch.eye(4)
        >>> round(float(simclr_loss(z, z, temperature=1.0)["invariance"]), 4)
        -1.0
    """
    check_pair("simclr_loss", z1, z2, "negatives come from the batch")
    if not temperature > 0:
        raise ValueError(f"simclr_loss temperature must be > 0, got {temperature}")
    b = z1.shape[0]
    u1, u2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)  # (B, D) unit vectors per view
    g1, g2 = (gather(u1), gather(u2)) if gather is not None else (u1, u2)  # (N, D) global batch, N = W * B
    n = g1.shape[0]
    anchors = torch.cat([u1, u2])  # (2B, D) local anchors: views 1 then views 2
    candidates = torch.cat([g1, g2])  # (2N, D) every sample of the global batch, same layout
    logits = anchors @ candidates.T / temperature  # (2B, 2N) cosine similarity / tau
    rows = torch.arange(2 * b, device=u1.device)
    local = torch.arange(b, device=u1.device) + rank * b  # (B,) this rank's images in the global batch
    self_idx = torch.cat([local, local + n])  # (2B,) each anchor's own column
    pos_idx = torch.cat([local + n, local])  # (2B,) each anchor's other view
    inv = -logits[rows, pos_idx].mean()
    # Exclude only the anchor itself (self-similarity is always 1/tau); the positive stays in, as in NT-Xent.
    logits = logits.index_put((rows, self_idx), torch.tensor(float("-inf"), device=u1.device))
    reg = torch.logsumexp(logits, dim=1).mean()  # (2B,) -> scalar
    return {"invariance": inv, "regularization": reg, "total": inv + reg}
