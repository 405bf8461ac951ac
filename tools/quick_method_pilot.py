"""Pilot of a method's quick recipe: does the main run learn? (docs/PERFORMANCE.md, "Quick recipes per method").

Trains the quick profile's main run as METHOD with each variant of settings, on pilot seeds that no claim reads
(10-12 by default), and prints the class-level gain from epoch 0 to the last epoch on the last layer: the svc
linear probe and NCC test accuracy, the numbers the measurements table holds as ``linear_test_acc`` /
``ncc_test_acc``. Runs go two at a time, one thread each.

    python tools/quick_method_pilot.py --method byol --variant base= --variant pred256=byol_pred_hidden=256 \
        --out DIR
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_variant(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition("=")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, val = item.partition(":")
        overrides[key] = _value(val)
    return name, overrides


def _one(job: tuple[str, str, dict, int, str]) -> dict:
    import torch

    from sslre.checkpoint import load_checkpoint
    from sslre.config import profile_config
    from sslre.data import load_dataset_for
    from sslre.features import extract_layer_features
    from sslre.metrics import linear_probe_accuracy, ncc_accuracy
    from sslre.train import train

    torch.set_num_threads(1)
    method, name, overrides, seed, out = job
    config = profile_config("quick", method=method, seed=seed, **overrides)
    run_dir = Path(out) / f"{method}-{name}-s{seed}"
    train(config, run_dir, progress=False)
    data = load_dataset_for(config)
    epochs = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("epoch_*.pt"))
    row = {"method": method, "variant": name, "seed": seed, "overrides": overrides}
    for epoch in (epochs[0], epochs[-1]):
        model = load_checkpoint(run_dir / "checkpoints" / f"epoch_{epoch:04d}.pt").model
        tr = extract_layer_features(model, data.train.images, progress=False)[-1]
        te = extract_layer_features(model, data.test.images, progress=False)[-1]
        row[f"linear_e{epoch}"] = float(linear_probe_accuracy(tr, data.train.labels, te, data.test.labels, "svc"))
        row[f"ncc_e{epoch}"] = float(ncc_accuracy(tr, data.train.labels, te, data.test.labels))
    row["linear_gain"] = row[f"linear_e{epochs[-1]}"] - row[f"linear_e{epochs[0]}"]
    row["ncc_gain"] = row[f"ncc_e{epochs[-1]}"] - row[f"ncc_e{epochs[0]}"]
    losses = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    row["loss_first_last"] = (losses[0]["loss_total"], losses[-1]["loss_total"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", required=True)
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=field:value,field:value (Config fields; empty = the quick preset)")
    ap.add_argument("--seeds", default="10,11,12")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", required=True, help="folder for the pilot runs")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(args.method, *_parse_variant(v), s, args.out) for v in args.variant for s in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(_one, jobs):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
