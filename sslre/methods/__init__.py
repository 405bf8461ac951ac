"""SSL methods (VICReg, SimCLR) and the supervised baseline as one interface for the training loop.

:func:`build_method` turns a :class:`~sslre.config.Config` into an :class:`SSLMethod`: an ``nn.Module`` holding
``.backbone`` (RES-L-H) and ``.head`` (projection MLP, or linear classifier for ``supervised``), whose
:meth:`SSLMethod.step` makes the views from a uint8 batch, runs the model and returns the loss terms.
:func:`build_classifier` builds the supervised random-target generators of Sec. 5 / App. B.5.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sslre.config import Config, ConfigError
from sslre.methods.simclr import simclr_loss
from sslre.methods.supervised import LinearClassifierHead, ResLHClassifier, supervised_loss
from sslre.methods.vicreg import vicreg_loss
from sslre.models.heads import ProjectionHead
from sslre.models.resnet_lh import ResLH, build_backbone

#: Keys every :meth:`SSLMethod.step` returns (NaN where a term does not exist for the method).
STEP_KEYS = ("loss_total", "loss_invariance", "loss_regularization", "loss_variance", "loss_covariance", "accuracy")


class SSLMethod(nn.Module):
    """Backbone + head + loss for one training method.

    Attributes:
        backbone: :class:`~sslre.models.resnet_lh.ResLH`, the network whose layers are analysed.
        head: projection MLP (SSL) or linear classifier (supervised); discarded for analysis.
        config: the Config it was built from.
        memory_format: applied to the views before the backbone (``torch.channels_last`` on CUDA if asked).
    """

    name = "base"

    def __init__(self, config: Config, backbone: ResLH, head: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.head = head
        self.memory_format = torch.contiguous_format

    def forward(self, x: Tensor) -> Tensor:
        """Backbone embedding ``(B, 3, S, S) -> (B, H)`` (the representation that is analysed)."""
        return self.backbone(x)

    def _embed(self, views: Tensor) -> Tensor:
        return self.head(self.backbone(views.contiguous(memory_format=self.memory_format)))

    def step(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """One training step's forward: views from ``images`` (``(B, 3, H, W)`` uint8), model, loss terms.

        ``generator`` drives every random choice of the augmentation, so a step is a deterministic function of
        (weights, batch, generator state). Returns scalar tensors under :data:`STEP_KEYS`; ``loss_total``
        carries the gradient.
        """
        raise NotImplementedError

    @staticmethod
    def _check_batch(images: Tensor, labels: Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"step expects a uint8 batch (B, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must be (B,) = ({images.shape[0]},), got {tuple(labels.shape)}")


def _nan(like: Tensor) -> Tensor:
    return torch.full((), math.nan, device=like.device)


class _TwoViewMethod(SSLMethod):
    """Shared two-view logic: two independent augmentations per image, each view through the same network."""

    def __init__(self, config: Config, backbone: ResLH, head: nn.Module) -> None:
        super().__init__(config, backbone, head)
        from sslre.data.augment import BatchSSLAugment

        self.augment = BatchSSLAugment(image_size=config.image_size, normalize=True)

    def views(self, images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Two App. A.1 views of the batch, ``(B, 3, S, S)`` float each, normalized."""
        return self.augment(images, generator), self.augment(images, generator)

    def step(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        self._check_batch(images, labels)
        v1, v2 = self.views(images, generator)
        # Two forward passes (not one on the concatenation): BatchNorm sees each view's batch on its own,
        # as in the original VICReg and SimCLR code.
        z1, z2 = self._embed(v1), self._embed(v2)  # (B, proj_out) each
        return self.loss(z1, z2)

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError


class VICRegMethod(_TwoViewMethod):
    name = "vicreg"

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        from sslre.distributed import gather_cat

        c = self.config
        # gather_cat is the identity in one process and the gradient-preserving all-gather under DDP.
        t = vicreg_loss(z1, z2, lam=c.vicreg_lambda, mu=c.vicreg_mu, nu=c.vicreg_nu, gather=gather_cat)
        return {
            "loss_total": t["total"], "loss_invariance": t["invariance"], "loss_regularization": t["regularization"],
            "loss_variance": t["variance"], "loss_covariance": t["covariance"], "accuracy": _nan(z1),
        }


class SimCLRMethod(_TwoViewMethod):
    name = "simclr"

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        from sslre.distributed import gather_cat, rank

        # Negatives from the global batch under DDP (identity in one process).
        t = simclr_loss(z1, z2, temperature=self.config.simclr_temperature, gather=gather_cat, rank=rank())
        return {
            "loss_total": t["total"], "loss_invariance": t["invariance"], "loss_regularization": t["regularization"],
            "loss_variance": _nan(z1), "loss_covariance": _nan(z1), "accuracy": _nan(z1),
        }


class SupervisedMethod(SSLMethod):
    """Cross-entropy on one view per image: random crop + flip (optionally AutoAugment), or the image itself."""

    name = "supervised"

    def step(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        from sslre.data.augment import batch_supervised_augment, normalize

        self._check_batch(images, labels)
        if self.config.supervised_augment == "none":
            x = normalize(images)  # (B, 3, H, W) float32; Fig. 3 right "without augmentation": no crop, no flip
        else:
            x = batch_supervised_augment(images, generator, autoaugment=self.config.autoaugment)  # (B, 3, H, W)
        t = supervised_loss(self._embed(x), labels.to(images.device))
        nan = _nan(t["total"])
        return {
            "loss_total": t["total"], "loss_invariance": nan, "loss_regularization": nan,
            "loss_variance": nan, "loss_covariance": nan, "accuracy": t["accuracy"],
        }


def build_method(config: Config, num_classes: int | None = None) -> SSLMethod:
    """The :class:`SSLMethod` for ``config.method`` with a RES-L-H backbone of ``config.arch``.

    SSL methods get ``ProjectionHead(H, proj_hidden, proj_out)``; ``supervised`` gets a linear classifier and
    needs ``num_classes`` (the dataset's class count). Weights are initialised from torch's global RNG:
    seed it first (:func:`sslre.train.train` does, from ``config.seed``).
    """
    backbone = build_backbone(config.arch)
    if config.method == "supervised":
        if num_classes is None:
            raise ConfigError("method 'supervised' needs num_classes (the dataset's number of classes)")
        return SupervisedMethod(config, backbone, LinearClassifierHead(backbone.embed_dim, int(num_classes)))
    head = ProjectionHead(backbone.embed_dim, config.proj_hidden, config.proj_out)
    if config.method == "vicreg":
        return VICRegMethod(config, backbone, head)
    if config.method == "simclr":
        return SimCLRMethod(config, backbone, head)
    raise ConfigError(f"method {config.method!r} is unknown; allowed: vicreg, simclr, supervised")  # pragma: no cover


CLASSIFIER_KINDS = ("resnet18", "vit", "reslh")


def build_classifier(kind: str, num_classes: int, arch: str | None = None, **kwargs) -> nn.Module:
    """A supervised classifier ``forward(x) -> (B, num_classes)`` used as a random-target generator (Sec. 5).

    ``kind``: ``"resnet18"`` (:class:`~sslre.models.resnet18.ResNet18Cifar`, kwargs e.g. ``width``),
    ``"vit"`` (:class:`~sslre.models.vit.ViT`, kwargs ``depth``, ``heads``, ``dim``, ``patch_size``,
    ``image_size``), or ``"reslh"`` (RES-L-H + linear head; needs ``arch``).
    """
    if kind == "resnet18":
        from sslre.models.resnet18 import ResNet18Cifar

        return ResNet18Cifar(num_classes, **kwargs)
    if kind == "vit":
        from sslre.models.vit import ViT

        return ViT(num_classes, **kwargs)
    if kind == "reslh":
        if arch is None:
            raise ConfigError("build_classifier('reslh', ...) needs arch, e.g. arch='RES-5-250'")
        return ResLHClassifier(arch, num_classes, **kwargs)
    raise ConfigError(f"classifier kind {kind!r} is unknown; allowed: {', '.join(CLASSIFIER_KINDS)}")


__all__ = [
    "CLASSIFIER_KINDS", "STEP_KEYS", "SSLMethod", "SimCLRMethod", "SupervisedMethod", "VICRegMethod",
    "build_classifier", "build_method", "simclr_loss", "supervised_loss", "vicreg_loss",
]
