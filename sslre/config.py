"""Run configuration: one frozen dataclass.

Every field carries its unit and the paper source it comes from. A ``Config``
travels inside every checkpoint (see :mod:`sslre.checkpoint`), so a result can
always be traced back to exactly what produced it.

The presets of the profiles (``quick``, ``small``, ``medium``, ``full``) live in
:mod:`sslre.profiles`, one module each; :func:`profile_config` and ``PROFILES``
read them from there.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

METHODS = ("vicreg", "simclr", "supervised", "barlowtwins", "byol")
#: ``Config.method`` may also name a plug-in: ``"package.module:ClassName"``, a subclass of
#: :class:`sslre.methods.SSLMethod` (contract in its docstring), importable from ``sys.path``.
PLUGIN_SEPARATOR = ":"
PROFILES_NAMES = ("quick", "small", "medium", "full")
DATASETS = ("synthetic", "cifar10", "cifar100", "food101", "cifar10-jpeg")
_ARCH_RE = re.compile(r"^RES-(\d+)-(\d+)$")

from sslre.schedule import PAPER_EPOCHS, checkpoint_schedule  # noqa: E402 - re-exported: one place for the epochs


class ConfigError(ValueError):
    """A configuration value or key is not allowed; the message names it and the allowed values."""


def parse_arch(arch: str) -> tuple[int, int]:
    """``"RES-L-H"`` -> ``(L, H)``: L residual blocks of width H (App. A.2).

    >>> parse_arch("RES-5-250")
    (5, 250)
    """
    m = _ARCH_RE.match(arch or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(
            f"arch {arch!r} is not of the form RES-L-H with L >= 1 blocks and H >= 1 channels "
            "(e.g. RES-5-250, RES-10-250; App. A.2)"
        )
    return int(m.group(1)), int(m.group(2))


def scale_epochs(epochs: int, paper_epochs: tuple[int, ...] = PAPER_EPOCHS) -> tuple[int, ...]:
    """The paper's checkpoint epochs scaled from 1000 to ``epochs`` (always with 0 and the last).

    >>> scale_epochs(10)
    (0, 1, 4, 10)
    """
    scaled = {0, epochs}
    for e in paper_epochs:
        scaled.add(max(1, round(e * epochs / paper_epochs[-1])) if e else 0)
    return tuple(sorted(x for x in scaled if 0 <= x <= epochs))


@dataclass(frozen=True)
class Config:
    """Everything that determines a training run. Units and sources in the comments."""

    # --- what is trained -------------------------------------------------------------------
    profile: str = "full"                 # preset this config came from: quick | small | medium | full
    # vicreg | simclr | supervised (Sec. 2.1, Fig. 3 right) | barlowtwins | byol | package.module:ClassName (plug-in)
    method: str = "vicreg"
    arch: str = "RES-5-250"               # RES-L-H backbone (App. A.2); Sec. 4 uses RES-5-250 and RES-10-250
    proj_hidden: int = 1024               # projection MLP hidden width, units (App. A.2: "two-layer MLP"; width not given)
    proj_out: int = 1024                  # projection output dim, units (not given in the paper)
    # --- data ------------------------------------------------------------------------------
    dataset: str = "cifar100"             # Sec. 3: CIFAR-100; App. B.2: CIFAR-10, Food-101
    data_root: str = ""                   # where torchvision datasets live; "" = $SSLRE_DATA or ~/.cache/sslre/data
    train_subset: int = 0                 # images of the train split used (0 = all), chosen by seed 0 per class
    test_subset: int = 0                  # images of the test split used (0 = all)
    image_size: int = 32                  # pixels, square (App. A.1: RandomResizedCrop(32))
    synthetic_classes: int = 10           # synthetic set only: classes (grouped in superclasses)
    synthetic_superclasses: int = 2       # synthetic set only: superclasses
    # imagefolder only: file naming each class's superclass (JSON {"superclass": ["class", ...]} or CSV
    # class,superclass; sslre/data/hierarchy.py), for the superclass level (Sec. 3); "" = none: every class its own
    hierarchy: str = ""
    # --- loss ------------------------------------------------------------------------------
    vicreg_lambda: float = 25.0           # invariance weight lambda (Sec. 4, after Bardes et al. 2022)
    vicreg_mu: float = 25.0               # variance weight mu (Sec. 4; App. B.3 varies 5/25/100)
    vicreg_nu: float = 1.0                # covariance weight nu (Sec. 4)
    simclr_temperature: float = 0.5       # tau (Sec. 2.1; value not given; 0.5 is SimCLR's CIFAR setting)
    # Barlow Twins (Zbontar et al. 2021) and BYOL (Grill et al. 2020); projector widths are proj_hidden / proj_out
    # (solo-learn CIFAR: Barlow 2048-2048, BYOL 4096-256).
    barlow_lambda: float = 0.0051         # off-diagonal weight lambda (paper Sec. 4; solo-learn cifar/barlow.yaml lamb)
    barlow_scale: float = 0.1             # factor on the whole loss (solo-learn cifar/barlow.yaml scale_loss; paper: 1)
    byol_tau_base: float = 0.99           # target EMA momentum at step 0 (solo-learn cifar/byol.yaml base_tau; paper 0.996)
    byol_tau_end: float = 1.0             # momentum at the last step, cosine from base (solo-learn final_tau; paper Sec. 3.2)
    byol_pred_hidden: int = 4096          # predictor hidden width, units (paper Sec. 3.3; solo-learn pred_hidden_dim)
    autoaugment: bool = False             # supervised only: AutoAugment CIFAR-10 policy (App. A.1, Fig. 3 right)
    supervised_augment: str = "crop-flip"  # supervised only: crop-flip (pad-4 crop + flip) | none (Fig. 3 right "without augmentation")
    # --- optimisation (App. A.3) ---------------------------------------------------------
    epochs: int = 1000                    # epochs (App. A.3)
    batch_size: int = 256                 # images per step (App. A.3)
    lr: float = 0.002                     # SGD learning rate (App. A.3)
    momentum: float = 0.9                 # SGD momentum (App. A.3)
    weight_decay: float = 1e-6            # SGD weight decay (App. A.3)
    optimizer: str = "sgd"                # sgd (App. A.3, SSL) | adam (App. A.3, random-target generators)
    warmup_epochs: int = 0                # linear lr warm-up epochs before cosine (paper: none)
    checkpoint_epochs: tuple[int, ...] = PAPER_EPOCHS  # epochs whose checkpoint is kept (Figs. 5, 7, 11, 12)
    # --- execution -------------------------------------------------------------------------
    seed: int = 0                         # seeds data order, augmentations and init
    device: str = "auto"                  # auto | cpu | cuda
    num_threads: int = 0                  # torch CPU threads (0 = all cores)
    amp: bool = False                     # bf16 autocast on CUDA (never changes the CPU path)
    # bf16 autocast of the model on CPU (AMX / AVX512-BF16; the augmentation stays float32). Opt-in, off in every
    # profile: faster, but its quality was not shown equal to float32 (docs/PERFORMANCE.md).
    cpu_amp: bool = False
    channels_last: bool = False           # memory format for convolutions
    compile: bool = False                 # torch.compile the model (CUDA)

    def __post_init__(self) -> None:
        _check_types(self)
        _check_ranges(self)
        _check_choice("profile", self.profile, PROFILES_NAMES)
        _check_method(self.method)
        _check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))
        _check_choice("supervised_augment", self.supervised_augment, ("crop-flip", "none"))
        if self.autoaugment and self.supervised_augment == "none":
            raise ConfigError("autoaugment=true needs supervised_augment='crop-flip' (AutoAugment goes on top of it)")
        if not (self.dataset in DATASETS or self.dataset.startswith("imagefolder:")):
            raise ConfigError(
                f"dataset {self.dataset!r} is unknown; allowed: {', '.join(DATASETS)} or imagefolder:<path>"
            )
        if self.hierarchy and not self.dataset.startswith("imagefolder:"):
            raise ConfigError(f"hierarchy {self.hierarchy!r} is for imagefolder:<path> datasets only; dataset "
                              f"{self.dataset!r} has its own superclasses (leave hierarchy empty)")
        parse_arch(self.arch)
        if not self.byol_tau_base <= self.byol_tau_end <= 1:
            raise ConfigError(f"byol momentum must rise within [0, 1]: byol_tau_base={self.byol_tau_base} <= "
                              f"byol_tau_end={self.byol_tau_end} <= 1 does not hold")
        for name in ("epochs", "batch_size", "image_size", "proj_hidden", "proj_out", "byol_pred_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2 and self.method != "supervised":
            raise ConfigError("batch_size must be >= 2 for SSL methods (variance/negatives need a batch)")
        if not isinstance(self.checkpoint_epochs, tuple):
            object.__setattr__(self, "checkpoint_epochs", tuple(self.checkpoint_epochs))
        bad = [e for e in self.checkpoint_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ConfigError(f"checkpoint_epochs {bad} lie outside 0..epochs={self.epochs}")

    @property
    def depth(self) -> int:
        return parse_arch(self.arch)[0]

    @property
    def width(self) -> int:
        return parse_arch(self.arch)[1]

    @property
    def has_hierarchy(self) -> bool:
        """Whether this config's data has a superclass level that groups classes (without loading the data).

        ``False`` for an ``imagefolder:`` dataset without a ``hierarchy`` file and for a synthetic set with as
        many superclasses as classes; the same answer as ``ImageSet.has_hierarchy`` of the loaded data.
        """
        if self.dataset.startswith("imagefolder:"):
            return bool(self.hierarchy)
        if self.dataset == "synthetic":
            return self.synthetic_superclasses < self.synthetic_classes
        return True

    def replace(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied; unknown keys raise :class:`ConfigError`."""
        _check_keys(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["checkpoint_epochs"] = list(self.checkpoint_epochs)
        return d

    def changed(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields at their default: a cache key that adding a field keeps valid.

        >>> Config(seed=3, arch="RES-5-250").changed()
        {'seed': 3}
        """
        defaults = Config().to_dict()
        return {k: v for k, v in self.to_dict().items() if v != defaults[k]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError` naming them."""
        _check_keys(d)
        d = dict(d)
        if "checkpoint_epochs" in d:
            d["checkpoint_epochs"] = tuple(d["checkpoint_epochs"])
        return cls(**d)


def field_kind(name: str) -> str:
    """The value kind of Config field ``name``: ``bool``, ``int``, ``float``, ``str`` or ``tuple`` (of ints)."""
    annotation = str(next(f.type for f in dataclasses.fields(Config) if f.name == name))
    return "tuple" if annotation.startswith("tuple") else annotation


def _check_types(config: "Config") -> None:
    """Every field holds its kind (an int where a float is expected becomes that float; bools are not numbers)."""
    import math

    for f in dataclasses.fields(config):
        value, kind = getattr(config, f.name), field_kind(f.name)
        if kind == "tuple":
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise ConfigError(f"{f.name} must be a list of integers, got {value!r}")
            value = tuple(value)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"{f.name} must be a list of integers, got {list(value)!r}")
            object.__setattr__(config, f.name, value)
        elif kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{f.name} must be true or false, got {value!r}")
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{f.name} must be an integer, got {value!r}")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
            object.__setattr__(config, f.name, float(value))
        elif kind == "str" and not isinstance(value, str):
            raise ConfigError(f"{f.name} must be a string, got {value!r}")


# Lower bounds of the numeric fields: (bound, strict). Values outside make no sense or crash deep in training.
_RANGES = {
    "lr": (0, True), "simclr_temperature": (0, True), "momentum": (0, False), "weight_decay": (0, False),
    "vicreg_lambda": (0, False), "vicreg_mu": (0, False), "vicreg_nu": (0, False),
    "barlow_lambda": (0, False), "barlow_scale": (0, True), "byol_tau_base": (0, False),
    "num_threads": (0, False), "warmup_epochs": (0, False), "train_subset": (0, False), "test_subset": (0, False),
    "seed": (0, False), "synthetic_classes": (2, False), "synthetic_superclasses": (1, False),
}


def _check_ranges(config: "Config") -> None:
    for name, (bound, strict) in _RANGES.items():
        value = getattr(config, name)
        if value < bound or (strict and value == bound):
            raise ConfigError(f"{name} must be {'>' if strict else '>='} {bound}, got {value}")
    if config.momentum >= 1:
        raise ConfigError(f"momentum must be < 1, got {config.momentum}")


def _check_choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} {value!r} is not allowed; allowed values: {', '.join(map(str, allowed))}")


