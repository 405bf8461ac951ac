"""The run registry: which training runs each profile's claims read, and how to make them.

One place names every run the claim tests depend on (``docs/ARCHITECTURE.md``, the pipeline contract):

========================  ==========================================  ========================================
run name                  what it is (full profile)                   claims that read it
========================  ==========================================  ========================================
``vicreg``                VICReg RES-5-250, mu=25, lambda=25, nu=1    almost all (Sec. 3-6)
``vicreg-deep``           VICReg RES-10-250                           Sec. 4 NCC, Figs. 2-3, Fig. 5, Fig. 7
``vicreg-mu5/-mu100``     VICReg RES-5-250, mu=5 / mu=100             App. B.3
``vicreg-narrow/-wide``   VICReg RES-5-50 / RES-5-1000                App. B.1 (width)
``simclr``                SimCLR RES-5-250                            App. B.4
``supervised(-aa)``       cross-entropy RES-10-250, +- AutoAugment    Fig. 3 right
``vicreg-other``          VICReg RES-5-250 on CIFAR-10                App. B.2
``targets-resnet18/-vit`` supervised random-target generators          Sec. 5, App. B.5
========================  ==========================================  ========================================

Smaller profiles keep the *structure* (same run names, same relations between runs: deeper = twice the
blocks, narrow/wide = width / 4 and x 2 below full, mu 5/25/100) on the profile's base architecture; what each
profile decides (seeds, architectures, sizes of what is measured) is its :class:`sslre.profiles.Profile`, and
the run names are :class:`sslre.profiles.Run`'s.

Run directories are ``<runs_dir>/<name>-s<seed>/`` as written by :func:`sslre.train.train` (SSL and
supervised runs) or :func:`sslre.targets.train_target_generator` (``targets-*`` runs).

Functions:

- :func:`runs_for` -- ``{name: RunSpec}`` for a profile.
- :func:`ensure_runs` -- trains what is missing (quick) or raises :class:`MissingRunsError` naming the commands.
- :func:`plan_commands` -- one shell command per (run, seed), for ``sslre plan`` and schedulers.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sslre.claims.catalogue import CLAIM_IDS  # noqa: F401 - re-exported: the catalogue's IDs, one place
from sslre.config import Config, ConfigError, profile_config
from sslre.profiles import Run, profile as get_profile
from sslre.targets import TargetSettings  # noqa: F401 - re-exported: RunSpec.target holds one

log = logging.getLogger(__name__)

#: The repository root: runs live under ``runs/<profile>`` there unless ``$SSLRE_RUNS`` says otherwise.
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


#: A run whose training loss became non-finite keeps the reason in ``RUN/DIVERGED`` (JSON): :func:`ensure_runs` does
#: not train it again (it would diverge again: training is deterministic); deleting the folder does.
DIVERGED = "DIVERGED"


class RunDivergedError(FloatingPointError):
    """One registry run's training loss became non-finite (``sslre train-run``: exit code 7, naming the run)."""

    def __init__(self, run: str, seed: int, reason: str):
        self.run, self.seed, self.reason = run, seed, reason
        super().__init__(f"{run}-s{seed} diverged: {reason}")


class RunsDivergedError(MissingRunsError):
    """Runs diverged in training (the others are trained): ``.missing`` are they, ``.reasons`` why; the claims
    that read them cannot run. A :class:`MissingRunsError`: the claims of the other runs can (a partial report)."""

    def __init__(self, profile: str, runs_dir: Path, reasons: dict[tuple[str, int], str], commands: list[str]):
        self.profile, self.runs_dir, self.commands = profile, Path(runs_dir), commands
        self.missing = list(reasons)
        self.reasons = dict(reasons)
        said = "; ".join(f"{n}-s{s}: {why}" for (n, s), why in reasons.items())
        RuntimeError.__init__(
            self, f"{len(reasons)} run(s) of profile {profile!r} diverged in training ({said}); the claims that read "
            f"them are not run. Each folder keeps the reason in {DIVERGED} and is not trained again: delete it "
            f"(under {self.runs_dir}) to retry")


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
    dir_name: str | None = None           # folder stem when it differs from the name (another method's roles)

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
        return Path(runs_dir) / f"{self.dir_name or self.alias_of or self.name}-s{seed}"


