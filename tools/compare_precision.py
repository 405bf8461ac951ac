"""Do two groups of runs (e.g. bf16 autocast and fp32, same seeds) agree within seed noise?

    python tools/compare_precision.py --a RUNS_BF16/vicreg-s0 RUNS_BF16/vicreg-s1 RUNS_BF16/vicreg-s2 \
        --b RUNS_FP32/vicreg-s0 RUNS_FP32/vicreg-s1 RUNS_FP32/vicreg-s2 [--measure]

Reads each run folder's ``measurements.csv`` (``--measure`` first measures folders that have none, class level at
the last layer only, with the run's profile settings). Compares the last-checkpoint, last-layer, class-level NCC
test accuracy and linear (svc) test accuracy. The rule (tests/test_train_bench.py, fixed before the comparison):
the groups agree when, for both metrics, |mean(a) - mean(b)| < 2 standard errors of the difference (Welch) and
< 0.02 absolute. Prints one line per metric and the decision; exit code 0 = agree, 1 = differ, 2 = bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

METRICS = ("ncc_test_acc", "linear_test_acc")
ABSOLUTE = 0.02
SE_MULTIPLE = 2.0


def _measure(folder: Path) -> None:
    from sslre.checkpoint import list_checkpoints
    from sslre.config import Config
    from sslre.experiments import Coverage, RunSpec
    from sslre.measure import RunInfo, measure_run

    config = Config.from_dict(json.loads((folder / "config.json").read_text()))
    spec = RunSpec("vicreg", (config,), (config.seed,), (), "precision comparison",
                   coverage=Coverage(all_layers=False, random=False, controls=False, sample=False))
    info = RunInfo("vicreg", config.seed, config, folder, dict(list_checkpoints(folder)))
    measure_run(spec, info, progress=False)


def last_cell(folder: Path, metric: str) -> float:
    """Class level, last layer, raw features, last epoch."""
    t = pd.read_csv(folder / "measurements.csv", keep_default_na=False)
    t = t[(t["level"] == "class") & (t["metric"] == metric) & (t["features"] == "raw") & (t["layer"] != "")]
    t = t[(t["layer"].astype(float) == t["layer"].astype(float).max())]
    t = t[t["epoch"].astype(int) == t["epoch"].astype(int).max()]
    if len(t) != 1:
        raise ValueError(f"{folder}: expected one {metric} cell at the last layer and epoch, found {len(t)}")
    return float(t["value"].iloc[0])


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def compare(a: list[Path], b: list[Path]) -> tuple[bool, list[str]]:
    lines, agree = [], True
    for metric in METRICS:
        va, vb = [last_cell(f, metric) for f in a], [last_cell(f, metric) for f in b]
        (ma, sa), (mb, sb) = _mean_sd(va), _mean_sd(vb)
        se = math.sqrt(sa ** 2 / len(va) + sb ** 2 / len(vb))
        diff = ma - mb
        ok = abs(diff) < SE_MULTIPLE * se and abs(diff) < ABSOLUTE
        agree &= ok
        lines.append(f"{metric}: a {ma:.4f} (sd {sa:.4f}, n={len(va)}: {', '.join(f'{v:.4f}' for v in va)}) "
                     f"b {mb:.4f} (sd {sb:.4f}, n={len(vb)}: {', '.join(f'{v:.4f}' for v in vb)}) "
                     f"diff {diff:+.4f}, 2 SE {SE_MULTIPLE * se:.4f} -> {'agree' if ok else 'differ'}")
    return agree, lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", nargs="+", type=Path, required=True)
    p.add_argument("--b", nargs="+", type=Path, required=True)
    p.add_argument("--measure", action="store_true", help="measure folders without measurements.csv first")
    args = p.parse_args(argv)
    for folder in args.a + args.b:
        if not (folder / "config.json").is_file():
            print(f"compare_precision: {folder} is not a run folder (no config.json)", file=sys.stderr)
            return 2
        if not (folder / "measurements.csv").is_file():
            if not args.measure:
                print(f"compare_precision: {folder} has no measurements.csv (use --measure)", file=sys.stderr)
                return 2
            _measure(folder)
    if min(len(args.a), len(args.b)) < 3:
        print("compare_precision: need >= 3 runs per group (seed noise from fewer is not evidence)", file=sys.stderr)
        return 2
    agree, lines = compare(args.a, args.b)
    print("\n".join(lines))
    print("decision:", "agree within seed noise" if agree else "differ")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
