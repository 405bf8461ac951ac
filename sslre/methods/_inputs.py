"""Input checks shared by the two-view losses."""
from __future__ import annotations

from torch import Tensor


def check_pair(loss_name: str, z1: Tensor, z2: Tensor, why_batch: str) -> None:
    """Raise ``ValueError`` unless ``z1``, ``z2`` are ``(B, D)`` of equal shape with ``B >= 2``; ``why_batch`` says
    what the batch is needed for (e.g. ``"variance over the batch"``)."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"{loss_name} expects two (B, D) tensors of equal shape, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"{loss_name} needs a batch of >= 2 ({why_batch}), got B={z1.shape[0]}")
