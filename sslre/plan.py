"""``sslre plan``: every training run a profile's claims need, as commands for one GPU, N GPUs or a SLURM array.

The run matrix comes from :func:`sslre.experiments.runs_for` (aliases left out: they reuse another run's folder).
Each run (one name x one seed) gets

- ``command``: the exact ``sslre train ...`` line (or ``sslre train-run ...`` for the random-target generators),
  from :func:`sslre.experiments.train_command`;
- ``torchrun_command``: the same run on ``$GPUS`` processes (``torchrun --nproc_per_node=$GPUS -m sslre.cli
  train ...``; the global batch stays ``batch_size``, see :mod:`sslre.train`); ``None`` for the target generators,
  which train on one device;
- ``run_dir``, whether it is already ``done``, and ``gpu_hours``: an estimate from
  :data:`GPU_SECONDS_PER_IMAGE_EPOCH`, a table filled from a real GPU measurement (``tools/gpu_check.sh``).
  Where the table has nothing to go on the plan says ``unmeasured``: it never estimates from CPU timings.
- ``cpu_hours_left``: one core's hours still to train, from :data:`CPU_SECONDS_PER_IMAGE_EPOCH` (a reference CPU)
  scaled to this machine: a run with epochs trained here at its own pace, the others by the median ratio of those
  paces to the reference (:func:`speed_factor`; the header says which speed it used).

Every command is idempotent: a finished run (``RUN/DONE``) returns at once, an unfinished one resumes from
``RUN/checkpoints/last.pt``. That is what makes the SLURM array (``--format slurm``) safe to requeue.

Formats (:func:`plan`): ``lines`` (a commented header, then one tab-separated line per run: run, GPU-hours,
state, run dir, command, torchrun command), ``json`` (for scripts), ``slurm`` (a ``#SBATCH --array=0-N`` script whose
task ``$SLURM_ARRAY_TASK_ID`` runs run number ``$SLURM_ARRAY_TASK_ID`` of the plan).
"""
from __future__ import annotations

import json
import math
import shlex
import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

from sslre.config import Config, ConfigError, parse_arch
from sslre.evidence import is_published
from sslre.experiments import RunSpec, default_runs_dir, run_is_complete, runs_for, train_command
from sslre.train import read_history

#: One GPU's wall-clock seconds per training image per epoch, keyed ``"method/arch/precision"`` with precision
#: ``bf16`` (``amp=True``) or ``fp32`` (e.g. ``"vicreg/RES-5-250/fp32"``), or ``"targets/resnet18"`` /
#: ``"targets/vit"``, as measured by ``tools/gpu_check.sh`` (steady-state images/s of the full-profile setting:
#: batch 256, channels_last, 50,000 images). Empty means unmeasured: every estimate then prints "unmeasured".
#: CPU timings never go here.
GPU_SECONDS_PER_IMAGE_EPOCH: dict[str, float] = {
    # 1 / (steady-state images per second) on the device of GPU_MEASUREMENT.
    "vicreg/RES-5-250/bf16": 9.969e-05,
    "vicreg/RES-5-250/fp32": 1.0398e-04,
}

#: Where the numbers in :data:`GPU_SECONDS_PER_IMAGE_EPOCH` come from (device, torch, date, settings).
GPU_MEASUREMENT: dict[str, str] = {
    "device": "NVIDIA H200", "torch": "2.11.0+cu130", "date": "2026-11-26", "script": "tools/gpu_check.sh",
    "setting": "VICReg batch 256, channels_last, 50,000 synthetic 32 px images, steady-state epochs",
}

#: One CPU core's seconds per training image per epoch (one-thread run, a second run beside it on a 2-core Intel
#: Xeon with AVX-512/AMX, torch 2.14.1, channels_last, batch 256; docs/PERFORMANCE.md "Profiles on real CIFAR-10").
#: What ``sslre plan`` estimates CPU-hours from; other archs are scaled by forward MACs x views.
CPU_SECONDS_PER_IMAGE_EPOCH: dict[str, float] = {
    "vicreg/RES-3-64/fp32": 1.80e-3,
    "vicreg/RES-3-128/fp32": 5.26e-3,
    "vicreg/RES-6-64/fp32": 2.66e-3,
    "vicreg/RES-3-16/fp32": 4.2e-4,
    "supervised/RES-6-64/fp32": 1.28e-3,
    "targets/resnet18": 4.3e-3,          # medium's width-16 generator: 425 CPU-s for 10 epochs of 10,000 images
}

