import pytest
import torch

from sslre.models.resnet18 import ResNet18Cifar


def test_output_shape_and_cifar_stem():
    net = ResNet18Cifar(7).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert net.net.conv1.kernel_size == (3, 3) and net.net.conv1.stride == (1, 1)
    assert isinstance(net.net.maxpool, torch.nn.Identity)
    # Standard ResNet-18 with a 3x3 stem: 11.17 M parameters for 10 classes (11,173,962 with fc 512->10).
    assert sum(p.numel() for p in ResNet18Cifar(10).parameters()) == 11_173_962


def test_narrow_variant():
    net = ResNet18Cifar(5, width=8).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert net.net.fc.in_features == 64
    assert net.net.layer4[0].conv1.out_channels == 64


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        ResNet18Cifar(0)
