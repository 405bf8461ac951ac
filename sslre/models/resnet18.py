"""CIFAR-variant ResNet-18 (He et al., 2016): the random-target generator of Sec. 5 (App. A.2, A.3).

The ImageNet stem (7x7 stride-2 conv + max-pool) would shrink a 32 px image to 8 px before the first stage;
the CIFAR variant replaces it by a 3x3 stride-1 conv and drops the max-pool, as is standard for 32 px inputs.
"""
from __future__ import annotations

import torchvision
from torch import Tensor, nn


class ResNet18Cifar(nn.Module):
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool. ``forward(x)``: ``(B, 3, S, S)`` -> ``(B, num_classes)``.

    ``width`` is the channel count of the first stage (64 in the standard network; the stages use
    width, 2*width, 4*width, 8*width). Smaller widths keep CPU profiles fast.
    """

    def __init__(self, num_classes: int, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be an int >= 1, got {width!r}")
        self.num_classes = num_classes
        net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        if width != 64:
            # torchvision's ResNet fixes 64 base channels; rebuild it with the same block layout and our width.
            net = _ResNetWidth(width, num_classes)
        net.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"ResNet18Cifar expects images (B, C, H, W), got shape {tuple(x.shape)}")
        return self.net(x)  # (B, num_classes) logits


class _ResNetWidth(torchvision.models.ResNet):
    """torchvision's ResNet-18 layout ([2, 2, 2, 2] BasicBlocks) with base width ``width`` instead of 64."""

    def __init__(self, width: int, num_classes: int) -> None:
        # ResNet.__init__ reads self.inplanes = 64 internally; build with 64 then rebuild the stages.
        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.inplanes = width
        self.bn1 = nn.BatchNorm2d(width)
        block = torchvision.models.resnet.BasicBlock
        self.layer1 = self._make_layer(block, width, 2)
        self.layer2 = self._make_layer(block, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(block, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(block, 8 * width, 2, stride=2)
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():
            # Same init torchvision applies in ResNet.__init__ (kaiming for convs, BN weight 1 bias 0).
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
