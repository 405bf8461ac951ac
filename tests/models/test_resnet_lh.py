import pytest
import torch

from sslre.config import ConfigError
from sslre.models.resnet_lh import ResLH, build_backbone


@pytest.mark.parametrize("depth,width", [(1, 4), (2, 8), (3, 16), (5, 7)])
def test_forward_layers_shapes_and_last_tap_equals_forward(depth, width):
    torch.manual_seed(0)
    net = ResLH(depth, width).eval()
    x = torch.randn(3, 3, 32, 32)
    taps = net.forward_layers(x)
    assert len(taps) == depth + 1
    assert all(t.shape == (3, width) for t in taps)
    assert net.embed_dim == width
    assert torch.allclose(net(x), taps[-1], atol=1e-6)


def test_taps_are_distinct_layers():
    torch.manual_seed(0)
    taps = ResLH(3, 8).eval().forward_layers(torch.randn(4, 3, 32, 32))
    # Each block changes the representation: no two consecutive taps coincide.
    for a, b in zip(taps, taps[1:]):
        assert not torch.allclose(a, b)


def test_stem_downsamples_32_to_8():
    net = ResLH(2, 5)
    maps = net.forward_maps(torch.randn(2, 3, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(2, 5, 8, 8)] * 3
    stem_convs = [m for m in net.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in stem_convs] == [((2, 2), (2, 2))] * 2


def test_block_is_the_paper_formula():
    torch.manual_seed(0)
    net = ResLH(1, 6).eval()
    blk = net.blocks[0]
    x = torch.randn(2, 6, 8, 8)
    expected = torch.relu(x + blk.bn2(blk.conv2(torch.relu(blk.bn1(blk.conv1(x))))))
    assert torch.equal(blk(x), expected)
    assert blk.conv1.kernel_size == (3, 3) and blk.conv1.padding == (1, 1) and blk.conv1.stride == (1, 1)


def test_parameter_count_res_5_250():
    net = build_backbone("RES-5-250")
    h = 250
    stem = 3 * h * 4 + 2 * h + h * h * 4 + 2 * h  # two 2x2 convs (no bias) + two BNs (weight, bias)
    blocks = 5 * (2 * h * h * 9 + 2 * 2 * h)  # two 3x3 convs + two BNs per block
    assert sum(p.numel() for p in net.parameters()) == stem + blocks == 5_884_000
    assert (net.depth, net.width) == (5, 250)


@pytest.mark.parametrize("bad", ["RES-0-10", "RES-3", "resnet", "RES-3-0", ""])
def test_bad_arch_string_names_the_format(bad):
    with pytest.raises(ConfigError, match="RES-L-H"):
        build_backbone(bad)


def test_bad_inputs_are_named():
    net = ResLH(1, 4)
    with pytest.raises(ValueError, match="float"):
        net(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 3, S, S\)"):
        net(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="depth"):
        ResLH(0, 4)
