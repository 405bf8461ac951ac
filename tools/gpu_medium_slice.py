"""A short slice of `sslre reproduce --profile medium --device cuda`, to size the full command to the device time.

    python tools/gpu_medium_slice.py                 # on a GPU machine (~3 minutes on an H200)
    python tools/gpu_medium_slice.py --smoke         # CPU check of the script itself, tiny sizes

Trains the medium main run's config with ``--device cuda``'s overrides (bf16, the uint8 split on the GPU, batched
GPU augmentation) for a few epochs on a synthetic 10,000-image set, 1, 2, 4 and 8 runs at once (one process
each, as ``sslre reproduce --device cuda`` runs them), and prints for each: the aggregate images/s of the GPU
(every process's steady epochs) and the wall time of the slice. From the best one it extrapolates the training
of the medium registry (every run x seed at its epochs and image count, the wide and deep nets scaled by their
measured CPU cost ratio, ``sslre.plan``), so the full command can be checked against the device time left.
Writes ``$OUT/gpu_medium_slice.json`` (OUT defaults to ./gpu_medium_slice_out).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time


def _train_slice(args: tuple) -> dict:
    """One worker: train the medium main config for ``epochs`` on a synthetic set; its steady images/s."""
    epochs, n_images, smoke, seed = args
    import torch

    from sslre.config import profile_config
    from sslre.data.base import ImageSet
    from sslre.experiments import GPU_OVERRIDES
    from sslre.train import train

    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g)  # (N, 3, 32, 32)
    labels = torch.randint(0, 10, (n_images,), generator=g)  # (N,) 10 classes, as CIFAR-10
    data = ImageSet(images, labels, labels // 5, tuple(f"c{i}" for i in range(10)), ("s0", "s1"), "synthetic")
    over = dict(GPU_OVERRIDES) if not smoke else {"device": "cpu"}
    sizes = dict(arch="RES-1-16", proj_hidden=32, proj_out=32, batch_size=64) if smoke else {}
    config = profile_config("medium", epochs=epochs, checkpoint_epochs=(0, epochs), warmup_epochs=0, seed=seed,
                            **over, **sizes)
    with tempfile.TemporaryDirectory(prefix="gpu_slice_") as tmp:
        train(config, os.path.join(tmp, "run"), progress=False, data=data)
        rows = [json.loads(line) for line in open(os.path.join(tmp, "run", "history.jsonl"))]
    steady = [r for r in rows if r["epoch"] >= 2] or [r for r in rows if r["epoch"] >= 1]  # epoch 1: warm-up
    return {"images": sum(r["images"] for r in steady), "seconds": sum(r["seconds"] for r in steady)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: checks the script, measures nothing real")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per run (the first trained one is warm-up)")
    ap.add_argument("--jobs", default="1,2,4,8", help="runs at once to try, comma-separated")
    a = ap.parse_args(argv)

    import torch

    from sslre import parallel
    from sslre.experiments import runs_for
    from sslre.plan import images_per_epoch

    if not a.smoke and not torch.cuda.is_available():
        print("gpu_medium_slice: no CUDA device (torch.cuda.is_available() is False); use --smoke on a CPU",
              file=sys.stderr)
        return 2
    n_images = 512 if a.smoke else 10_000
    info = {"device": torch.cuda.get_device_name(0) if not a.smoke else f"cpu smoke ({platform.machine()})",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "epochs": a.epochs, "images": n_images}
    print("gpu_medium_slice:", json.dumps(info), flush=True)
    results = []
    for k in (int(x) for x in a.jobs.split(",")):
        t0 = time.perf_counter()
        work = [(a.epochs, n_images, a.smoke, seed) for seed in range(k)]
        done = [r for batch in parallel.run_parallel(_train_slice, work, k, desc=f"{k} at once", progress=False)
                for r in batch]
        wall = time.perf_counter() - t0
        # Steady aggregate: k processes side by side, each at its own steady rate.
        agg = sum(r["images"] / r["seconds"] for r in done)
        results.append({"jobs": k, "wall_s": round(wall, 1), "aggregate_images_per_s": round(agg, 1)})
        print(f"gpu_medium_slice: {k} run(s) at once: {agg:,.0f} images/s in all, slice wall {wall:.1f} s",
              flush=True)
    best = max(results, key=lambda r: r["aggregate_images_per_s"])
    # The registry's training in main-run image-epochs (wide and deep nets cost more per image: sslre.plan).
    image_epochs = 0.0
    for spec in runs_for("medium").values():
        if spec.kind != "train":
            continue
        for seed in spec.seeds:
            cfg = spec.config_for(seed)
            image_epochs += images_per_epoch(cfg) * cfg.epochs * _cost_ratio(cfg)
    hours = image_epochs / best["aggregate_images_per_s"] / 3600
    summary = {**info, "results": results, "best_jobs": best["jobs"],
               "registry_main_run_image_epochs": round(image_epochs),
               "training_hours_estimate": round(hours, 3), "smoke": a.smoke}
    print(f"gpu_medium_slice: best {best['jobs']} at once; the medium registry's training ~ {hours * 60:.1f} min "
          "(generators and measurement not included)", flush=True)
    out = os.environ.get("OUT", "gpu_medium_slice_out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpu_medium_slice.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


def _cost_ratio(cfg) -> float:
    """Per-image cost of ``cfg``'s net relative to the medium main run's, from the CPU figures of ``sslre.plan``
    (a GPU gains more on bigger nets, so this over- rather than under-estimates)."""
    from sslre.experiments import runs_for
    from sslre.plan import _cpu_seconds_per_image_epoch

    main = runs_for("medium")["vicreg"].config_for(0)
    per, ref = _cpu_seconds_per_image_epoch(cfg), _cpu_seconds_per_image_epoch(main)
    return 1.0 if per is None or ref is None else per / ref


if __name__ == "__main__":
    sys.exit(main())