#: CPU cost of a method's training step relative to VICReg's on the same net (a two-view method without a measured
#: entry of its own is scaled from VICReg's by this factor). Quick profile, main run, one seed, one thread, CPU
#: seconds of the whole `sslre train` minus ~5 s of start-up: vicreg 14, simclr 17, barlowtwins 17, byol 28
#: (BYOL runs the momentum encoder on both views and a 4096-wide predictor; quick's BYOL, with a 256-wide one as
#: its projector, takes about 0.65x that).
CPU_METHOD_FACTOR: dict[str, float] = {"vicreg": 1.0, "simclr": 1.2, "barlowtwins": 1.2, "byol": 2.0}

#: Training images per epoch of the datasets whose size is fixed (train split); others need ``train_subset``.
DATASET_TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "cifar10-jpeg": 50_000, "food101": 75_750}

FORMATS = ("lines", "json", "slurm")


@dataclass(frozen=True)
class PlannedRun:
    """One line of the plan (see the module docstring)."""

    name: str
    seed: int
    kind: str                        # train | targets
    run_dir: str
    command: str
    torchrun_command: Optional[str]
    images_per_epoch: Optional[int]
    epochs: int
    gpu_hours: Optional[float]       # None = unmeasured
    estimate: str                    # measured | scaled from <key> | unmeasured
    done: bool
    claims: tuple[str, ...]
    epochs_done: int = 0             # epochs in the run's history (an unfinished run resumes there)
    cpu_hours_left: Optional[float] = None   # one-core hours still to train (None = unmeasured; 0 when done)
    cpu_s_per_epoch_ref: Optional[float] = None   # one core's seconds per epoch by CPU_SECONDS_PER_IMAGE_EPOCH
    cpu_s_per_epoch_here: Optional[float] = None  # the same, measured on this machine's epochs of this run

    @property
    def label(self) -> str:
        return f"{self.name}-s{self.seed}"


def _head_macs(config: Config, width: int) -> int:
    if config.method == "supervised":
        return width * 100  # linear classifier: negligible next to the convolutions
    return width * config.proj_hidden + config.proj_hidden * config.proj_out


