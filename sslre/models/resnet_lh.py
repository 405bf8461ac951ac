"""RES-L-H: the constant-width residual backbone of the paper (App. A.2, after Galanti et al., 2022).

Stem: two 2x2 convolutions with stride 2, each followed by BatchNorm and ReLU, so a 32 px image becomes an
8 px map with H channels. Then L residual blocks

    g^i(x) = relu(x + BN_i^2(C_i^2(relu(BN_i^1(C_i^1(x))))))

with 3x3 convolutions of H channels, stride 1, padding 1. The "layers" analysed in Figs. 5, 7, 11 and 12 are the
globally average-pooled outputs of the stem and of each block.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sslre.config import parse_arch


class _Block(nn.Module):
    """One residual block g(x) = relu(x + BN2(conv2(relu(BN1(conv1(x)))))) (App. A.2)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        # bias=False: a BatchNorm follows each conv, so a conv bias would be cancelled by the BN mean.
        self.conv1 = nn.Conv2d(width, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


class ResLH(nn.Module):
    """RES-L-H backbone: stem (32 px -> 8 px) + ``depth`` residual blocks of ``width`` channels.

    Args:
        depth: L, number of residual blocks (>= 1).
        width: H, channels of the stem output and of every block (>= 1).
        in_channels: image channels.

    ``forward(x)``: ``(B, C, S, S)`` float images -> ``(B, H)`` pooled output of the last block.
    ``forward_layers(x)``: the ``depth + 1`` pooled taps ``[stem, block 1, ..., block L]``, each ``(B, H)``,
    from one forward pass.
    """

    def __init__(self, depth: int, width: int, in_channels: int = 3) -> None:
        super().__init__()
        for name, value in (("depth", depth), ("width", width), ("in_channels", in_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ResLH {name} must be an int >= 1, got {value!r}")
        self.depth = depth
        self.width = width
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, kernel_size=2, stride=2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.ModuleList(_Block(width) for _ in range(depth))

    @property
    def embed_dim(self) -> int:
        """Dimension of every pooled tap (= H)."""
        return self.width

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResLH expects images (B, {self.in_channels}, S, S), got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"ResLH expects float images (normalize uint8 first), got dtype {x.dtype}")
        if x.shape[-1] < 4 or x.shape[-2] < 4:
            raise ValueError(f"ResLH needs images of at least 4x4 px (two stride-2 convs), got {tuple(x.shape)}")

    def forward_maps(self, x: Tensor) -> list[Tensor]:
        """Unpooled feature maps ``[stem, block 1..L]``, each ``(B, H, S/4, S/4)``."""
        self._check(x)
        h = self.stem(x)  # (B, H, S/4, S/4): two stride-2 2x2 convs
        maps = [h]
        for block in self.blocks:
            h = block(h)  # (B, H, S/4, S/4): blocks keep size and width
            maps.append(h)
        return maps

    def forward_layers(self, x: Tensor) -> list[Tensor]:
        """The ``depth + 1`` globally average-pooled taps ``[stem, block 1..L]``, each ``(B, H)``."""
        return [m.mean(dim=(2, 3)) for m in self.forward_maps(x)]  # (B, H) per tap

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return h.mean(dim=(2, 3))  # (B, H) global average pool

    def extra_repr(self) -> str:
        return f"RES-{self.depth}-{self.width}, in_channels={self.in_channels}"


def build_backbone(arch: str, in_channels: int = 3) -> ResLH:
    """``"RES-L-H"`` -> ``ResLH(L, H)``; a malformed string raises :class:`sslre.config.ConfigError`."""
    depth, width = parse_arch(arch)
    return ResLH(depth, width, in_channels=in_channels)
