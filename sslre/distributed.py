"""Multi-process training glue: PyTorch DistributedDataParallel launched by ``torchrun``.

sslre does not schedule processes itself: ``torchrun --nproc_per_node=N -m sslre.cli train ...`` (or a SLURM
array through ``sslre plan --format slurm``) starts the ranks, and this module reads torchrun's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).

Why a gather: VICReg's variance and covariance terms and SimCLR's negatives are statistics of the *batch*.
Computed per rank they would silently change the method (a per-rank batch of 256/8 = 32 is a different
regulariser). The losses therefore see the global batch through :func:`gather_cat`, which is lightly's
gradient-preserving all-gather (as in the original VICReg code); gradients flow back to each rank's slice.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def setup_from_env(backend: str | None = None) -> DistInfo:
    """Join the process group torchrun describes in the environment; a single process is a no-op.

    ``backend`` defaults to ``nccl`` on CUDA and ``gloo`` on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and backend == "nccl":
        torch.cuda.set_device(local)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)


def gather_cat(x: torch.Tensor) -> torch.Tensor:
    """All ranks' ``x`` concatenated along dim 0, with gradients to the local slice; ``x`` itself in one process.

    ``(B_local, D) -> (B_local * world_size, D)``.
    """
    if world_size() == 1:
        return x
    from lightly.utils.dist import gather

    return torch.cat(gather(x), dim=0)  # (W * B_local, D) global batch, rank order


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
