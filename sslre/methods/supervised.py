"""Supervised baseline (Sec. 4, Fig. 3 right): RES-L-H backbone + linear classifier, cross-entropy.

Trained with the standard supervised augmentation (random crop + flip), optionally with the AutoAugment CIFAR-10
policy on top (``Config.autoaugment``); the SSL-vs-supervised claim compares NCC accuracies of both against SSL.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def supervised_loss(logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Cross-entropy ``-1/B sum_b log softmax(logits_b)[y_b]`` as ``{"total": ...}``.

    Args:
        logits: ``(B, C)``; labels: ``(B,)`` int64 in ``[0, C)``.

    Returns:
        ``total`` (>= 0, lower is better) and ``accuracy`` (fraction of argmax hits, in [0, 1], no gradient).
    """
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"supervised_loss expects logits (B, C) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got range [{int(labels.min())}, {int(labels.max())}]")
    loss = F.cross_entropy(logits.float(), labels)
    acc = (logits.detach().argmax(dim=1) == labels).float().mean()
    return {"total": loss, "accuracy": acc}


class LinearClassifierHead(nn.Module):
    """The linear classifier put on the pooled RES-L-H output: ``(B, H) -> (B, num_classes)``."""

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"a classifier needs num_classes >= 2, got {num_classes!r}")
        self.in_dim, self.num_classes = in_dim, num_classes
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


class ResLHClassifier(nn.Module):
    """RES-L-H backbone + linear head; ``forward(x) -> (B, num_classes)`` logits."""

    def __init__(self, arch: str, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        from sslre.models.resnet_lh import build_backbone

        self.backbone = build_backbone(arch, in_channels=in_channels)
        self.head = LinearClassifierHead(self.backbone.embed_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))  # (B, num_classes)
