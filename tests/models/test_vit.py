import pytest
import torch

from sslre.models.vit import ViT


def test_default_is_paper_size_and_shapes():
    net = ViT(10)
    assert len(net.encoder.layers) == 10
    assert net.encoder.layers[0].self_attn.num_heads == 8
    assert net.dim == 384
    assert net.pos_embed.shape == (1, 65, 384)  # 8x8 patches + class token


def test_small_vit_output_shape_and_class_token_matters():
    torch.manual_seed(0)
    net = ViT(3, depth=2, heads=2, dim=16).eval()
    x = torch.randn(4, 3, 32, 32)
    out = net(x)
    assert out.shape == (4, 3)
    with torch.no_grad():
        net.cls_token.add_(1.0)
    assert not torch.allclose(net(x), out)


def test_bad_configs_and_inputs():
    with pytest.raises(ValueError, match="divisible by heads"):
        ViT(3, dim=10, heads=3)
    with pytest.raises(ValueError, match="32, 32"):
        ViT(3, depth=1, heads=2, dim=8)(torch.randn(1, 3, 16, 16))
