import pytest
import torch
from torch import nn

from sslre.models.heads import ProjectionHead


def test_two_layer_mlp_layout_and_shape():
    head = ProjectionHead(8, 16, 4)
    kinds = [type(m) for m in head.mlp.layers]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    first, last = head.mlp.layers[0], head.mlp.layers[3]
    assert (first.in_features, first.out_features, first.bias) == (8, 16, None)
    assert (last.in_features, last.out_features) == (16, 4) and last.bias is not None
    assert head(torch.randn(5, 8)).shape == (5, 4)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        ProjectionHead(8, 16, 4)(torch.randn(5, 7))
    with pytest.raises(ValueError, match="hidden_dim"):
        ProjectionHead(8, 0, 4)
