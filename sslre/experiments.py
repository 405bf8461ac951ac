"""The run registry: which training runs each profile's claims read, and how to make them.

One place names every run the claim tests depend on (``docs/ARCHITECTURE.md``, the pipeline contract):

========================  ==========================================  ========================================
run name                  what it is (full profile)                   claims that read it
========================  ==========================================  ========================================
``vicreg``                VICReg RES-5-250, mu=25, lambda=25, nu=1    almost all (Sec. 3-6)
``vicreg-deep``           VICReg RES-10-250                           Sec. 4 NCC, Fig. 3 right, Fig. 5, Fig. 7
``vicreg-mu5/-mu100``     VICReg RES-5-250, mu=5 / mu=100             App. B.3
``vicreg-narrow/-wide``   VICReg RES-5-50 / RES-5-1000                App. B.1 (width)
``simclr``                SimCLR RES-5-250                            App. B.4
``supervised(-aa)``       cross-entropy RES-10-250, +- AutoAugment    Fig. 3 right
``vicreg-other``          VICReg RES-5-250 on CIFAR-10                App. B.2
``targets-resnet18/-vit`` supervised random-target generators          Sec. 5, App. B.5
========================  ==========================================  ========================================

Smaller profiles keep the *structure* (same run names, same relations between runs: deeper = twice the
blocks, narrow/wide = width / 4 and x 4, mu 5/25/100) on the profile's base architecture from
:func:`sslre.config.profile_config`, so every claim's comparison exists at every profile.

Run directories are ``<runs_dir>/<name>-s<seed>/`` as written by :func:`sslre.train.train` (SSL and
supervised runs) or :func:`sslre.targets.train_target_generator` (``targets-*`` runs).

Functions:

- :func:`runs_for` -- ``{name: RunSpec}`` for a profile.
- :func:`target_settings`, :func:`sample_level_settings`, :func:`measure_settings` -- the per-profile sizes.
- :func:`ensure_runs` -- trains what is missing (quick) or raises :class:`MissingRunsError` naming the commands.
- :func:`plan_commands` -- one shell command per (run, seed), for ``sslre plan`` and schedulers.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sslre.config import PROFILES_NAMES, Config, ConfigError, parse_arch, profile_config
from sslre.targets import TargetSettings

log = logging.getLogger(__name__)

#: The catalogue IDs (``../shared/claims-catalogue.md``); the registry test checks every one is served.
CLAIM_IDS = (
    "sample-clusters-first", "sample-neural-collapse", "ncc-linear-ratio", "semantic-gains-not-sample",
    "regularization-drives-learning", "mine-compression", "ssl-vs-supervised-ncc", "randomness-ordering",
    "semantic-vs-random-ratios", "depth-ordering", "mu-ablation", "simclr-like-vicreg", "cnn-targets-aligned",
    "width-and-depth", "other-datasets", "umap-hierarchy",
)

#: Where the real CIFAR-10 JPEG archive is looked for (same order as the data module).
_REPO_ROOT = Path(__file__).resolve().parent.parent


class MissingRunsError(RuntimeError):
    """Runs that the claims need are not trained; ``.commands`` holds the shell commands that make them."""

    def __init__(self, profile: str, runs_dir: Path, missing: list[tuple[str, int]], commands: list[str]):
        self.profile = profile
        self.runs_dir = Path(runs_dir)
        self.missing = missing
        self.commands = commands
        lines = "\n".join(f"  {c}" for c in commands)
        super().__init__(
            f"{len(missing)} run(s) of profile {profile!r} are missing or unfinished under {self.runs_dir} "
            f"({', '.join(f'{n}-s{s}' for n, s in missing)}). The {profile} profile never trains by surprise; "
            f"make them with:\n{lines}\n(or all at once: sslre reproduce --profile {profile} --out reports/{profile} "
            f"--runs-dir {self.runs_dir} after training, or `sslre plan --profile {profile}` for a scheduler)"
        )


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
    umap_groups: int = 5
    umap_points_per_group: int = 100
    umap_neighbors: int = 15
    umap_run_seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class Coverage:
    """Which (layer, level) cells a run measures (pipeline contract, 'Coverage').

    ``all_layers``: every layer at every epoch (else the last layer at every epoch); ``random``: random-target
    levels (last layer x every epoch + every layer x last epoch); ``controls``: the ``*-shuffled`` levels (last
    layer x every epoch + every layer x epoch 0 and the last epoch); ``sample``: the Sec. 3 sample-level set; ``mine``/``umap``: VICReg only.
    """

    all_layers: bool = True
    random: bool = False
    controls: bool = True
    sample: bool = True
    mine: bool = False
    umap: bool = False


@dataclass(frozen=True)
class RunSpec:
    """One named run of the registry: a config per seed, what it is for, what gets measured on it."""

    name: str
    configs: tuple[Config, ...]           # one per seed, same order as ``seeds``
    seeds: tuple[int, ...]
    claims: tuple[str, ...]               # catalogue IDs that read it
    purpose: str
    kind: str = "train"                   # train (sslre.train) | targets (sslre.targets) | alias
    coverage: Coverage = field(default_factory=Coverage)
    target: TargetSettings | None = None  # kind == "targets"
    alias_of: str | None = None           # kind == "alias": the same runs as another name (small's vicreg-other)

    @property
    def config(self) -> Config:
        """The seed-0 (first seed) config."""
        return self.configs[0]

    def config_for(self, seed: int) -> Config:
        try:
            return self.configs[self.seeds.index(seed)]
        except ValueError:
            raise KeyError(f"run {self.name!r} has no seed {seed}; seeds: {list(self.seeds)}") from None

    def run_dir(self, runs_dir: Path | str, seed: int) -> Path:
        return Path(runs_dir) / f"{self.alias_of or self.name}-s{seed}"


# ------------------------------------------------------------------------------------------------------------
# per-profile settings
# ------------------------------------------------------------------------------------------------------------

#: Training seeds of every run a decision reads (claims/PROTOCOL.md: >= 3 per run at every profile, no borrowed
#: noise). The quick profile's main run has 5, so that the recipe check "SSL learns for every seed" has teeth.
_SEEDS = {"quick": (0, 1, 2), "small": (0, 1, 2), "full": (0, 1, 2)}
_MAIN_SEEDS = {"quick": (0, 1, 2, 3, 4), "small": (0, 1, 2), "full": (0, 1, 2)}


def sample_level_settings(profile: str) -> SampleLevelSettings:
    """Sec. 3: 500 images x 100 train / 20 test augmentations at full; scaled down below (same structure)."""
    _check_profile(profile)
    return {
        "full": SampleLevelSettings(500, 100, 20),
        "small": SampleLevelSettings(200, 50, 10),
        # quick: 50 images (1,000 / 500 points, the class level's sizes): a 50-way probe per cell, not 100-way.
        "quick": SampleLevelSettings(50, 20, 10),
    }[profile]


def measure_settings(profile: str) -> MeasureSettings:
    """MINE: 5 MINE seeds at small/full (paper), 3 at quick; on vicreg training seeds 0-2 at every profile (a
    decision needs >= 3 training seeds), each with its shuffled-pairs null. UMAP on vicreg seeds 0-2."""
    _check_profile(profile)
    if profile == "quick":
        # MINE: 200 steps at batch 128 (defaults 400 x 256): 2.8 vs 10 s CPU per estimate on 1,000 synthetic images,
        # one thread; 3 MINE seeds + 1 null x 5 checkpoints x 3 training seeds = 60 estimates. Values are relative.
        return MeasureSettings(mine_seeds=(0, 1, 2), mine_null_seeds=(0,), mine_images=1000, mine_run_seeds=(0, 1, 2),
                               mine_kwargs=(("steps", 200), ("batch_size", 128)),
                               umap_points_per_group=40, umap_neighbors=10)
    if profile == "small":
        # 5 MINE seeds (the paper's count) + 2 null on each of 3 training seeds: ~15 s per estimate on one core,
        # ~9 min per training seed.
        return MeasureSettings(mine_images=5000, mine_run_seeds=(0, 1, 2), mine_null_seeds=(0, 1),
                               umap_points_per_group=100)
    return MeasureSettings()


def target_settings(profile: str, kind: str) -> TargetSettings:
    """Random-target generators per profile (App. A.3). Epoch counts are not in the paper; chosen so the
    predictions sweep from init (randomness 1) to a trained classifier (randomness 0) in 5-7 snapshots."""
    _check_profile(profile)
    if kind not in ("resnet18", "vit"):
        raise ConfigError(f"target generator kind {kind!r} is unknown; allowed: resnet18, vit")
    if profile == "full":
        # App. A.3 learning rates and A.2 sizes; 100 epochs is our choice (the paper does not state it).
        return TargetSettings(kind, 100, (0, 1, 2, 5, 10, 20, 50, 100), 256, None)
    # Below full, Adam 0.05 diverges / stalls on one class for ResNet-18 (see sslre.targets): lr 1e-3.
    if profile == "small":
        # Narrow generators (ResNet-18 width 16, ViT 64-d x 4) so each trains in ~5-10 min on one core.
        return TargetSettings(kind, 10, (0, 1, 2, 4, 10), 256, 0.001, width=16, vit_dim=64, vit_depth=4,
                              vit_heads=4)
    # quick: narrow generators so each trains in well under a minute on 2 cores. A snapshot at every epoch: the
    # width-8 ResNet-18 predicts 1-4 classes for its first 3-6 epochs (seed-dependent), which the degeneracy rule
    # excludes; with snapshots only at 0, 1, 2, 4, 8 two of three seeds kept fewer than two levels.
    return TargetSettings(kind, 8, tuple(range(9)), 128, 0.001, width=8, vit_dim=64, vit_depth=2, vit_heads=4)


def _check_profile(profile: str) -> None:
    if profile not in PROFILES_NAMES:
        raise ConfigError(f"profile {profile!r} is unknown; allowed: {', '.join(PROFILES_NAMES)}")


def _cifar10_archive_present() -> bool:
    from sslre.data.imagefolder import cifar10_jpeg_archive   # one lookup of the archive, in the data module

    return cifar10_jpeg_archive().is_file()

def _arch(depth: int, width: int) -> str:
    return f"RES-{depth}-{width}"


# ------------------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------------------


def runs_for(profile: str) -> dict[str, RunSpec]:
    """Every run the ``profile``'s claims read, by name (see the module docstring for the table).

    >>> sorted(runs_for("quick"))[:3]
    ['simclr', 'supervised', 'supervised-aa']
    """
    _check_profile(profile)
    base = profile_config(profile)
    depth, width = parse_arch(base.arch)
    if profile == "full":
        deep, narrow, wide = "RES-10-250", "RES-5-50", "RES-5-1000"
    else:
        # Width x2 (not the paper's x4) below full: x4 costs 16x the compute, more than the rest of the profile.
        deep, narrow, wide = _arch(2 * depth, width), _arch(depth, max(1, width // 4)), _arch(depth, 2 * width)
    # Every run that a decision reads has its own >= 3 seeds (no run borrows another's seed spread); the main
    # run may have more (quick: 5, for the recipe check).
    main_seeds, aux_seeds = _MAIN_SEEDS[profile], _SEEDS[profile]

    def configs(seed_list, **kw) -> tuple[Config, ...]:
        return tuple(profile_config(profile, seed=s, **kw) for s in seed_list)

    vic = dict(method="vicreg", vicreg_lambda=25.0, vicreg_mu=25.0, vicreg_nu=1.0)
    main_cov = Coverage(all_layers=True, random=True, controls=True, sample=True, mine=True, umap=True)
    specs = [
        RunSpec("vicreg", configs(main_seeds, **vic), main_seeds,
                ("sample-clusters-first", "sample-neural-collapse", "ncc-linear-ratio", "semantic-gains-not-sample",
                 "regularization-drives-learning", "mine-compression", "ssl-vs-supervised-ncc",
                 "randomness-ordering", "semantic-vs-random-ratios", "depth-ordering", "mu-ablation",
                 "simclr-like-vicreg", "cnn-targets-aligned", "width-and-depth", "umap-hierarchy"),
                "main VICReg run (Sec. 3-6)", coverage=main_cov),
        RunSpec("vicreg-deep", configs(aux_seeds, arch=deep, **vic), aux_seeds,
                ("sample-neural-collapse", "ssl-vs-supervised-ncc", "depth-ordering", "width-and-depth"),
                "deeper net: Sec. 4 NCC numbers, Fig. 3 right, Fig. 5, Fig. 7 bottom",
                coverage=Coverage(all_layers=True, random=False, controls=True, sample=True)),
        RunSpec("vicreg-mu5", configs(aux_seeds, **{**vic, "vicreg_mu": 5.0}), aux_seeds, ("mu-ablation",),
                "App. B.3 mu=5", coverage=Coverage(all_layers=False, controls=False, sample=False)),
        RunSpec("vicreg-mu100", configs(aux_seeds, **{**vic, "vicreg_mu": 100.0}), aux_seeds, ("mu-ablation",),
                "App. B.3 mu=100", coverage=Coverage(all_layers=False, controls=False, sample=False)),
        RunSpec("vicreg-narrow", configs(aux_seeds, arch=narrow, **vic), aux_seeds, ("width-and-depth",),
                "App. B.1 narrower net", coverage=Coverage(all_layers=True, controls=True, sample=True)),
        RunSpec("vicreg-wide", configs(aux_seeds, arch=wide, **vic), aux_seeds, ("width-and-depth",),
                "App. B.1 wider net", coverage=Coverage(all_layers=True, controls=True, sample=True)),
        RunSpec("simclr", configs(aux_seeds, method="simclr"), aux_seeds, ("simclr-like-vicreg",),
                "App. B.4 SimCLR", coverage=Coverage(all_layers=True, random=True, controls=True, sample=True)),
        RunSpec("supervised", configs(aux_seeds, method="supervised", arch=deep), aux_seeds,
                ("ssl-vs-supervised-ncc",), "Fig. 3 right: supervised, no augmentation beyond crop+flip",
                coverage=Coverage(all_layers=False, controls=False, sample=False)),
        RunSpec("supervised-aa", configs(aux_seeds, method="supervised", arch=deep, autoaugment=True), aux_seeds,
                ("ssl-vs-supervised-ncc",), "Fig. 3 right: supervised with AutoAugment",
                coverage=Coverage(all_layers=False, controls=False, sample=False)),
    ]
    other_cov = Coverage(all_layers=True, controls=True, sample=True)
    if profile == "full":
        specs.append(RunSpec("vicreg-other", configs(aux_seeds, dataset="cifar10", **vic), aux_seeds,
                             ("other-datasets",), "App. B.2 CIFAR-10", coverage=other_cov))
    elif profile == "small":
        # small already runs on CIFAR-10: the App. B.2 run *is* the main run.
        specs.append(RunSpec("vicreg-other", configs(main_seeds, **vic), main_seeds, ("other-datasets",),
                             "App. B.2 CIFAR-10 (= the small profile's main run)", kind="alias",
                             coverage=other_cov, alias_of="vicreg"))
    elif _cifar10_archive_present():
        # quick: a tiny class-balanced slice of the real CIFAR-10 JPEGs, same tiny arch and schedule.
        specs.append(RunSpec("vicreg-other", configs(aux_seeds, dataset="cifar10-jpeg", train_subset=base.train_subset,
                                                     test_subset=base.test_subset, **vic), aux_seeds,
                             ("other-datasets",), "App. B.2 real CIFAR-10 slice", coverage=other_cov))
    for kind in ("resnet18", "vit"):
        # Generators see the SSL train split (the data settings of the main run); method/arch are unused.
        # One generator per seed and family: generator variance is part of the seed spread (PROTOCOL.md).
        specs.append(RunSpec(f"targets-{kind}", configs(aux_seeds, method="supervised"), aux_seeds,
                             ("randomness-ordering", "semantic-vs-random-ratios", "simclr-like-vicreg",
                              "cnn-targets-aligned") if kind == "resnet18" else ("cnn-targets-aligned",),
                             f"random-target generator {kind} (Sec. 5, App. B.5)", kind="targets",
                             target=target_settings(profile, kind)))
    return {s.name: s for s in specs}


def claims_served(profile: str) -> dict[str, list[str]]:
    """``{claim_id: [run names]}`` -- which runs each catalogue claim reads at ``profile``."""
    out: dict[str, list[str]] = {c: [] for c in CLAIM_IDS}
    for spec in runs_for(profile).values():
        for c in spec.claims:
            out.setdefault(c, []).append(spec.name)
    return out


# ------------------------------------------------------------------------------------------------------------
# commands, state, training
# ------------------------------------------------------------------------------------------------------------

# CLI flags of `sslre train` and the Config fields they set (sslre/cli.py).
_FLAG_FIELDS = (("method", "--method"), ("arch", "--arch"), ("vicreg_mu", "--mu"), ("seed", "--seed"),
                ("dataset", "--dataset"))


def train_command(spec: RunSpec, seed: int, runs_dir: Path | str) -> str:
    """The shell command that makes run ``spec`` at ``seed`` (exactly the registry's config)."""
    if spec.kind == "alias":
        raise ValueError(f"run {spec.name!r} is an alias of {spec.alias_of!r}; train that one")
    config = spec.config_for(seed)
    run_dir = spec.run_dir(runs_dir, seed)
    if spec.kind == "targets":
        args = ["python", "-m", "sslre.experiments", "train-run", "--profile", config.profile, "--run", spec.name,
                "--seed", str(seed), "--runs-dir", str(runs_dir)]
        return " ".join(shlex.quote(a) for a in args)
    base = profile_config(config.profile)
    args = ["sslre", "train", "--profile", config.profile]
    done = {"profile"}
    for fname, flag in _FLAG_FIELDS:
        value = getattr(config, fname)
        if fname in ("method", "seed") or value != getattr(base, fname):
            args += [flag, str(value)]
        done.add(fname)
    if config.autoaugment:
        args.append("--autoaugment")
    done.add("autoaugment")
    for fname, value in sorted(config.to_dict().items()):
        if fname in done or value == base.to_dict()[fname]:
            continue
        args += ["--set", f"{fname}={json.dumps(value, separators=(',', ':'))}"]
    args += ["--run-dir", str(run_dir)]
    return " ".join(shlex.quote(a) for a in args)


def run_is_complete(spec: RunSpec, run_dir: Path) -> bool:
    """A finished run: ``DONE`` from :func:`sslre.train.train`, or ``targets.json`` of the current format."""
    if spec.kind == "targets":
        from sslre.targets import is_complete

        return is_complete(run_dir) and _same_generator_schedule(spec, run_dir)
    return (run_dir / "DONE").is_file()


def _same_generator_schedule(spec: RunSpec, run_dir: Path) -> bool:
    """A finished generator whose epochs, snapshots or batch differ from the registry's is not this run (training
    it then stops with the generator's 'different request' error instead of measuring stale targets)."""
    try:
        req = json.loads((run_dir / "targets.json").read_text()).get("request", {})
    except (OSError, ValueError):
        return False
    t = spec.target
    return (req.get("epochs") == t.epochs and list(req.get("snapshot_epochs", [])) == list(t.snapshot_epochs)
            and req.get("batch_size") == t.batch_size)


def plan_commands(profile: str, runs_dir: Path | str | None = None) -> list[str]:
    """One shell command per (run, seed) that ``profile``'s claims need (aliases excluded), generators first
    only in listing order -- they are independent of the SSL runs and may run in parallel."""
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    cmds = []
    for spec in runs_for(profile).values():
        if spec.kind == "alias":
            continue
        for seed in spec.seeds:
            cmds.append(train_command(spec, seed, runs_dir))
    return cmds


def default_runs_dir(profile: str) -> Path:
    """``$SSLRE_RUNS`` if set, else ``runs/<profile>`` under the repository root."""
    env = os.environ.get("SSLRE_RUNS")
    return Path(env) if env else _REPO_ROOT / "runs" / profile


def train_run(spec: RunSpec, seed: int, runs_dir: Path | str, *, progress: bool = True) -> Path:
    """Train one (run, seed) into its run dir (resumes / reloads what is there). Returns the run dir."""
    run_dir = spec.run_dir(runs_dir, seed)
    config = spec.config_for(seed)
    t0 = time.perf_counter()
    if spec.kind == "alias":
        raise ValueError(f"run {spec.name!r} is an alias of {spec.alias_of!r}; train that one")
    if spec.kind == "targets":
        from sslre.targets import generator_data, train_target_generator

        # The generator learns from images of the same dataset outside both SSL splits, drawn per seed, and
        # labels the SSL splits (sslre.targets: a generator trained on the images it labels memorises them).
        data, gen_train, source = generator_data(config, seed)
        train_target_generator(spec.target, gen_train, {"train": data.train, "test": data.test}, run_dir,
                               seed=seed, progress=progress, train_source=source,
                               num_threads=config.num_threads or None)
    else:
        from sslre.train import train

        train(config, run_dir, progress=progress)
    log.info("trained %s-s%d in %.1f s", spec.name, seed, time.perf_counter() - t0)
    return run_dir


def ensure_runs(profile: str, runs_dir: Path | str | None = None, train_missing: bool = False, *,
                names: Iterable[str] | None = None, progress: bool = True,
                specs: dict[str, RunSpec] | None = None,
                jobs: int | None = None) -> dict[str, list[tuple[int, Path]]]:
    """Make sure every run of ``profile`` (or just ``names``) is trained under ``runs_dir``.

    Missing or unfinished runs are trained when ``train_missing`` (quick: minutes), otherwise
    :class:`MissingRunsError` lists the exact commands (small/full never train by surprise).
    Returns ``{name: [(seed, run_dir), ...]}`` for every run, aliases resolved. ``specs`` replaces the
    registry (tests use a shrunken one). ``jobs`` runs that many trainings at once in separate processes
    (default ``$SSLRE_JOBS``, else the CPU count when every missing run uses one thread, else 1); each run is
    deterministic on its own, so the order and the parallelism do not change any number.
    """
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    specs = runs_for(profile) if specs is None else specs
    wanted = list(specs) if names is None else list(names)
    unknown = sorted(set(wanted) - set(specs))
    if unknown:
        raise KeyError(f"unknown run name(s) {unknown} for profile {profile!r}; known: {sorted(specs)}")
    missing = []
    for name in wanted:
        spec = specs[name]
        real = specs[spec.alias_of] if spec.kind == "alias" else spec
        for seed in spec.seeds:
            if not run_is_complete(real, real.run_dir(runs_dir, seed)) and (real.name, seed) not in missing:
                missing.append((real.name, seed))
    if missing and not train_missing:
        raise MissingRunsError(profile, runs_dir, missing,
                               [train_command(specs[n], s, runs_dir) for n, s in missing])
    _train_all(specs, missing, runs_dir, progress=progress, jobs=jobs)
    return {name: [(s, specs[name].run_dir(runs_dir, s)) for s in specs[name].seeds] for name in wanted}


def _train_one(args: tuple) -> tuple[str, int]:
    spec, seed, runs_dir = args
    train_run(spec, seed, runs_dir, progress=False)
    return spec.name, seed


def _train_all(specs: dict[str, RunSpec], missing: list[tuple[str, int]], runs_dir: Path, *, progress: bool,
               jobs: int | None) -> None:
    """Train ``missing`` runs, ``jobs`` at a time (single-threaded runs share the cores without contention)."""
    if jobs is None:
        env = os.environ.get("SSLRE_JOBS")
        single = all(c.num_threads == 1 for n, _ in missing for c in specs[n].configs)
        jobs = int(env) if env else (os.cpu_count() or 1) if single else 1
    jobs = max(1, min(jobs, len(missing)))
    if jobs == 1:
        for name, seed in missing:
            train_run(specs[name], seed, runs_dir, progress=progress)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    work = [(specs[n], s, runs_dir) for n, s in missing]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_train_one, w) for w in work]
        bar = tqdm(total=len(futures), desc=f"training {len(futures)} runs x{jobs}", disable=not progress)
        for f in as_completed(futures):
            name, seed = f.result()  # re-raises a run's error here, naming nothing lost: finished runs are kept
            bar.set_postfix_str(f"{name}-s{seed} done")
            bar.update()
        bar.close()


def _main(argv: list[str] | None = None) -> int:
    """``python -m sslre.experiments train-run|list ...`` (the targets runs have no `sslre train` form)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m sslre.experiments")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train-run", help="train one registry run at one seed")
    t.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    t.add_argument("--run", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--runs-dir", type=Path)
    t.add_argument("--no-progress", action="store_true")
    ls = sub.add_parser("list", help="print the commands that make every run of a profile")
    ls.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    ls.add_argument("--runs-dir", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "list":
        print("\n".join(plan_commands(args.profile, args.runs_dir)))
        return 0
    specs = runs_for(args.profile)
    if args.run not in specs:
        print(f"unknown run {args.run!r}; known: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    runs_dir = args.runs_dir or default_runs_dir(args.profile)
    train_run(specs[args.run], args.seed, runs_dir, progress=not args.no_progress)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