def _cifar10_archive_present() -> bool:
    from sslre.data.imagefolder import cifar10_jpeg_archive   # one lookup of the archive, in the data module

    return cifar10_jpeg_archive().is_file()


# ------------------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------------------

_EVERY_LAYER = Coverage()                                                   # every layer, controls, sample level
_LAST_LAYER = Coverage(all_layers=False, controls=False, sample=False)      # the last layer's class levels only
_MAIN_CLAIMS = ("sample-clusters-first", "sample-neural-collapse", "ncc-linear-ratio", "semantic-gains-not-sample",
                "regularization-drives-learning", "mine-compression", "ssl-vs-supervised-ncc", "randomness-ordering",
                "semantic-vs-random-ratios", "depth-ordering", "mu-ablation", "simclr-like-vicreg",
                "cnn-targets-aligned", "width-and-depth", "umap-hierarchy")
_GENERATOR_CLAIMS = {"resnet18": ("randomness-ordering", "semantic-vs-random-ratios", "simclr-like-vicreg",
                                  "cnn-targets-aligned"),
                     "vit": ("cnn-targets-aligned",)}


#: Environment variables that put a profile's runs on the user's data (``sslre reproduce --dataset/--hierarchy``):
#: every run on the profile's own dataset takes ``dataset`` / ``hierarchy`` from them (App. B.2's other-dataset run
#: keeps its own). Read by :func:`runs_for` in ``sslre reproduce`` and in the claims' pytest process alike.
DATASET_ENV, HIERARCHY_ENV = "SSLRE_DATASET", "SSLRE_HIERARCHY"

#: Environment variable that puts every run of a profile on the GPU (``sslre reproduce --device cuda``): read by
#: :func:`runs_for` in ``sslre reproduce`` and in the claims' pytest process alike, so both see the same configs.
DEVICE_ENV = "SSLRE_DEVICE"

#: What ``--device cuda`` changes in every run's Config: the GPU, in bf16 autocast (the uint8 split is held on the
#: GPU and augmented there in batches, :mod:`sslre.train`). A different config, so such runs never mix with the
#: profile's CPU runs in one folder (:func:`sslre.evidence.conflicts`).
GPU_OVERRIDES = {"device": "cuda", "amp": True}

#: Runs trained at once on one GPU by ``sslre reproduce --device cuda`` (``$SSLRE_JOBS`` overrides it): one
#: process each; a profile's small nets leave a large GPU mostly idle one at a time.
GPU_JOBS = 4


def device_overrides() -> dict:
    """The Config fields :data:`DEVICE_ENV` changes: :data:`GPU_OVERRIDES` when it is ``cuda``, else none."""
    value = os.environ.get(DEVICE_ENV, "")
    if value not in ("", "cuda"):
        raise ConfigError(f"${DEVICE_ENV}={value!r} is not a device sslre reproduce trains on; allowed: cuda")
    return dict(GPU_OVERRIDES) if value == "cuda" else {}


#: Environment variable naming the SSL method whose runs play the registry's method-generic roles (the generality
#: matrix, ``sslre reproduce --methods``); read by :func:`runs_for` in ``sslre reproduce`` and in the claims' pytest
#: process alike. Unset: VICReg, the paper's method.
METHOD_ENV = "SSLRE_METHOD"

#: The roles any SSL method plays in the generality matrix: the claims that read them are method-generic. The
#: other SSL runs are one method's ablations and stay with it (``CLAIM_METHOD`` in :mod:`sslre.claims.catalogue`).
GENERIC_ROLES = (Run.MAIN, Run.DEEP, Run.NARROW, Run.WIDE, Run.OTHER)


def matrix_method() -> str:
    """The method of the generic roles: :data:`METHOD_ENV` if set, else ``vicreg``."""
    return os.environ.get(METHOD_ENV) or "vicreg"


def method_slug(method: str) -> str:
    """The folder stem of ``method``'s runs: a built-in name as is, a plug-in ``pkg.mod:Class`` as ``class``."""
    return method.rsplit(":", 1)[-1].replace(".", "-").lower()


