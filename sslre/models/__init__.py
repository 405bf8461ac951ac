"""Models: the RES-L-H SSL backbone, its projection head, and the random-target generators (App. A.2)."""
from sslre.models.heads import ProjectionHead
from sslre.models.resnet18 import ResNet18Cifar
from sslre.models.resnet_lh import ResLH, build_backbone
from sslre.models.vit import ViT

__all__ = ["ProjectionHead", "ResLH", "ResNet18Cifar", "ViT", "build_backbone"]
