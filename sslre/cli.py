"""The ``sslre`` command line: train, reproduce, report, plan.

Each subcommand parses its flags here and calls one library function; the work lives in the library,
so scripts can call the same functions directly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslre.config import METHODS, PROFILES_NAMES, ConfigError
from sslre.report.load import ReportError


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run (resumes if RUN_DIR holds an unfinished one)")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--arch", help="backbone RES-L-H, e.g. RES-5-250 (App. A.2)")
    p.add_argument("--mu", type=float, help="VICReg variance weight mu (App. B.3)")
    p.add_argument("--seed", type=int)
    p.add_argument("--dataset", help="synthetic | cifar10 | cifar100 | food101 | cifar10-jpeg | imagefolder:<path>")
    p.add_argument("--epochs", type=int, help="override the profile's epoch count (checkpoints rescale)")
    p.add_argument("--autoaugment", action="store_true", help="supervised only: AutoAugment CIFAR-10 policy")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other Config field, e.g. --set batch_size=128 (unknown keys are an error)")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--no-progress", action="store_true")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="train what a profile's claims need (or reuse it), run the claims, write the report")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for reproduction.json and reproduction.html")
    p.add_argument("--runs-dir", type=Path, help="where runs live (default: $SSLRE_RUNS or runs/<profile>)")
    p.add_argument("--against", type=Path, metavar="REF",
                   help="reference reproduction.json to check for supported <-> refuted flips "
                        "(default: the profile's committed reference, e.g. reports/quick/reproduction.json)")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render reproduction.json into a self-contained HTML report")
    p.add_argument("json", type=Path)
    p.add_argument("-o", "--output", type=Path, help="default: beside the JSON, .html")


def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="list every run a profile's claims need, with its command (for a scheduler)")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    p.add_argument("--runs-dir", type=Path)
    p.add_argument("--format", choices=("lines", "json", "slurm"), default="lines")


def _parse_set(items: list[str]) -> dict:
    import dataclasses
    import json

    from sslre.config import Config

    types = {f.name: f.type for f in dataclasses.fields(Config)}
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        if key not in types:
            raise ConfigError(f"unknown config key {key!r}; allowed keys: {', '.join(sorted(types))}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key == "checkpoint_epochs":
            value = tuple(value)
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sslre", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_reproduce(sub)
    _add_report(sub)
    _add_plan(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            from sslre.config import profile_config
            from sslre.train import train

            overrides = _parse_set(args.set)
            for flag, key in (("method", "method"), ("arch", "arch"), ("mu", "vicreg_mu"), ("seed", "seed"),
                              ("dataset", "dataset"), ("epochs", "epochs"), ("device", "device")):
                if getattr(args, flag) is not None:
                    overrides[key] = getattr(args, flag)
            if args.autoaugment:
                overrides["autoaugment"] = True
            config = profile_config(args.profile, **overrides)
            train(config, args.run_dir, progress=not args.no_progress)
        elif args.command == "reproduce":
            from sslre.reproduce import reproduce

            return reproduce(args.profile, args.out, runs_dir=args.runs_dir, pytest_args=args.pytest_args,
                             against=args.against)
        elif args.command == "report":
            from sslre.report.html import render_report

            out = render_report(args.json, args.output)
            print(out)
        elif args.command == "plan":
            from sslre.plan import plan

            print(plan(args.profile, runs_dir=args.runs_dir, fmt=args.format))
    except ConfigError as e:
        print(f"sslre: config error: {e}", file=sys.stderr)
        return 2
    except ReportError as e:
        print(f"sslre: report error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
