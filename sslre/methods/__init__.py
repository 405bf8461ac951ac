"""SSL methods (VICReg, SimCLR, Barlow Twins, BYOL), the supervised baseline, and plug-ins as one interface.

:func:`build_method` turns a :class:`~sslre.config.Config` into an :class:`SSLMethod`: an ``nn.Module`` holding
``.backbone`` (RES-L-H) and ``.head`` (projection MLP, or linear classifier for ``supervised``), whose
:meth:`SSLMethod.step` makes the views from a uint8 batch, runs the model and returns the loss terms.
``Config.method`` is a built-in name or a plug-in ``"package.module:ClassName"`` (:func:`method_class`; the
contract is in :class:`SSLMethod`'s docstring).
:func:`build_classifier` builds the supervised random-target generators of Sec. 5 / App. B.5.
"""
from __future__ import annotations

import copy
import importlib
import math
from typing import Optional

import torch
from torch import Tensor, nn

from sslre.config import PLUGIN_SEPARATOR, Config, ConfigError
from sslre.methods.barlowtwins import barlow_twins_loss
from sslre.methods.byol import byol_loss
from sslre.methods.simclr import simclr_loss
from sslre.methods.supervised import LinearClassifierHead, ResLHClassifier, supervised_loss
from sslre.methods.vicreg import vicreg_loss
from sslre.models.heads import ProjectionHead
from sslre.models.resnet_lh import ResLH, build_backbone

#: Keys every :meth:`SSLMethod.step` returns (NaN where a term does not exist for the method).
STEP_KEYS = ("loss_total", "loss_invariance", "loss_regularization", "loss_variance", "loss_covariance", "accuracy")
#: The split loss terms a method may have (``loss_<term>`` in :data:`STEP_KEYS`); see ``SSLMethod.loss_terms``.
LOSS_TERMS = ("invariance", "regularization", "variance", "covariance")