def role_dir(role: str, method: str) -> str | None:
    """Folder stem of ``role`` (a :data:`GENERIC_ROLES` name) trained with ``method``: None (the role's own name)
    for VICReg; ``<method>-main`` / ``<method>-deep`` / ... for another method. (``simclr-main`` and App. B.4's
    ``simclr`` are the same training, kept apart because they are measured with different coverage.)"""
    if method == "vicreg":
        return None
    return f"{method_slug(method)}-{'main' if role == Run.MAIN else role.split('-', 1)[1]}"


def data_overrides() -> dict[str, str]:
    """``{"dataset": ..., "hierarchy": ...}`` from :data:`DATASET_ENV` / :data:`HIERARCHY_ENV` (those set)."""
    return {k: os.environ[e] for k, e in (("dataset", DATASET_ENV), ("hierarchy", HIERARCHY_ENV)) if os.environ.get(e)}


def runs_for(profile: str, method: str | None = None) -> dict[str, RunSpec]:
    """Every run the ``profile``'s claims read, by name (see the module docstring for the table).

    The runs on the profile's own dataset use :func:`data_overrides` when set (the user's data). ``method``
    (default :func:`matrix_method`): the SSL method of the :data:`GENERIC_ROLES`. For a method other than VICReg
    the roles keep their names (the claims read roles) and train that method into their own folders
    (:func:`role_dir`); VICReg's ablations (mu, SimCLR) are left out, the supervised runs and the generators are
    shared.

    >>> sorted(runs_for("quick"))[:3]
    ['simclr', 'supervised', 'supervised-aa']
    """
    prof = get_profile(profile)
    main, aux = prof.main_seeds, prof.seeds
    user_data = data_overrides()
    device = device_overrides()
    method = matrix_method() if method is None else method
    from sslre.claims.catalogue import CLAIM_METHOD

    def spec(name, seeds, claims, purpose, coverage=_EVERY_LAYER, **kw) -> RunSpec:
        data = {} if "dataset" in kw else user_data  # a run on another dataset keeps it
        if name in GENERIC_ROLES and method != "vicreg":
            kw = {k: v for k, v in kw.items() if not k.startswith("vicreg_")}
            kw = {**prof.method_overrides(method), **kw, "method": method}
            claims = tuple(c for c in claims if CLAIM_METHOD.get(c, method) == method)
            purpose = f"{purpose} -- as {method}"
        configs = tuple(prof.config.replace(seed=s, **data, **kw, **device) for s in seeds)
        return RunSpec(name, configs, seeds, claims, purpose, coverage=coverage, dir_name=role_dir(name, method) if name in GENERIC_ROLES else None)

    vic = dict(method="vicreg", vicreg_lambda=25.0, vicreg_mu=25.0, vicreg_nu=1.0)
    sup_plain = {"supervised_augment": "none"} if prof.literal_no_augment else {}
    sup_what = "no augmentation (no crop, no flip)" if prof.literal_no_augment else "no augmentation beyond crop+flip"
    specs = [
        spec(Run.MAIN, main, _MAIN_CLAIMS, "main VICReg run (Sec. 3-6)",
             Coverage(all_layers=True, random=True, controls=True, sample=True, mine=True, umap=True), **vic),
        spec(Run.DEEP, aux, ("sample-clusters-first", "sample-neural-collapse", "ncc-linear-ratio",
                             "ssl-vs-supervised-ncc", "depth-ordering", "width-and-depth"),
             "deeper net: Sec. 4 NCC numbers, Fig. 3 right, Fig. 5, Fig. 7 bottom", arch=prof.deep, **vic),
        spec(Run.MU5, aux, ("mu-ablation",), "App. B.3 mu=5", _LAST_LAYER, **{**vic, "vicreg_mu": 5.0}),
        spec(Run.MU100, aux, ("mu-ablation",), "App. B.3 mu=100", _LAST_LAYER, **{**vic, "vicreg_mu": 100.0}),
        spec(Run.NARROW, aux, ("width-and-depth",), "App. B.1 narrower net", arch=prof.narrow, **vic),
        spec(Run.WIDE, aux, ("width-and-depth",), "App. B.1 wider net", arch=prof.wide, **vic),
        spec(Run.SIMCLR, aux, ("simclr-like-vicreg",), "App. B.4 SimCLR", Coverage(random=True), method="simclr"),
        spec(Run.SUPERVISED, aux, ("ssl-vs-supervised-ncc",), f"Fig. 3 right: supervised, {sup_what}", _LAST_LAYER,
             method="supervised", arch=prof.deep, **sup_plain),
        spec(Run.SUPERVISED_AA, aux, ("ssl-vs-supervised-ncc",), "Fig. 3 right: supervised with AutoAugment",
             _LAST_LAYER, method="supervised", arch=prof.deep, autoaugment=True),
    ]
    if prof.other_dataset is None:  # the profile already runs on CIFAR-10: the App. B.2 run *is* the main run
        specs.append(RunSpec(Run.OTHER, specs[0].configs, main, ("other-datasets",),
                             f"App. B.2 CIFAR-10 (= the {profile} profile's main run)", kind="alias",
                             coverage=_EVERY_LAYER, alias_of=Run.MAIN, dir_name=specs[0].dir_name))
    elif prof.other_dataset != "cifar10-jpeg" or _cifar10_archive_present():
        what = "real CIFAR-10 slice" if prof.other_dataset == "cifar10-jpeg" else "CIFAR-10"
        specs.append(spec(Run.OTHER, aux, ("other-datasets",), f"App. B.2 {what}", dataset=prof.other_dataset, **vic))
    for kind, name in Run.TARGETS.items():
        # Generators see the SSL train split (the data settings of the main run); method/arch are unused.
        # One generator per seed and family: generator variance is part of the seed spread (PROTOCOL.md).
        generator = spec(name, aux, _GENERATOR_CLAIMS[kind], f"random-target generator {kind} (Sec. 5, App. B.5)",
                         method="supervised")
        specs.append(dataclasses.replace(generator, kind="targets", target=prof.target(kind)))
    if method != "vicreg":  # one method's ablations stay with it (CLAIM_METHOD); the profile may train fewer roles
        roles = GENERIC_ROLES if prof.matrix_roles is None else prof.matrix_roles
        specs = [s for s in specs if s.name in roles or s.name in (Run.SUPERVISED, Run.SUPERVISED_AA)
                 or s.kind == "targets"]
    return {s.name: s for s in specs}