def _check_method(value: str) -> None:
    """A built-in method name, or a plug-in ``package.module:ClassName`` that imports and subclasses SSLMethod."""
    if isinstance(value, str) and PLUGIN_SEPARATOR in value:
        from sslre.methods import method_class  # lazy: sslre.methods imports this module

        method_class(value)  # ConfigError naming the problem (module, class, base class)
    elif value not in METHODS:
        raise ConfigError(f"method {value!r} is not allowed; allowed values: {', '.join(METHODS)}, or a plug-in "
                          "'package.module:ClassName' (a subclass of sslre.methods.SSLMethod)")


def absolute_data_paths(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (Config fields) with the path of an ``imagefolder:<path>`` dataset and of a ``hierarchy`` file made
    absolute (``~`` expanded), as typed relative to the current folder: a run's ``config.json`` then names the same
    files from any working directory (``sslre reproduce`` decides the claims in the repository root). Other fields
    and datasets are returned as they are.

    >>> absolute_data_paths({"dataset": "cifar10", "seed": 1})
    {'dataset': 'cifar10', 'seed': 1}
    """
    from pathlib import Path

    out = dict(data)
    dataset, hierarchy = out.get("dataset"), out.get("hierarchy")
    if isinstance(dataset, str) and dataset.startswith("imagefolder:") and dataset.split(":", 1)[1]:
        out["dataset"] = "imagefolder:" + str(Path(dataset.split(":", 1)[1]).expanduser().resolve())
    if isinstance(hierarchy, str) and hierarchy:
        out["hierarchy"] = str(Path(hierarchy).expanduser().resolve())
    return out


def _check_keys(d: Mapping[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; allowed keys: {', '.join(sorted(known))}")


def __getattr__(name: str) -> Any:
    """``PROFILES``: ``{profile: its training preset}``, read from :mod:`sslre.profiles` (one module per profile)."""
    if name == "PROFILES":
        from sslre.profiles import profile

        return {p: profile(p).config for p in PROFILES_NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def profile_config(profile: str, **overrides: Any) -> Config:
    """The preset for ``profile`` with ``overrides`` applied (unknown keys raise :class:`ConfigError`).

    Changing ``epochs`` or ``warmup_epochs`` remaps the checkpoint schedule (:func:`sslre.schedule.checkpoint_schedule`)
    unless ``checkpoint_epochs`` is given too.
    """
    from sslre.profiles import profile as get_profile

    _check_choice("profile", profile, PROFILES_NAMES)
    prof = get_profile(profile)
    base = prof.config
    if isinstance(overrides.get("method"), str):   # the method's recipe at this profile; explicit overrides win
        overrides = {**prof.method_overrides(overrides["method"]), **overrides}
    if ("epochs" in overrides or "warmup_epochs" in overrides) and "checkpoint_epochs" not in overrides:
        e, w = overrides.get("epochs", base.epochs), overrides.get("warmup_epochs", base.warmup_epochs)
        if isinstance(e, int) and isinstance(w, int) and e >= 1 and w >= 0:   # else Config names the bad value
            overrides["checkpoint_epochs"] = checkpoint_schedule(e, w)
    return base.replace(**overrides)