class SSLMethod(nn.Module):
    """Backbone + head + loss for one training method; the base class of built-in and plug-in methods.

    Attributes:
        backbone: :class:`~sslre.models.resnet_lh.ResLH`, the network whose layers are analysed.
        head: projection MLP (SSL) or linear classifier (supervised); discarded for analysis.
        config: the Config it was built from.
        memory_format: applied to the views before the backbone (``torch.channels_last`` on CUDA if asked).
        loss_terms: class attribute, the split terms the method's loss has, a subset of :data:`LOSS_TERMS`
            (Sec. 2.1: loss = invariance + regularization; VICReg splits the regularization into variance +
            covariance). ``loss_total`` always exists. A term *not* listed does not exist for the method: its
            ``loss_<term>`` is NaN in every step (``null`` in ``history.jsonl``), never 0, and a claim that needs
            the term is not applicable to the method. VICReg: all four; SimCLR and Barlow Twins: invariance and
            regularization; BYOL: invariance only; supervised: none.
        total_steps: the run's optimizer steps (``epochs x steps per epoch``), set by :func:`sslre.train.train`
            before the first step; ``None`` outside training. For step-dependent schedules (BYOL's momentum).

    **Plug-in contract** (``Config.method = "package.module:ClassName"``, ``sslre train --method
    package.module:ClassName``): the module must be importable (installed or on ``PYTHONPATH``) and the class a
    subclass of ``SSLMethod`` -- usually of :class:`TwoViewMethod`, which makes two App. A.1 views per image, runs
    both through ``backbone`` + ``head`` and calls ``loss(z1, z2)`` on the ``(B, proj_out)`` projections, so a
    plug-in only writes ``loss``. The class path is stored in the config, hence in every checkpoint, and
    :func:`sslre.checkpoint.load_checkpoint` imports it again to rebuild the model.

    - Construction: ``cls.build(config, backbone, num_classes=None)`` (a classmethod); the default builds
      ``head = ProjectionHead(backbone.embed_dim, config.proj_hidden, config.proj_out)`` and calls
      ``cls(config, backbone, head)``. Override ``build`` for another head or extra modules. Weights come from
      torch's global RNG, seeded from ``config.seed`` by the trainer. ``num_classes`` is ``None`` for everything
      but ``supervised``.
    - ``step(images, labels, generator) -> dict``: ``images`` ``(B, 3, H, W)`` uint8 on the training device,
      ``labels`` ``(B,)`` int64 (SSL methods ignore them), ``generator`` a CPU ``torch.Generator`` that must
      drive every random choice (so a step is a deterministic function of weights, batch and generator state).
      Returns scalar tensors under every key of :data:`STEP_KEYS`; ``loss_total`` carries the gradient; keys of
      terms the method lacks are NaN (:func:`step_dict` fills them from ``loss_terms``-named entries).
    - Any state besides parameters and buffers that training changes (a step counter, a queue) must live in
      ``state_dict`` (buffers or ``get_extra_state`` returning a tensor), so that checkpoints hold it and a
      resumed run continues bitwise. Parameters with ``requires_grad=False`` are not trained (no gradient).
    - Measurements use ``backbone`` (the module's ``forward``).
    """

    name = "base"
    loss_terms: tuple[str, ...] = ()
    total_steps: Optional[int] = None

    def __init__(self, config: Config, backbone: ResLH, head: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.head = head
        self.memory_format = torch.contiguous_format

    @classmethod
    def build(cls, config: Config, backbone: ResLH, num_classes: Optional[int] = None) -> "SSLMethod":
        """The method around ``backbone`` with ``ProjectionHead(H, proj_hidden, proj_out)`` as head (the contract's
        default constructor; subclasses with other heads override it)."""
        return cls(config, backbone, ProjectionHead(backbone.embed_dim, config.proj_hidden, config.proj_out))

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


def step_dict(terms: dict[str, Tensor], like: Tensor) -> dict[str, Tensor]:
    """The :data:`STEP_KEYS` dict from a loss function's terms (``total``, ``invariance``, ``regularization``,
    ``variance``, ``covariance``, ``accuracy``; scalars): ``loss_<term>`` for each, NaN (on ``like``'s device) for
    each term absent."""
    out = {}
    for key in STEP_KEYS:
        term = key[len("loss_"):] if key.startswith("loss_") else key
        out[key] = terms[term] if term in terms else _nan(like)
    return out


class TwoViewMethod(SSLMethod):
    """Shared two-view logic: two independent augmentations per image, each view through the same network.

    The documented base for two-view plug-ins: :meth:`step` draws two App. A.1 views ``(B, 3, S, S)`` from the
    generator, embeds each with ``head(backbone(view))`` in its own forward (BatchNorm sees each view's batch on
    its own) and returns ``self.loss(z1, z2)``, ``z1, z2`` of shape ``(B, D)``. A subclass implements ``loss``
    returning the :data:`STEP_KEYS` dict, e.g. ``step_dict({"invariance": inv, "total": inv}, z1)``, and sets
    ``loss_terms`` to the terms it returns.
    """

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


#: Former private name of :class:`TwoViewMethod`.
_TwoViewMethod = TwoViewMethod


class VICRegMethod(TwoViewMethod):
    """VICReg (Sec. 2.1, Eq. 1): :func:`~sslre.methods.vicreg.vicreg_loss` on the two views' projections."""

    name = "vicreg"
    loss_terms = ("invariance", "regularization", "variance", "covariance")

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        from sslre.distributed import gather_cat

        c = self.config
        # gather_cat is the identity in one process and the gradient-preserving all-gather under DDP.
        t = vicreg_loss(z1, z2, lam=c.vicreg_lambda, mu=c.vicreg_mu, nu=c.vicreg_nu, gather=gather_cat)
        return step_dict(t, z1)


class SimCLRMethod(TwoViewMethod):
    """SimCLR (Sec. 2.1): NT-Xent split by :func:`~sslre.methods.simclr.simclr_loss`."""

    name = "simclr"
    loss_terms = ("invariance", "regularization")

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        from sslre.distributed import gather_cat, rank

        # Negatives from the global batch under DDP (identity in one process).
        t = simclr_loss(z1, z2, temperature=self.config.simclr_temperature, gather=gather_cat, rank=rank())
        return step_dict(t, z1)


class SupervisedMethod(SSLMethod):
    """Cross-entropy on one view per image: random crop + flip (optionally AutoAugment), or the image itself."""

    name = "supervised"
    loss_terms = ()

    @classmethod
    def build(cls, config: Config, backbone: ResLH, num_classes: Optional[int] = None) -> "SupervisedMethod":
        """Linear classifier head ``(B, H) -> (B, num_classes)``; ``num_classes`` is the dataset's class count."""
        if num_classes is None:
            raise ConfigError("method 'supervised' needs num_classes (the dataset's number of classes)")
        return cls(config, backbone, LinearClassifierHead(backbone.embed_dim, int(num_classes)))

    def step(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        from sslre.data.augment import batch_supervised_augment, normalize

        self._check_batch(images, labels)
        if self.config.supervised_augment == "none":
            x = normalize(images)  # (B, 3, H, W) float32; Fig. 3 right "without augmentation": no crop, no flip
        else:
            x = batch_supervised_augment(images, generator, autoaugment=self.config.autoaugment)  # (B, 3, H, W)
        t = supervised_loss(self._embed(x), labels.to(images.device))
        return step_dict(t, t["total"])


class BarlowTwinsMethod(TwoViewMethod):
    """Barlow Twins (Zbontar et al. 2021): :func:`~sslre.methods.barlowtwins.barlow_twins_loss` on the projections.

    Head: lightly's ``BarlowTwinsProjectionHead(H, proj_hidden, proj_out)``, three Linear layers, the first two
    followed by BatchNorm + ReLU (paper Sec. 4: 8192-8192-8192 on ImageNet; solo-learn CIFAR: 2048-2048).
    Loss weights: ``barlow_lambda`` (off-diagonal) and ``barlow_scale`` (whole loss).
    """

    name = "barlowtwins"
    loss_terms = ("invariance", "regularization")

    @classmethod
    def build(cls, config: Config, backbone: ResLH, num_classes: Optional[int] = None) -> "BarlowTwinsMethod":
        from lightly.models.modules.heads import BarlowTwinsProjectionHead

        return cls(config, backbone, BarlowTwinsProjectionHead(backbone.embed_dim, config.proj_hidden, config.proj_out))

    def loss(self, z1: Tensor, z2: Tensor) -> dict[str, Tensor]:
        from sslre.distributed import gather_cat

        c = self.config
        # Cross-correlation over the global batch under DDP (identity in one process), as VICReg's statistics.
        t = barlow_twins_loss(z1, z2, lam=c.barlow_lambda, scale=c.barlow_scale, gather=gather_cat)
        return step_dict(t, z1)


class BYOLMethod(TwoViewMethod):
    """BYOL (Grill et al. 2020; :mod:`sslre.methods.byol`): online backbone + projection head + predictor, and a
    momentum (EMA) copy of backbone + projection head as the target.

    Modules: ``backbone``, ``head`` (lightly ``BYOLProjectionHead(H, proj_hidden, proj_out)``), ``predictor``
    (lightly ``BYOLPredictionHead(proj_out, byol_pred_hidden, proj_out)``), ``target_backbone`` and
    ``target_head`` (deep copies at init, ``requires_grad=False``, updated only by :meth:`update_target`). All
    are in ``state_dict`` -- checkpoints hold the target -- and so is the momentum step counter (extra state),
    so a resumed run continues the momentum schedule bitwise. Measurements use the online ``backbone``.

    Each training step (grad enabled, train mode) first moves the target towards the online network with
    ``tau_k = cosine_schedule(k, total_steps, byol_tau_base, byol_tau_end)``, k = optimizer steps so far, then
    computes :func:`~sslre.methods.byol.byol_loss`. A step under ``torch.no_grad`` (the epoch-0 measurement)
    leaves the target and the counter alone.
    """

    name = "byol"
    loss_terms = ("invariance",)

    def __init__(self, config: Config, backbone: ResLH, head: nn.Module, predictor: nn.Module) -> None:
        from lightly.models.utils import deactivate_requires_grad

        super().__init__(config, backbone, head)
        self.predictor = predictor
        self.target_backbone = copy.deepcopy(backbone)
        self.target_head = copy.deepcopy(head)
        deactivate_requires_grad(self.target_backbone)
        deactivate_requires_grad(self.target_head)
        self.target_step = 0  # momentum updates done = optimizer steps taken (checkpointed as extra state)

    @classmethod
    def build(cls, config: Config, backbone: ResLH, num_classes: Optional[int] = None) -> "BYOLMethod":
        from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead

        head = BYOLProjectionHead(backbone.embed_dim, config.proj_hidden, config.proj_out)
        predictor = BYOLPredictionHead(config.proj_out, config.byol_pred_hidden, config.proj_out)
        return cls(config, backbone, head, predictor)

    def get_extra_state(self) -> Tensor:
        return torch.tensor(self.target_step, dtype=torch.int64)

    def set_extra_state(self, state: Tensor) -> None:
        self.target_step = int(state)

    def momentum(self, step: int) -> float:
        """tau at optimizer step ``step``: ``byol_tau_base`` at 0, cosine up to ``byol_tau_end`` at the last step."""
        from lightly.utils.scheduler import cosine_schedule

        if self.total_steps is None:
            raise RuntimeError("BYOL's momentum schedule needs total_steps (the run's optimizer steps); "
                               "sslre.train.train sets it before training")
        return cosine_schedule(step, self.total_steps, self.config.byol_tau_base, self.config.byol_tau_end)

    @torch.no_grad()
    def update_target(self) -> float:
        """``theta_t <- tau theta_t + (1 - tau) theta`` for backbone and head; advances the step; returns tau."""
        from lightly.models.utils import update_momentum

        tau = self.momentum(self.target_step)
        update_momentum(self.backbone, self.target_backbone, m=tau)
        update_momentum(self.head, self.target_head, m=tau)
        self.target_step += 1
        return tau

    def _embed_target(self, views: Tensor) -> Tensor:
        return self.target_head(self.target_backbone(views.contiguous(memory_format=self.memory_format)))

    def step(self, images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        self._check_batch(images, labels)
        if self.training and torch.is_grad_enabled():
            self.update_target()
        v1, v2 = self.views(images, generator)
        p1, p2 = self.predictor(self._embed(v1)), self.predictor(self._embed(v2))  # (B, proj_out) each
        with torch.no_grad():
            t1, t2 = self._embed_target(v1), self._embed_target(v2)  # (B, proj_out) each, no gradient
        return step_dict(byol_loss(p1, p2, t1, t2), p1)


#: Built-in ``Config.method`` names and their classes.
BUILTIN_METHODS: dict[str, type[SSLMethod]] = {
    "vicreg": VICRegMethod, "simclr": SimCLRMethod, "supervised": SupervisedMethod,
    "barlowtwins": BarlowTwinsMethod, "byol": BYOLMethod,
}


def method_class(spec: str) -> type[SSLMethod]:
    """The class for ``Config.method``: a built-in name, or a plug-in ``"package.module:ClassName"``.

    Raises :class:`~sslre.config.ConfigError` (one line, naming the problem) when the spec is malformed, the
    module does not import, it has no such attribute, the attribute is not a subclass of :class:`SSLMethod`, or
    its ``loss_terms`` names a term outside :data:`LOSS_TERMS`.
    """
    if spec in BUILTIN_METHODS:
        return BUILTIN_METHODS[spec]
    module_name, sep, class_name = str(spec).partition(PLUGIN_SEPARATOR)
    if not sep or not module_name or not class_name.isidentifier():
        raise ConfigError(f"method {spec!r} is neither a built-in ({', '.join(BUILTIN_METHODS)}) nor a plug-in of the "
                          "form 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure of the user's module is a config problem, said in one line
        detail = " ".join(str(e).split())[:200] or "no detail"
        raise ConfigError(f"method {spec!r}: module {module_name!r} cannot be imported ({type(e).__name__}: "
                          f"{detail}); is it installed or on PYTHONPATH?") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"method {spec!r}: module {module_name!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, SSLMethod)):
        what = f"class {cls.__qualname__}" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise ConfigError(f"method {spec!r}: {class_name!r} is {what}, not a subclass of sslre.methods.SSLMethod")
    bad = [t for t in cls.loss_terms if t not in LOSS_TERMS]
    if bad:
        raise ConfigError(f"method {spec!r}: loss_terms {bad} are not among {', '.join(LOSS_TERMS)}")
    return cls


def build_method(config: Config, num_classes: int | None = None) -> SSLMethod:
    """The :class:`SSLMethod` for ``config.method`` with a RES-L-H backbone of ``config.arch``.

    The backbone is built first, then ``method_class(config.method).build(config, backbone, num_classes)`` adds
    the head (``ProjectionHead(H, proj_hidden, proj_out)`` unless the method builds another); ``supervised``
    gets a linear classifier and needs ``num_classes`` (the dataset's class count). Weights are initialised from
    torch's global RNG: seed it first (:func:`sslre.train.train` does, from ``config.seed``).
    """
    cls = method_class(config.method)
    backbone = build_backbone(config.arch)
    return cls.build(config, backbone, num_classes=num_classes)


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
    "BUILTIN_METHODS", "CLASSIFIER_KINDS", "LOSS_TERMS", "STEP_KEYS", "BYOLMethod", "BarlowTwinsMethod",
    "SSLMethod", "SimCLRMethod", "SupervisedMethod", "TwoViewMethod", "VICRegMethod", "barlow_twins_loss",
    "build_classifier", "build_method", "byol_loss", "method_class", "simclr_loss", "step_dict",
    "supervised_loss", "vicreg_loss",
]