def claims_served(profile: str, specs: dict[str, RunSpec] | None = None) -> dict[str, list[str]]:
    """``{claim_id: [run names]}`` -- which runs each catalogue claim reads at ``profile`` (``specs``: a
    registry in place of the profile's)."""
    out: dict[str, list[str]] = {c: [] for c in CLAIM_IDS}
    for spec in (runs_for(profile) if specs is None else specs).values():
        for c in spec.claims:
            out.setdefault(c, []).append(spec.name)
    return out


@dataclass(frozen=True)
class PartialRuns:
    """What a partial run set lacks: the claims read the runs that exist, the rest are listed with their commands.

    ``commands``: run name (an alias too) -> the commands that make its missing seeds; ``missing``: the
    ``(run, seed)`` pairs missing or unfinished; ``total``: the ``(run, seed)`` pairs of the registry;
    ``claims``: claim id -> the runs it reads (:func:`claims_served`); ``reasons``: run name -> why it is missing
    when that is not just "not trained yet" (its training diverged).
    """

    profile: str
    commands: dict[str, list[str]]
    missing: list[tuple[str, int]]
    total: int
    claims: dict[str, list[str]]
    reasons: dict[str, str] = field(default_factory=dict)  # run name -> why it is missing, when not just untrained

    def for_claim(self, claim_id: str) -> dict[str, list[str]]:
        """``{run: commands}`` of the missing runs that ``claim_id`` reads (empty: the claim can run)."""
        return {r: self.commands[r] for r in self.claims.get(claim_id, []) if r in self.commands}

    def labels(self) -> list[str]:
        return [f"{n}-s{s}" for n, s in self.missing]


def partial_runs(profile: str, specs: dict[str, RunSpec], runs_dir: Path | str,
                 evidence: Path | None = None) -> PartialRuns:
    """The runs of ``specs`` not (completely) trained under ``runs_dir`` nor published under ``evidence``; a run
    with a seed missing is missing."""
    missing = incomplete_runs(specs, runs_dir, evidence=evidence)
    reasons = {(n, s): why for n, s in missing if (why := diverged_reason(specs[n], specs[n].run_dir(runs_dir, s)))}
    return lacking(profile, specs, missing, runs_dir, reasons)


