"""Projection head: the two-layer MLP put on top of the RES-L-H backbone for SSL training (Sec. 3, App. A.2)."""
from __future__ import annotations

from lightly.models.modules.heads import ProjectionHead as _LightlyProjectionHead
from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """Linear(in, hidden, no bias) - BatchNorm1d(hidden) - ReLU - Linear(hidden, out, bias).

    Built from lightly's generic :class:`lightly.models.modules.heads.ProjectionHead` with every block spelled
    out (the same layout as lightly's ``VICRegProjectionHead(num_layers=2)`` and ``SimCLRProjectionHead``
    with ``num_layers=2`` and batch norm). The first Linear has no bias because the BatchNorm right after it
    subtracts the batch mean anyway. The paper does not give the widths; they come from the Config
    (``proj_hidden``, ``proj_out``).

    Shapes: ``(B, in_dim) -> (B, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ProjectionHead {name} must be an int >= 1, got {value!r}")
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        # Block tuples: (in_features, out_features, batch_norm, non_linearity, use_bias).
        self.mlp = _LightlyProjectionHead(
            [
                (in_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU(), False),
                (hidden_dim, out_dim, None, None, True),
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"ProjectionHead expects (B, {self.in_dim}), got shape {tuple(x.shape)}")
        return self.mlp(x)
