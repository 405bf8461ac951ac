#!/usr/bin/env bash
# GPU check for the full profile (<= ~8 minutes on an H100/H200). Run from the repo root:
#
#     PYTHONPATH=$SITE:. bash tools/gpu_check.sh            # on a GPU machine
#     PYTHONPATH=. bash tools/gpu_check.sh --smoke              # CPU smoke test with tiny sizes
#
# Prints and writes $OUT/gpu_check.json (OUT defaults to ./gpu_check_out):
#   - GPU name, torch/torchvision versions;
#   - images/s and epoch seconds of a short full-profile VICReg RES-5-250 training on a 50,000-image synthetic set
#     (batch 256, channels_last), with bf16 autocast and with amp off; steady state = epochs after the first;
#   - GPU_SECONDS_PER_IMAGE_EPOCH entries to paste into sslre/plan.py, and the GPU-hours they extrapolate to for
#     `sslre plan --profile full`'s run matrix;
# then runs the GPU benchmark variants: pytest tests -m "benchmark and gpu" --benchmark-json $OUT/bench_gpu.json.
# Robust to another torch (the lent machine has torch 2.11 / torchvision 0.26): only public APIs, and lightly /
# umap-learn are installed from ./.whl into $SITE (default: a fresh temporary folder) when they are missing.
set -uo pipefail

SMOKE=0
EPOCHS="${GPU_CHECK_EPOCHS:-3}"
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    *) echo "gpu_check: unknown argument $arg (allowed: --smoke)" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if ! python3 -c "import lightly" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  SITE="${SITE:-$(mktemp -d)}"
  echo "gpu_check: installing carried wheels (.whl) into $SITE"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl \
    || echo "gpu_check: wheel install failed; continuing" >&2
  export PYTHONPATH="$SITE:${PYTHONPATH:-.}"
fi
case ":${PYTHONPATH:-}:" in *":.:"*|*":$PWD:"*) ;; *) export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}." ;; esac

SMOKE="$SMOKE" EPOCHS="$EPOCHS" OUT="$OUT" python3 - <<'PY'
import json
import os
import platform
import sys
import tempfile
import time

import torch

smoke = os.environ["SMOKE"] == "1"
out_dir = os.environ["OUT"]
epochs = int(os.environ["EPOCHS"])
cuda = torch.cuda.is_available()
if not cuda and not smoke:
    sys.exit("gpu_check: no CUDA device (torch.cuda.is_available() is False); use --smoke for a CPU test")

import torchvision

from sslre.config import profile_config
from sslre.data.base import ImageSet
from sslre import plan as plan_mod
from sslre.train import train

info = {
    "gpu": torch.cuda.get_device_name(0) if cuda else "cpu (smoke)",
    "torch": torch.__version__, "torchvision": torchvision.__version__,
    "cuda": torch.version.cuda, "python": platform.python_version(), "smoke": smoke,
    "date": time.strftime("%Y-%m-%d"),
}
print("gpu_check:", json.dumps(info))

# Synthetic uint8 set: throughput does not depend on the pixel values, only on the sizes.
n_images = 512 if smoke else 50_000
g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g)  # (N, 3, 32, 32)
labels = torch.randint(0, 100, (n_images,), generator=g)  # (N,) 100 classes as CIFAR-100
data = ImageSet(images, labels, labels // 5, tuple(f"c{i}" for i in range(100)), tuple(f"s{i}" for i in range(20)),
                "synthetic-50k")

base = dict(method="vicreg", epochs=epochs, checkpoint_epochs=(0, epochs), device="cuda" if cuda else "cpu",
            channels_last=True)
if smoke:
    base.update(arch="RES-1-16", proj_hidden=32, proj_out=32, batch_size=64, num_threads=1)
arch = base.get("arch", "RES-5-250")