def lacking(profile: str, specs: dict[str, RunSpec], missing: list[tuple[str, int]], runs_dir: Path | str,
            reasons: dict[tuple[str, int], str] | None = None) -> PartialRuns:
    """The :class:`PartialRuns` of ``specs`` whose ``missing`` ``(run, seed)`` pairs are not there, with the
    commands that make them under ``runs_dir`` (an alias gets the commands of the run it names); ``reasons``:
    why some pairs are missing (:class:`RunsDivergedError`)."""
    gone = {n for n, _ in missing}
    commands = {}
    for name, spec in specs.items():
        real = specs[spec.alias_of] if spec.kind == "alias" else spec
        if real.name in gone:
            commands[name] = [train_command(real, s, runs_dir) for n, s in missing if n == real.name]
    total = len({(s.name, seed) for s in specs.values() if s.kind != "alias" for seed in s.seeds})
    why: dict[str, str] = {}
    for (n, seed), reason in (reasons or {}).items():
        for name, spec in specs.items():
            if name == n or spec.alias_of == n:
                why[name] = "; ".join(filter(None, (why.get(name), f"{n}-s{seed} diverged: {reason}")))
    return PartialRuns(profile, commands, missing, total, claims_served(profile, specs), why)


# ------------------------------------------------------------------------------------------------------------
# commands, state, training
# ------------------------------------------------------------------------------------------------------------

# CLI flags of `sslre train` and the Config fields they set (sslre/cli.py).
_FLAG_FIELDS = (("method", "--method"), ("arch", "--arch"), ("vicreg_mu", "--mu"), ("seed", "--seed"),
                ("dataset", "--dataset"), ("hierarchy", "--hierarchy"), ("device", "--device"))


def train_command(spec: RunSpec, seed: int, runs_dir: Path | str) -> str:
    """The shell command that makes run ``spec`` at ``seed`` (exactly the registry's config)."""
    if spec.kind == "alias":
        raise ValueError(f"run {spec.name!r} is an alias of {spec.alias_of!r}; train that one")
    config = spec.config_for(seed)
    run_dir = spec.run_dir(runs_dir, seed)
    if spec.kind == "targets":  # generators have no `sslre train` form: `sslre train-run` trains a registry run
        args = ["sslre", "train-run", "--profile", config.profile, "--run", spec.name, "--seed", str(seed),
                "--runs-dir", str(runs_dir)]
        env = f"{DEVICE_ENV}=cuda " if config.device == "cuda" else ""  # train-run reads the registry's device
        return env + " ".join(shlex.quote(a) for a in args)
    base = profile_config(config.profile, method=config.method)   # with the method's recipe at this profile
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
                               seed=seed, progress=progress, train_source=source, device=config.device,
                               num_threads=config.num_threads or None)
    else:
        from sslre.train import train

        try:
            train(config, run_dir, progress=progress)
        except FloatingPointError as exc:  # the loss became NaN / inf: recorded, so it is not trained again
            from sslre import io

            io.write_json({"reason": str(exc), "config": config.to_dict()}, run_dir / DIVERGED, indent=1)
            raise RunDivergedError(spec.name, seed, str(exc)) from exc
    log.info("trained %s-s%d in %.1f s", spec.name, seed, time.perf_counter() - t0)
    return run_dir


def diverged_reason(spec: RunSpec, run_dir: Path) -> str | None:
    """Why run ``spec`` diverged in ``run_dir`` (its ``DIVERGED`` record, for the same config), else ``None``."""
    try:
        record = json.loads((run_dir / DIVERGED).read_text())
    except (OSError, ValueError):
        return None
    same = isinstance(record, dict) and record.get("config") in [c.to_dict() for c in spec.configs]
    return str(record.get("reason", "the loss became non-finite")) if same else None


def train_named(profile: str, name: str, seed: int, runs_dir: Path | str | None = None, *,
                progress: bool = True) -> Path:
    """``sslre train-run``: train run ``name`` of ``profile``'s registry at ``seed`` (default runs dir if None)."""
    specs = runs_for(profile)
    if name not in specs:
        raise ConfigError(f"unknown run {name!r} of profile {profile!r}; known: {', '.join(sorted(specs))}")
    return train_run(specs[name], seed, runs_dir if runs_dir is not None else default_runs_dir(profile),
                     progress=progress)


