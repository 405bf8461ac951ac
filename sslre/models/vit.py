"""Vision Transformer with a classification token: the second random-target generator (App. A.2, B.5).

App. A.2: 10 layers, 8 attention heads, 384 hidden dimensions, classification through a class token.
Patch size 4 on 32 px images gives 8x8 = 64 patch tokens (+1 class token).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ViT(nn.Module):
    """Pre-norm ViT. ``forward(x)``: ``(B, 3, image_size, image_size)`` -> ``(B, num_classes)`` logits.

    Patch embedding is a ``patch_size``-strided convolution; learned position embeddings; the final LayerNorm'd
    class token goes through a linear classifier. MLP width is ``4 * dim`` (Dosovitskiy et al., 2021).
    """

    def __init__(  # one parameter per ViT hyperparameter of App. A.2
        self,
        num_classes: int,
        depth: int = 10,
        heads: int = 8,
        dim: int = 384,
        patch_size: int = 4,
        image_size: int = 32,
        in_channels: int = 3,
        mlp_ratio: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        if dim % heads:
            raise ValueError(f"ViT dim={dim} must be divisible by heads={heads}")
        if image_size % patch_size:
            raise ValueError(f"ViT image_size={image_size} must be divisible by patch_size={patch_size}")
        self.num_classes, self.image_size, self.patch_size, self.dim = num_classes, image_size, patch_size, dim
        n_patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=dim, nhead=heads, dim_feedforward=mlp_ratio * dim, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        # enable_nested_tensor=False: the fast path is for padded sequences; ours are dense, and it warns with norm_first.
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"ViT expects images (B, C, {self.image_size}, {self.image_size}), got shape {tuple(x.shape)}"
            )
        t = self.patch_embed(x)  # (B, dim, S/p, S/p)
        t = t.flatten(2).transpose(1, 2)  # (B, N, dim) patch tokens, N = (S/p)^2
        cls = self.cls_token.expand(t.shape[0], -1, -1)  # (B, 1, dim)
        t = torch.cat([cls, t], dim=1) + self.pos_embed  # (B, N + 1, dim)
        t = self.encoder(t)  # (B, N + 1, dim)
        return self.head(self.norm(t[:, 0]))  # (B, num_classes) from the class token
