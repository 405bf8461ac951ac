"""Profiles: everything one profile decides, in one :class:`Profile` per profile (one small module each).

A profile holds the training preset (the main run's :class:`~sslre.config.Config`), the seeds of its runs, the
deep / narrow / wide architectures, the supervised arm and the App. B.2 run it trains, and the sizes of what gets
measured (:class:`SampleLevelSettings`, :class:`MeasureSettings`, the random-target generators). The run registry
(:func:`sslre.experiments.runs_for`) turns a profile into named runs; the run names live here, in :class:`Run`.

``quick`` (:mod:`sslre.profiles.quick`), ``small``, ``medium`` and ``full`` (the paper's scale, App. A).
"""
from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from sslre.config import PROFILES_NAMES, Config, ConfigError
from sslre.schedule import checkpoint_schedule

if TYPE_CHECKING:  # pragma: no cover
    from sslre.targets import TargetSettings

#: The random-target generator families (Sec. 5, App. B.5).
GENERATOR_KINDS = ("resnet18", "vit")


class Run:
    """The registry's run names: the only place they are spelled (``docs/ARCHITECTURE.md``, the pipeline contract)."""

    MAIN = "vicreg"                  # VICReg on the profile's base arch (Sec. 3-6)
    DEEP = "vicreg-deep"             # twice the blocks (Sec. 4, Fig. 3 right, Figs. 5, 7)
    MU5 = "vicreg-mu5"               # App. B.3
    MU100 = "vicreg-mu100"           # App. B.3
    NARROW = "vicreg-narrow"         # App. B.1
    WIDE = "vicreg-wide"             # App. B.1
    SIMCLR = "simclr"                # App. B.4
    SUPERVISED = "supervised"        # Fig. 3 right, without augmentation
    SUPERVISED_AA = "supervised-aa"  # Fig. 3 right, AutoAugment
    OTHER = "vicreg-other"           # App. B.2, another dataset
    TARGETS = {"resnet18": "targets-resnet18", "vit": "targets-vit"}  # random-target generators (Sec. 5, App. B.5)


#: Every run name, in registry order.
RUN_NAMES: tuple[str, ...] = (Run.MAIN, Run.DEEP, Run.MU5, Run.MU100, Run.NARROW, Run.WIDE, Run.SIMCLR,
                              Run.SUPERVISED, Run.SUPERVISED_AA, Run.OTHER, *Run.TARGETS.values())


@dataclass(frozen=True)
class SampleLevelSettings:
    """Sec. 3 sample-level set: ``n_images`` train images, each augmented ``n_train_aug`` / ``n_test_aug`` times."""

    n_images: int
    n_train_aug: int
    n_test_aug: int
    seed: int = 0


@dataclass(frozen=True)
class MeasureSettings:
    """What :func:`sslre.measure.measure_run` computes at a profile (so it stays affordable).

    ``mine_seeds``: MINE initialization seeds per checkpoint (paper: 5, Fig. 3 middle); ``mine_images``: how many
    train images MINE sees; ``mine_run_seeds``: which seeds of the ``vicreg`` run get MINE; ``mine_null_seeds``:
    MINE seeds of the shuffled-pairs null, run on each of those training seeds. ``umap_points``: points per level in
    the UMAP figure (Fig. 1: 5 samples / classes / superclasses); ``umap_run_seeds``: which seeds of the ``vicreg``
    run get UMAP. ``probe``: linear probe method (``svc``: the paper's LinearSVC objective, solved exactly in
    torch; ``fast`` = the same at a looser tolerance; see :mod:`sslre.metrics.probe`).
    """

    probe: str = "svc"
    l2_variant: bool = True
    mine_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    mine_null_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    mine_images: int = 10000
    mine_run_seeds: tuple[int, ...] = (0, 1, 2)
    mine_kwargs: tuple[tuple[str, object], ...] = ()
    mine_epochs: str = "all"
    umap_groups: int = 5
    umap_points_per_group: int = 100
    umap_neighbors: int = 15
    umap_run_seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if self.mine_epochs not in ("all", "ends"):
            raise ConfigError(f"mine_epochs must be 'all' or 'ends', got {self.mine_epochs!r}")

    def fingerprint(self) -> dict[str, Any]:
        """The settings as a measurement cache key; a field added later is left out at its default, so the tables
        measured before it was added (the committed small and medium runs) stay valid."""
        out = json.loads(json.dumps(asdict(self), default=str))
        for name, default in _ADDED_AT_DEFAULT.items():
            if out.get(name) == default:
                del out[name]
        return out