def ensure_runs(profile: str, runs_dir: Path | str | None = None, train_missing: bool = False, *,
                names: Iterable[str] | None = None, progress: bool = True,
                specs: dict[str, RunSpec] | None = None,
                jobs: int | None = None, evidence: Path | None = None) -> dict[str, list[tuple[int, Path]]]:
    """Make sure every run of ``profile`` (or just ``names``) is trained under ``runs_dir``.

    Missing or unfinished runs are trained when ``train_missing`` (quick: minutes), otherwise
    :class:`MissingRunsError` lists the exact commands (small/full never train by surprise).
    Returns ``{name: [(seed, run_dir), ...]}`` for every run, aliases resolved. ``specs`` replaces the
    registry (tests use a shrunken one). ``jobs`` runs that many trainings at once in separate processes
    (default ``$SSLRE_JOBS``, else the CPU count when every missing run uses one thread, else 1); each run is
    deterministic on its own, so the order and the parallelism do not change any number. A run published under
    ``evidence`` (:mod:`sslre.evidence`) counts as done and is not trained again. A run whose loss becomes
    non-finite does not stop the others: when they are trained, :class:`RunsDivergedError` names every run that
    diverged (now, or before: its ``DIVERGED`` record keeps it from being trained again).
    """
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    specs = runs_for(profile) if specs is None else specs
    wanted = list(specs) if names is None else list(names)
    unknown = sorted(set(wanted) - set(specs))
    if unknown:
        raise KeyError(f"unknown run name(s) {unknown} for profile {profile!r}; known: {sorted(specs)}")
    missing = incomplete_runs(specs, runs_dir, wanted, evidence)
    if missing and not train_missing:
        raise MissingRunsError(profile, runs_dir, missing,
                               [train_command(specs[n], s, runs_dir) for n, s in missing])
    diverged = {(n, s): why for n, s in missing if (why := diverged_reason(specs[n], specs[n].run_dir(runs_dir, s)))}
    diverged.update(_train_all(specs, [m for m in missing if m not in diverged], runs_dir, progress=progress,
                               jobs=jobs, evidence=evidence))
    if diverged:
        diverged = {m: diverged[m] for m in missing if m in diverged}  # registry order
        raise RunsDivergedError(profile, runs_dir, diverged, [train_command(specs[n], s, runs_dir) for n, s in diverged])
    return {name: [(s, specs[name].run_dir(runs_dir, s)) for s in specs[name].seeds] for name in wanted}


def ensure_matrix(profile: str, methods: Iterable[str], runs_dir: Path | str, train_missing: bool, *,
                  progress: bool = True, evidence: Path | None = None) -> None:
    """:func:`ensure_runs` for every method of the generality matrix at once: what the methods' registries lack
    (a run shared between methods once) trains in one pool, so no core idles between methods. Missing runs
    without training: :class:`MissingRunsError`; runs that diverge: :class:`RunsDivergedError` once the others are
    trained (their folders keep ``DIVERGED``, as in :func:`ensure_runs`)."""
    runs_dir = Path(runs_dir)
    items: dict[Path, tuple[RunSpec, int]] = {}
    for method in methods:
        specs = runs_for(profile, method)
        for name, seed in incomplete_runs(specs, runs_dir, evidence=evidence):
            items.setdefault(specs[name].run_dir(runs_dir, seed), (specs[name], seed))
    if items and not train_missing:
        raise MissingRunsError(profile, runs_dir, [(s.dir_name or s.name, seed) for s, seed in items.values()],
                               [train_command(s, seed, runs_dir) for s, seed in items.values()])
    todo = list(items.values())
    diverged = {i: why for i, (spec, seed) in enumerate(todo) if (why := diverged_reason(spec, spec.run_dir(runs_dir, seed)))}
    fresh = [i for i in range(len(todo)) if i not in diverged]
    now = _train_items([todo[i] for i in fresh], runs_dir, progress=progress, jobs=None, evidence=evidence)
    diverged.update({fresh[j]: why for j, why in now.items()})
    if diverged:
        raise RunsDivergedError(profile, runs_dir, {(todo[i][0].dir_name or todo[i][0].name, todo[i][1]): why
                                                    for i, why in sorted(diverged.items())},
                                [train_command(*todo[i], runs_dir) for i in sorted(diverged)])