def measure(amp: bool) -> dict:
    config = profile_config("full", amp=amp, **base)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        t0 = time.perf_counter()
        run = train(config, os.path.join(tmp, "run"), progress=False, data=data)
        wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in open(os.path.join(run, "history.jsonl"))]
    trained = [r for r in rows if r["epoch"] >= 1]
    steady = trained[1:] or trained  # the first trained epoch carries cuDNN/allocator warm-up
    ips = sum(r["images"] for r in steady) / sum(r["seconds"] for r in steady)
    res = {
        "amp": amp, "arch": arch, "batch_size": config.batch_size, "channels_last": True, "images": n_images,
        "epochs": epochs, "wall_s": wall,
        "epoch_seconds": [round(r["seconds"], 3) for r in trained],
        "images_per_s_per_epoch": [round(r["images_per_s"], 1) for r in trained],
        "steady_images_per_s": ips, "steady_epoch_s": n_images / ips,
        "final_loss_total": trained[-1]["loss_total"],
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }
    print(f"gpu_check: VICReg {arch} batch {config.batch_size} amp={'bf16' if amp else 'off'} channels_last: "
          f"{ips:,.0f} images/s steady, {n_images / ips:.2f} s/epoch of {n_images} images "
          f"(epochs: {res['epoch_seconds']} s; loss {res['final_loss_total']:.3f}; wall {wall:.1f} s)")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    return res


results = [measure(True), measure(False)]

# Only a GPU measurement may fill the table; a smoke run shows the arithmetic but keys nothing real.
table = {}
if cuda:
    for r in results:
        table[f"vicreg/{arch}/{'bf16' if r['amp'] else 'fp32'}"] = 1.0 / r["steady_images_per_s"]
estimates = {}
for prec in ("bf16", "fp32"):
    t = {k: v for k, v in table.items() if k.endswith(prec)}
    # Re-plan with every training run at this precision (the registry's full configs have amp=False).
    from sslre.experiments import runs_for

    total, unmeasured, per_run = 0.0, 0, {}
    for spec in runs_for("full").values():
        if spec.kind == "alias":
            continue
        for seed in spec.seeds:
            cfg = spec.config_for(seed)
            if spec.kind != "train":
                unmeasured += 1
                per_run[f"{spec.name}-s{seed}"] = None
                continue
            cfg = cfg.replace(amp=(prec == "bf16"))
            per, how = plan_mod.seconds_per_image_epoch(cfg, t)
            n = plan_mod.images_per_epoch(cfg)
            h = per * n * cfg.epochs / 3600 if per is not None and n else None
            per_run[f"{spec.name}-s{seed}"] = None if h is None else round(h, 2)
            if h is None:
                unmeasured += 1
            else:
                total += h
    estimates[prec] = {"total_gpu_hours": round(total, 1) if table else None, "unmeasured_runs": unmeasured,
                       "per_run_gpu_hours": per_run}
    if table:
        print(f"gpu_check: full profile, {prec}: {total:,.1f} GPU-hours for the training runs "
              f"({unmeasured} target-generator runs unmeasured; other archs scaled by MACs from {arch})")

report = {"info": info, "results": results, "gpu_seconds_per_image_epoch": table, "full_plan_estimates": estimates}
path = os.path.join(out_dir, "gpu_check.json")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(report, f, indent=2)
os.replace(tmp, path)
print("gpu_check: GPU_SECONDS_PER_IMAGE_EPOCH =", json.dumps(table))
print("gpu_check: wrote", path)
PY
status=$?
if [ $status -ne 0 ]; then
  echo "gpu_check: measurement failed (exit $status)" >&2
  exit $status
fi

if [ "$SMOKE" = 1 ]; then
  echo "gpu_check: --smoke: skipping pytest tests -m 'benchmark and gpu' (needs CUDA)"
  exit 0
fi
echo "gpu_check: GPU benchmarks"
python3 -m pytest tests -m "benchmark and gpu" --benchmark-enable --benchmark-json "$OUT/bench_gpu.json" -q \
  -p no:cacheprovider