#: :class:`MeasureSettings` fields added after tables were published, with their default (left out of the key).
_ADDED_AT_DEFAULT = {"mine_epochs": "all"}


@dataclass(frozen=True)
class Profile:
    """Everything one profile decides. Every run of the registry derives from ``config`` (the main run's preset)."""

    name: str
    config: Config                      # training preset of the main run
    main_seeds: tuple[int, ...]         # seeds of the main run (vicreg)
    seeds: tuple[int, ...]              # seeds of every other run: >= 3 of its own (PROTOCOL.md, no borrowed noise)
    deep: str                           # arch of vicreg-deep and both supervised runs
    narrow: str                         # arch of vicreg-narrow
    wide: str                           # arch of vicreg-wide
    literal_no_augment: bool            # Fig. 3 right's arm "without augmentation": none at all (else crop + flip)
    other_dataset: str | None           # vicreg-other's own dataset; None: the main run already is App. B.2's
    sample_level: SampleLevelSettings
    measure: MeasureSettings
    targets: Mapping[str, "TargetSettings"]  # generator family -> how it is trained
    methods: tuple[str, ...] = ("vicreg",)  # the generality matrix `sslre reproduce` decides by default (--methods)
    # Config fields a method's runs change at this profile (its recipe sized to the profile), on top of ``config``;
    # `sslre train --profile P --method M` and the matrix's M column both use them.
    method_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # The method-generic roles the matrix's other columns train (None: all of them). A role left out leaves the
    # claims that read it inconclusive in those columns, saying why (sslre.claims.plugin: ClaimRecord.require).
    matrix_roles: tuple[str, ...] | None = None

    def trains_role(self, method: str, run: str) -> bool:
        """Whether ``method``'s column of the matrix trains role ``run`` at this profile (VICReg: every role)."""
        return method == "vicreg" or self.matrix_roles is None or run in self.matrix_roles

    def method_overrides(self, method: str) -> dict[str, Any]:
        """The Config fields ``method``'s runs change at this profile (``{}`` for most)."""
        return dict(self.method_settings.get(method, {}))

    def target(self, kind: str) -> "TargetSettings":
        """The settings of generator family ``kind`` (``resnet18`` | ``vit``)."""
        if kind not in self.targets:
            raise ConfigError(f"target generator kind {kind!r} is unknown; allowed: {', '.join(GENERATOR_KINDS)}")
        return self.targets[kind]


def preset(**kw: Any) -> Config:
    """A profile's Config; checkpoints at the paper's epochs mapped by the share of the lr integral
    (:func:`sslre.schedule.checkpoint_schedule`), never in warm-up, unless given."""
    kw.setdefault("checkpoint_epochs", checkpoint_schedule(kw.get("epochs", 1000), kw.get("warmup_epochs", 0)))
    return Config(**kw)


def generators(epochs: int, snapshot_epochs: tuple[int, ...], batch_size: int, lr: float | None,
               **sizes: Any) -> dict[str, "TargetSettings"]:
    """The same schedule for both generator families (``sizes``: ``width`` for ResNet-18, ``vit_*`` for the ViT)."""
    from sslre.targets import TargetSettings  # the one import of TargetSettings here

    return {kind: TargetSettings(kind, epochs, snapshot_epochs, batch_size, lr, **sizes) for kind in GENERATOR_KINDS}


def profile(name: str) -> Profile:
    """The :class:`Profile` called ``name`` (``quick`` | ``small`` | ``medium`` | ``full``)."""
    if name not in PROFILES_NAMES:
        raise ConfigError(f"profile {name!r} is unknown; allowed: {', '.join(PROFILES_NAMES)}")
    return importlib.import_module(f"sslre.profiles.{name}").PROFILE


__all__ = ["GENERATOR_KINDS", "RUN_NAMES", "MeasureSettings", "Profile", "Run", "SampleLevelSettings",
           "generators", "preset", "profile"]