def incomplete_runs(specs: dict[str, RunSpec], runs_dir: Path | str, names: Iterable[str] | None = None,
                    evidence: Path | None = None) -> list[tuple[str, int]]:
    """``(run, seed)`` of ``names`` (default: every run of ``specs``) that are missing or unfinished under
    ``runs_dir`` and not published under ``evidence`` (:mod:`sslre.evidence`), in registry order; an alias stands
    for the run it names."""
    from sslre.evidence import is_published

    missing = []
    for name in (list(specs) if names is None else names):
        spec = specs[name]
        real = specs[spec.alias_of] if spec.kind == "alias" else spec
        for seed in spec.seeds:
            if (not run_is_complete(real, real.run_dir(runs_dir, seed)) and not is_published(real, seed, evidence)
                    and (real.name, seed) not in missing):
                missing.append((real.name, seed))
    return missing


def _train_one(args: tuple) -> tuple[str, int, str | None, str]:
    """Train one run (and publish it when ``evidence``): ``(name, seed, None, run folder)``, or with the reason it
    diverged in place of None."""
    spec, seed, runs_dir, evidence, progress = args
    try:
        train_run(spec, seed, runs_dir, progress=progress)
    except RunDivergedError as exc:
        log.warning("%s", exc)
        return spec.name, seed, exc.reason, str(spec.run_dir(runs_dir, seed))
    if evidence is not None:   # a finished run is measured and published at once: nothing of it waits on others
        from sslre.measure import measure_and_publish

        method = spec.config.method if spec.name in GENERIC_ROLES else None  # a matrix column's role
        measure_and_publish(spec.config.profile, spec.name, seed, runs_dir, evidence, method)
    return spec.name, seed, None, str(spec.run_dir(runs_dir, seed))


def _train_all(specs: dict[str, RunSpec], missing: list[tuple[str, int]], runs_dir: Path, *, progress: bool,
               jobs: int | None, evidence: Path | None = None) -> dict[tuple[str, int], str]:
    """Train ``missing`` runs of ``specs``, ``jobs`` at a time (single-threaded runs share the cores without
    contention); returns ``{(run, seed): reason}`` of those that diverged."""
    items = [(specs[n], s) for n, s in missing]
    why = _train_items(items, runs_dir, progress=progress, jobs=jobs, evidence=evidence)
    return {(spec.name, seed): why[i] for i, (spec, seed) in enumerate(items) if i in why}


def _train_items(items: list[tuple[RunSpec, int]], runs_dir: Path, *, progress: bool, jobs: int | None,
                 evidence: Path | None = None) -> dict[int, str]:
    """Train each ``(spec, seed)``, ``jobs`` at a time (default: :data:`GPU_JOBS` when the runs train on the GPU,
    the CPU count when every run uses one thread, else 1); returns ``{index in items: reason}`` of the runs that diverged."""
    from sslre import parallel

    if not items:
        return {}
    if jobs is None:
        single = all(c.num_threads == 1 for spec, _ in items for c in spec.configs)
        gpu = any(c.device == "cuda" for spec, _ in items for c in spec.configs)
        jobs = parallel.jobs(GPU_JOBS if gpu else None if single else 1)
    jobs = max(1, min(jobs, len(items)))
    # Generators first: the SSL runs that read their targets can then be measured as soon as they finish.
    order = sorted(range(len(items)), key=lambda i: items[i][0].kind != "targets")
    index = {str(items[i][0].run_dir(runs_dir, items[i][1])): i for i in order}
    if jobs == 1:
        done = [_train_one((items[i][0], items[i][1], runs_dir, evidence, progress)) for i in order]
    else:
        work = [(items[i][0], items[i][1], runs_dir, evidence, False) for i in order]
        done = [r for batch in parallel.run_parallel(
            _train_one, work, jobs, desc="training", progress=progress,
            label=lambda r: f"{Path(r[3]).name} {'diverged' if r[2] else 'done'}") for r in batch]
    out = {index[folder]: why for _, _, why, folder in done if why}
    return out


if __name__ == "__main__":  # pragma: no cover - the former spelling of `sslre train-run ...`
    import sys

    from sslre.cli import main

    sys.exit(main(sys.argv[1:]))