def macs_per_view(config: Config) -> int:
    """Multiply-accumulates of one forward of one view through RES-L-H + head at ``config.image_size`` px.

    Stem: 2x2 stride-2 convs (3 -> H at S/2, H -> H at S/4); blocks: two 3x3 convs of H channels at S/4 each.
    Only used to *scale* a measured GPU time to another architecture.
    """
    depth, width = parse_arch(config.arch)
    s2, s4 = (config.image_size // 2) ** 2, (config.image_size // 4) ** 2
    stem = s2 * 3 * width * 4 + s4 * width * width * 4
    blocks = depth * 2 * s4 * width * width * 9
    return stem + blocks + _head_macs(config, width)


def _views(config: Config) -> int:
    return 1 if config.method == "supervised" else 2


def precision(config: Config) -> str:
    """``bf16`` when the run trains under bf16 autocast (``amp``, CUDA), else ``fp32``."""
    return "bf16" if config.amp else "fp32"


def images_per_epoch(config: Config) -> Optional[int]:
    """Training images per epoch (``train_subset`` if set, else the dataset's train split; None if unknown)."""
    if config.train_subset > 0:
        return int(config.train_subset)
    return DATASET_TRAIN_IMAGES.get(config.dataset)


def seconds_per_image_epoch(config: Config, table: dict[str, float] | None = None, *,
                            floor: bool = True) -> tuple[Optional[float], str]:
    """GPU seconds per image per epoch for ``config`` and how it was obtained.

    ``measured``: the table holds ``method/arch/precision`` (precision from ``config.amp``). ``scaled from K``:
    the table holds another architecture K, same precision, of the same method or else of a two-view method; the
    time is scaled by forward MACs x views when that is larger (a rough guide); ``floor from K``: a smaller net
    gets K's time, since the measured net is already overhead-bound (GPU; ``floor=False`` scales down too, as a CPU
    does). ``unmeasured``: nothing to go on.
    """
    table = GPU_SECONDS_PER_IMAGE_EPOCH if table is None else table
    prec = precision(config)
    key = f"{config.method}/{config.arch}/{prec}"
    if key in table:
        return float(table[key]), "measured"
    # Prefer a measurement of the same method, then any two-view method (SimCLR and VICReg share the network).
    ours = [k for k in table if k.count("/") == 2 and k.endswith(f"/{prec}") and "/RES-" in k]
    same = sorted(k for k in ours if k.startswith(f"{config.method}/"))
    other = sorted(k for k in ours if k.split("/")[0] in ("vicreg", "simclr"))
    for ref_key in same + other:
        ref_method, ref_arch, _ = ref_key.split("/")
        ref = config.replace(method=ref_method, arch=ref_arch)
        scale = (macs_per_view(config) * _views(config)) / (macs_per_view(ref) * _views(ref))
        if scale < 1 and floor:
            # Smaller nets do not run faster than the measured one: RES-5-250 itself is not compute-bound on an
            # H200 (bf16 and fp32 measured within 5 %), so the per-step overhead (augmentation, launches) is a floor.
            return float(table[ref_key]), f"floor from {ref_key}"
        return float(table[ref_key]) * scale, f"scaled from {ref_key}"
    return None, "unmeasured"


def _planned(spec: RunSpec, seed: int, runs_dir: Path, table: dict[str, float],
             evidence: Path | None = None) -> PlannedRun:
    config = spec.config_for(seed)
    run_dir = spec.run_dir(runs_dir, seed)
    command = train_command(spec, seed, runs_dir)
    if spec.kind == "targets":
        torchrun = None
        key = f"targets/{spec.target.kind}"
        n, epochs = images_per_epoch(config), spec.target.epochs
        per, how = (float(table[key]), "measured") if key in table else (None, "unmeasured")
    else:
        args = shlex.split(command)
        if args[:2] != ["sslre", "train"]:  # pragma: no cover - train_command's contract
            raise ValueError(f"unexpected train command {command!r}")
        # $GPUS stays unquoted so the shell (or the SLURM script) fills it in.
        torchrun = "torchrun --nproc_per_node=$GPUS -m sslre.cli train " + " ".join(shlex.quote(a) for a in args[2:])
        n, epochs = images_per_epoch(config), config.epochs
        per, how = seconds_per_image_epoch(config, table)
    hours = per * n * epochs / 3600.0 if (per is not None and n is not None) else None
    if hours is None:
        how = "unmeasured"
    done = run_is_complete(spec, run_dir) or is_published(spec, seed, evidence)
    rows = read_history(run_dir)
    epochs_done = epochs if done else _epochs_done(rows)
    cpu_per = (CPU_SECONDS_PER_IMAGE_EPOCH.get(f"targets/{spec.target.kind}") if spec.kind == "targets" else
               _cpu_seconds_per_image_epoch(config))
    ref = cpu_per * n if cpu_per is not None and n is not None else None
    here = _seconds_per_epoch_here(rows) if spec.kind == "train" else None
    per_epoch = here if here is not None else ref
    cpu_left = 0.0 if done else (per_epoch * (epochs - epochs_done) / 3600.0 if per_epoch is not None else None)
    return PlannedRun(spec.dir_name or spec.name, seed, spec.kind, str(run_dir), command, torchrun, n, epochs, hours, how,
                      done, tuple(spec.claims), epochs_done, cpu_left, ref, here)


def _seconds_per_epoch_here(rows: list[dict]) -> Optional[float]:
    """Mean seconds of the trained epochs (>= 1) of a history on this machine: CPU seconds where the rows record
    them, else wall seconds (one thread per run); None with fewer than 2 trained epochs."""
    secs = [float(r.get("cpu_seconds", r.get("seconds"))) for r in rows
            if int(r.get("epoch", 0)) >= 1 and r.get("cpu_seconds", r.get("seconds")) is not None]
    return sum(secs) / len(secs) if len(secs) >= 2 else None


def speed_factor(runs: Sequence[PlannedRun]) -> tuple[Optional[float], int]:
    """This machine's CPU seconds per epoch over the reference's (:data:`CPU_SECONDS_PER_IMAGE_EPOCH`): the median
    over the runs with epochs trained here, and how many those are; ``(None, 0)`` when none has."""
    ratios = [r.cpu_s_per_epoch_here / r.cpu_s_per_epoch_ref for r in runs
              if r.cpu_s_per_epoch_here is not None and r.cpu_s_per_epoch_ref]
    return (statistics.median(ratios), len(ratios)) if ratios else (None, 0)


def _cpu_seconds_per_image_epoch(config: Config) -> Optional[float]:
    """One core's seconds per image-epoch: measured for the method if :data:`CPU_SECONDS_PER_IMAGE_EPOCH` has it,
    else VICReg's (scaled to the arch) times :data:`CPU_METHOD_FACTOR` (None for a method without one)."""
    config = config.replace(amp=False)
    per, how = seconds_per_image_epoch(config, CPU_SECONDS_PER_IMAGE_EPOCH, floor=False)
    if per is None or how == "measured" or config.method == "supervised":
        return per
    if config.method not in CPU_METHOD_FACTOR:
        return None
    vic, _ = seconds_per_image_epoch(config.replace(method="vicreg"), CPU_SECONDS_PER_IMAGE_EPOCH, floor=False)
    return None if vic is None else vic * CPU_METHOD_FACTOR[config.method]


def _epochs_done(rows: list[dict]) -> int:
    """The last epoch of a run's history rows (0 if none): where the run resumes."""
    return max((int(r.get("epoch", 0)) for r in rows), default=0)


def plan_runs(profile: str, runs_dir: str | Path | None = None,
              table: dict[str, float] | None = None, methods: Sequence[str] | None = None) -> list[PlannedRun]:
    """Every (run, seed) of ``profile``'s registry, in registry order (aliases left out); with ``methods`` (the
    generality matrix), the registry of each method in turn, a run shared between methods listed once."""
    from sslre.evidence import evidence_dir

    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    table = GPU_SECONDS_PER_IMAGE_EPOCH if table is None else table
    evidence = evidence_dir(profile)   # a published run is done wherever its checkpoints are
    out, seen = [], set()
    for method in (methods or [None]):
        for spec in runs_for(profile, method).values():
            if spec.kind == "alias":
                continue
            for seed in spec.seeds:
                if spec.run_dir(runs_dir, seed) not in seen:
                    seen.add(spec.run_dir(runs_dir, seed))
                    out.append(_planned(spec, seed, runs_dir, table, evidence))
    factor, _ = speed_factor(out)
    if factor is not None:   # runs not started here take this machine's measured speed, not the reference's
        out = [replace(r, cpu_hours_left=r.cpu_hours_left * factor)
               if not r.done and r.cpu_s_per_epoch_here is None and r.cpu_hours_left is not None else r for r in out]
    return out


#: What both estimate lines say when every run is done (not "unmeasured": there is nothing to estimate).
NOTHING_LEFT = "none (every run is done)"


def _hours(h: Optional[float]) -> str:
    # 3 significant digits: quick-profile runs take seconds of GPU time, full ones hours.
    return "unmeasured" if h is None else (f"{h:.1f}" if h >= 100 else f"{h:.3g}")


def _total(runs: list[PlannedRun]) -> tuple[Optional[float], int]:
    """Sum of the estimated GPU-hours of the runs not done yet, and how many of those are unmeasured."""
    todo = [r for r in runs if not r.done]
    known = [r.gpu_hours for r in todo if r.gpu_hours is not None]
    return (sum(known) if known else None), len(todo) - len(known)


def _cpu_total(runs: list[PlannedRun]) -> str:
    """``"X CPU-hours (Y hours on 2 cores)"`` still to train, naming runs without an estimate."""
    todo = [r for r in runs if not r.done]
    known = [r.cpu_hours_left for r in todo if r.cpu_hours_left is not None]
    text = f"{sum(known):.2f} core-hours ({sum(known) / 2:.2f} hours on 2 cores)" if known else "unmeasured"
    unknown = [r.label for r in todo if r.cpu_hours_left is None]
    return text + (f" + {len(unknown)} run(s) unmeasured ({', '.join(unknown[:4])}{'...' if len(unknown) > 4 else ''})"
                   if unknown else "")


def _spent_line(profile: str) -> list[str]:
    """``["# spent on the N published runs: ..."]`` for a profile that publishes its runs, else ``[]``."""
    from sslre.evidence import evidence_dir, recorded_cost

    cost = recorded_cost(evidence_dir(profile))
    if not cost["runs"]:
        return []
    h = {k: v / 3600.0 for k, v in cost.items()}
    total = h["training"] + h["generators"] + h["measurement"]
    wall = (f"; {h['wall_only']:.2f} of the training hours are wall time of runs published before CPU time was "
            "recorded, an upper bound") if cost["wall_only"] else ""
    return [f"# spent on the {int(cost['runs'])} published runs: {total:.2f} core-hours (training {h['training']:.2f}, "
            f"generators {h['generators']:.2f}, measurement {h['measurement']:.2f}){wall}"]


def _speed_note(runs: Sequence[PlannedRun]) -> str:
    factor, n = speed_factor(runs)
    if factor is None:
        return "at the reference CPU's speed, sslre.plan.CPU_SECONDS_PER_IMAGE_EPOCH; no epoch trained here yet"
    return f"at this machine's speed: {factor:.2f}x the reference CPU's seconds, from {n} run(s) trained here"


def _state(r: PlannedRun) -> str:
    return "done" if r.done else (f"partial {r.epochs_done}/{r.epochs}" if r.epochs_done else "todo")


def _measurement_note() -> str:
    if not GPU_SECONDS_PER_IMAGE_EPOCH:
        return "GPU time per image-epoch: unmeasured (run tools/gpu_check.sh on a GPU and fill sslre.plan.GPU_SECONDS_PER_IMAGE_EPOCH)"
    where = ", ".join(f"{k}={v}" for k, v in sorted(GPU_MEASUREMENT.items())) or "source not recorded"
    return f"GPU time per image-epoch measured on: {where}"


def format_lines(profile: str, runs: list[PlannedRun], runs_dir: Path) -> str:
    total, unmeasured = _total(runs)
    todo = sum(not r.done for r in runs)
    head = [
        f"# sslre plan --profile {profile}: {len(runs)} runs ({todo} to do) under {runs_dir}",
        f"# estimated GPU-hours still to do: {_hours(total) if todo else NOTHING_LEFT}"
        + (f" (+ {unmeasured} unmeasured run(s))" if unmeasured and total is not None else ""),
        f"# estimated CPU training still to do (one thread per run, {_speed_note(runs)}): "
        + (_cpu_total(runs) if todo else NOTHING_LEFT),
        *_spent_line(profile),
        f"# {_measurement_note()}",
        "# every command is idempotent and resumes from RUN/checkpoints/last.pt; on N GPUs set GPUS=N and use the "
        "torchrun command",
        "# run\tgpu_hours\tstate\trun_dir\tcommand\ttorchrun_command",
    ]
    rows = [
        "\t".join([r.label, _hours(r.gpu_hours), _state(r), r.run_dir, r.command,
                   r.torchrun_command or "-"])
        for r in runs
    ]
    return "\n".join(head + rows)


def format_json(profile: str, runs: list[PlannedRun], runs_dir: Path) -> str:
    total, unmeasured = _total(runs)
    doc = {
        "profile": profile,
        "runs_dir": str(runs_dir),
        "gpu_seconds_per_image_epoch": dict(GPU_SECONDS_PER_IMAGE_EPOCH),
        "gpu_measurement": dict(GPU_MEASUREMENT),
        "total_gpu_hours_todo": total,
        "unmeasured_runs_todo": unmeasured,
        "runs": [{**asdict(r), "run": r.label, "claims": list(r.claims)} for r in runs],
    }
    return json.dumps(doc, indent=2, allow_nan=False)


def _slurm_time(runs: list[PlannedRun]) -> str:
    # Wall limit per task: the longest estimate + 25 %, capped at 48 h (requeue + resume cover longer runs);
    # 48 h when unmeasured.
    known = [r.gpu_hours for r in runs if r.gpu_hours is not None]
    hours = 48 if not known or len(known) < len(runs) else min(48, max(1, math.ceil(1.25 * max(known))))
    return f"{hours}:00:00"


def format_slurm(profile: str, runs: list[PlannedRun], runs_dir: Path) -> str:
    """A SLURM array script: task i runs plan line i (torchrun on ``$GPUS`` GPUs when > 1), requeued on preemption."""
    if not runs:
        raise ConfigError(f"profile {profile!r} has no runs to schedule")
    total, unmeasured = _total(runs)
    cmds = "\n".join(f"  {shlex.quote(r.command)}  # {i}: {r.label}" for i, r in enumerate(runs))
    tcmds = "\n".join(f"  {shlex.quote(r.torchrun_command or '')}  # {i}: {r.label}" for i, r in enumerate(runs))
    log_dir = runs_dir / "slurm-logs"
    return f"""#!/bin/bash
# Generated by `sslre plan --profile {profile} --format slurm`: {len(runs)} runs under {runs_dir}.
# Estimated GPU-hours still to do: {_hours(total)}{f" (+ {unmeasured} unmeasured)" if unmeasured and total is not None else ""}.
# {_measurement_note()}
# Submit from the sslre checkout:  mkdir -p {shlex.quote(str(log_dir))} && sbatch this_script.sh
# Multi-GPU tasks: add --gres=gpu:N and export SSLRE_GPUS=N (each run then uses torchrun on N GPUs).
# Runs are idempotent (RUN/DONE) and resume from RUN/checkpoints/last.pt, so a preempted or timed-out task that
# is requeued continues where it stopped; a finished task is a no-op.
#SBATCH --job-name=sslre-{profile}
#SBATCH --array=0-{len(runs) - 1}
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time={_slurm_time(runs)}
#SBATCH --requeue
#SBATCH --signal=B:USR1@300
#SBATCH --open-mode=append
#SBATCH --output={log_dir}/%x-%A_%a.out
set -euo pipefail

export SSLRE_RUNS={shlex.quote(str(runs_dir))}
GPUS="${{SSLRE_GPUS:-1}}"

CMDS=(
{cmds}
)
TORCHRUN_CMDS=(
{tcmds}
)

task="${{SLURM_ARRAY_TASK_ID:?run this script with sbatch (SLURM_ARRAY_TASK_ID is not set)}}"
if [ "$task" -lt 0 ] || [ "$task" -ge "${{#CMDS[@]}}" ]; then
  echo "sslre: array task $task is outside 0..$(( ${{#CMDS[@]}} - 1 ))" >&2
  exit 2
fi
cmd="${{CMDS[$task]}}"
if [ "$GPUS" -gt 1 ] && [ -n "${{TORCHRUN_CMDS[$task]}}" ]; then
  cmd="${{TORCHRUN_CMDS[$task]}}"
fi

# Near the time limit SLURM sends USR1: requeue this array task; it resumes from last.pt.
requeue() {{
  echo "sslre: time limit near, requeueing task $task" >&2
  scontrol requeue "${{SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}}_$task"
}}
trap requeue USR1

echo "sslre: task $task on $(hostname): $cmd"
eval "$cmd" &
wait $!
"""


def plan(profile: str, runs_dir: str | Path | None = None, fmt: str = "lines",
         methods: Sequence[str] | None = None) -> str:
    """The plan of ``profile`` in format ``fmt`` (``lines`` | ``json`` | ``slurm``), as text (``sslre plan``);
    ``methods``: the generality matrix's runs (``sslre reproduce --methods``)."""
    if fmt not in FORMATS:
        raise ConfigError(f"plan format {fmt!r} is unknown; allowed: {', '.join(FORMATS)}")
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    if methods:
        from sslre.reproduce import _method_order

        methods = _method_order(methods)
    runs = plan_runs(profile, runs_dir, methods=methods)
    return {"lines": format_lines, "json": format_json, "slurm": format_slurm}[fmt](profile, runs, runs_dir)
