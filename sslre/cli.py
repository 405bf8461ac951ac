"""The ``sslre`` command line: train, train-run, reproduce, report, plan, import-run, measure-run.

Each subcommand parses its flags here and calls one library function; the work lives in the library,
so scripts can call the same functions directly.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslre.config import METHODS, PROFILES_NAMES, ConfigError
from sslre.report.load import ReportError


_HIERARCHY_HELP = ("imagefolder only: superclass of each class, JSON {\"superclass\": [\"class\", ...]} or CSV "
                   "class,superclass (README, 'Test your own data'); without it the superclass claims do not apply")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run (resumes if RUN_DIR holds an unfinished one)")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    # No argparse choices: a plug-in "package.module:ClassName" is allowed too; Config names a bad value.
    p.add_argument("--method", required=True, metavar="METHOD",
                   help=f"{' | '.join(METHODS)} | package.module:ClassName (a plug-in subclass of "
                        "sslre.methods.SSLMethod, importable from PYTHONPATH)")
    p.add_argument("--arch", help="backbone RES-L-H, e.g. RES-5-250 (App. A.2)")
    p.add_argument("--mu", type=float, help="VICReg variance weight mu (App. B.3)")
    p.add_argument("--seed", type=int)
    p.add_argument("--dataset", help="synthetic | cifar10 | cifar100 | food101 | cifar10-jpeg | imagefolder:<path>")
    p.add_argument("--hierarchy", metavar="FILE", help=_HIERARCHY_HELP)
    p.add_argument("--epochs", type=int, help="override the profile's epoch count (checkpoints rescale)")
    p.add_argument("--autoaugment", action="store_true", help="supervised only: AutoAugment CIFAR-10 policy")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other Config field, e.g. --set batch_size=128 (unknown keys are an error)")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--no-progress", action="store_true")


def _add_train_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-run", help="train one run of a profile's registry at one seed, by name (the "
                                         "random-target generators have no `sslre train` form)")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    p.add_argument("--run", required=True, help="run name, e.g. targets-resnet18 (`sslre plan` lists them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir", type=Path, help="where runs live (default: $SSLRE_RUNS or runs/<profile>)")
    p.add_argument("--no-progress", action="store_true")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="train what a profile's claims need (or reuse it), run the claims, write the report")
    p.add_argument("--profile", choices=PROFILES_NAMES, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for reproduction.json and reproduction.html")
    p.add_argument("--runs-dir", type=Path, help="where runs live (default: $SSLRE_RUNS or runs/<profile>)")
    p.add_argument("--against", type=Path, metavar="REF",
                   help="reference reproduction.json to check for supported <-> refuted flips "
                        "(default: the profile's committed reference, e.g. reports/quick/reproduction.json)")
    p.add_argument("--dataset", metavar="DATASET",
                   help="train and measure the profile's runs on this dataset, e.g. imagefolder:<path> (use a "
                        "--runs-dir of its own)")
    p.add_argument("--hierarchy", metavar="FILE", help=_HIERARCHY_HELP)
    p.add_argument("--methods", metavar="M,M,...",
                   help="the generality matrix: SSL methods (built-in names or pkg.mod:Class plug-ins), each "
                        "deciding every method-generic claim; e.g. vicreg,simclr,barlowtwins,byol (default: the profile's; "
                        "quick: those four, the others: vicreg)")
    p.add_argument("--device", choices=("cuda",),
                   help="train every run on the GPU in bf16, several at once ($SSLRE_JOBS, default 4), and measure "
                        "there; give it its own --out (default: the profile's device)")
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
    p.add_argument("--methods", metavar="M,M,...", help="plan the generality matrix of these SSL methods "
                   "(as sslre reproduce --methods)")


def _add_import_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-run", help="make a run folder from your own checkpoints (README, 'Test your own "
                                          "checkpoints'), for measure-run and the claims")
    p.add_argument("--checkpoints", required=True, metavar="GLOB",
                   help="checkpoint files of one run, e.g. 'ckpts/epoch_*.pt' (quoted; the epoch is the last "
                        "integer in each name)")
    p.add_argument("--backbone", required=True, metavar="SPEC",
                   help="torchvision:NAME (e.g. torchvision:resnet18) | package.module:factory")
    p.add_argument("--layers", required=True, metavar="NAME,NAME",
                   help="layer taps shallow to deep (create_feature_extractor node names, e.g. "
                        "layer1,layer2,layer3,layer4)")
    p.add_argument("--dataset", required=True, help="what to measure on, e.g. imagefolder:<path> or cifar10")
    p.add_argument("--hierarchy", metavar="FILE", help=_HIERARCHY_HELP)
    p.add_argument("--method", default="imported", help="label of the table's method column (e.g. simclr)")
    p.add_argument("--seed", type=int, default=0, help="the training seed of these checkpoints")
    p.add_argument("--profile", choices=PROFILES_NAMES, default="quick", help="whose measurement sizes apply")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a data field: image_size, data_root, train_subset, test_subset")
    p.add_argument("--run-dir", required=True, type=Path)


def _add_measure_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure-run", help="measure imported run folders (one per seed) into their "
                                           "measurements.csv; lists the claims they cannot serve")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN")
    p.add_argument("--profile", choices=PROFILES_NAMES, default="quick")
    p.add_argument("--name", default="vicreg", help="registry run name the runs stand for (default: the main run)")
    p.add_argument("--claims", type=Path, metavar="OUT",
                   help="then decide the claims on them (as the main run) into OUT/reproduction.{json,html}; claims "
                        "that need runs an import lacks are recorded as not run")
    p.add_argument("--no-progress", action="store_true")


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_value(key: str, raw: str):
    """``raw`` (the text after ``KEY=``) as Config field ``key``'s kind; :class:`ConfigError` naming both if not.

    bool: true/false, 1/0, yes/no, on/off; int: a decimal integer; float: a number (``1e-3`` too); tuple: integers
    separated by commas, or a JSON list (``0,5,10`` or ``[0,5,10]``; one integer is a one-element list); str: the
    text, or a JSON string (``"lamb"``).
    """
    import json

    from sslre.config import field_kind

    kind = field_kind(key)
    text = raw.strip()
    try:
        if kind == "bool":
            if text.lower() in _TRUE + _FALSE:
                return text.lower() in _TRUE
            raise ValueError
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "tuple":
            body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
            return tuple(int(v) for v in body.split(",") if v.strip()) if body.strip() else ()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            return json.loads(text)
        return raw
    except ValueError:
        expected = {"bool": "true or false", "int": "an integer", "float": "a number",
                    "tuple": "integers separated by commas (e.g. 0,5,10)", "str": "a string"}[kind]
        raise ConfigError(f"--set {key}={raw!r}: {key} must be {expected}") from None


def _parse_set(items: list[str]) -> dict:
    import dataclasses

    from sslre.config import Config

    known = {f.name for f in dataclasses.fields(Config)}
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        if key not in known:
            raise ConfigError(f"unknown config key {key!r}; allowed keys: {', '.join(sorted(known))}")
        if key == "profile":
            raise ConfigError("the profile is chosen with --profile, not --set profile=...")
        out[key] = parse_value(key, raw)
    return out


#: Exit codes of ``sslre`` (the table in README.md, "Run folders, checkpoints and errors"). A user error is one line
#: on stderr and one of these; anything else is a bug and shows its traceback.
EXIT_OK = 0
EXIT_REPORT = 1       # reproduction.json unreadable or not a reproduction file
EXIT_CONFIG = 2       # bad flag, --set value, out-of-range field, run folder of another config (or a file)
EXIT_DATA = 3         # dataset missing, unreadable, empty class folder, link out of the tree
EXIT_CHECKPOINT = 4   # no usable checkpoint to resume from
EXIT_BUSY = 5         # another trainer holds the run folder
EXIT_FILESYSTEM = 6   # cannot create/write the run folder (read-only, no space, permissions)
EXIT_DIVERGED = 7     # training loss became NaN/inf (lower lr)
EXIT_INTERRUPTED = 130


def _user_error(e: BaseException) -> tuple[int, str] | None:
    """``(exit code, kind)`` of a user-caused exception; ``None`` for anything else (a bug: traceback)."""
    from sslre.checkpoint import CheckpointError
    from sslre.data.base import DataError, DatasetNotFoundError
    from sslre.targets import TargetError
    from sslre.train import RunDirLockedError

    for types, code, kind in (
        (RunDirLockedError, EXIT_BUSY, "run folder busy"),
        (ConfigError, EXIT_CONFIG, "config error"),
        (TargetError, EXIT_CONFIG, "random-target error"),  # e.g. a generator folder of another request
        (ReportError, EXIT_REPORT, "report error"),
        ((DataError, DatasetNotFoundError), EXIT_DATA, "data error"),
        (CheckpointError, EXIT_CHECKPOINT, "checkpoint error"),
        (OSError, EXIT_FILESYSTEM, "file system error"),
        (FloatingPointError, EXIT_DIVERGED, "training diverged"),
        (KeyboardInterrupt, EXIT_INTERRUPTED, "interrupted"),
    ):
        if isinstance(e, types):
            return code, kind
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sslre", description=__doc__.splitlines()[0],
                                     epilog="exit codes: 0 ok, 1 report, 2 config/usage, 3 data, 4 checkpoint, "
                                            "5 run folder busy, 6 file system, 7 diverged, 130 interrupted")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_train_run(sub)
    _add_reproduce(sub)
    _add_report(sub)
    _add_plan(sub)
    _add_import_run(sub)
    _add_measure_run(sub)
    for p in sub.choices.values():
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader left early (`sslre plan | head`): not an error. Point stdout at devnull so that Python's own
        # flush at exit does not complain a second time.
        import contextlib
        import os

        with contextlib.suppress(OSError, ValueError):   # a stdout without a file descriptor: nothing to point
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except BaseException as e:  # noqa: BLE001 - sorted into user errors (one line) and bugs (traceback)
        known = _user_error(e)
        if known is None or args.debug or isinstance(e, SystemExit):
            raise
        code, kind = known
        detail = " ".join(str(e).split()) or type(e).__name__  # one line, whatever the message holds
        print(f"sslre: {kind}: {detail} (run with --debug for the traceback)", file=sys.stderr)
        return code


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        import warnings

        from sslre.config import absolute_data_paths, profile_config
        from sslre.train import train

        overrides = _parse_set(args.set)
        for flag, key in (("method", "method"), ("arch", "arch"), ("mu", "vicreg_mu"), ("seed", "seed"),
                          ("dataset", "dataset"), ("hierarchy", "hierarchy"), ("epochs", "epochs"),
                          ("device", "device")):
            if getattr(args, flag) is not None:
                overrides[key] = getattr(args, flag)
        if args.autoaugment:
            overrides["autoaugment"] = True
        config = profile_config(args.profile, **absolute_data_paths(overrides))
        with warnings.catch_warnings():
            # A skipped checkpoint on resume is news for the user: one line, not a source-code excerpt.
            warnings.showwarning = _show_warning
            train(config, args.run_dir, progress=not args.no_progress)
    elif args.command == "train-run":
        from sslre.experiments import train_named

        train_named(args.profile, args.run, args.seed, args.runs_dir, progress=not args.no_progress)
    elif args.command == "reproduce":
        from sslre.reproduce import reproduce

        return reproduce(args.profile, args.out, runs_dir=args.runs_dir, pytest_args=args.pytest_args,
                         against=args.against, dataset=args.dataset, hierarchy=args.hierarchy,
                         methods=args.methods.split(",") if args.methods else None, device=args.device)
    elif args.command == "report":
        from sslre.report.html import render_report

        out = render_report(args.json, args.output, progress=_progress_line)
        print(out)
    elif args.command == "import-run":
        from sslre.imported import import_run

        data = _parse_set(args.set)
        if args.hierarchy:
            data["hierarchy"] = args.hierarchy
        run = import_run(args.checkpoints, args.backbone, args.layers.split(","), args.dataset, args.run_dir,
                         method=args.method, seed=args.seed, profile=args.profile, **data)
        print(run)
    elif args.command == "measure-run":
        from sslre.imported import claims_without_runs, measure_imported

        m = measure_imported(args.run_dirs, args.profile, name=args.name, progress=not args.no_progress)
        for d in args.run_dirs:
            print(d / "measurements.csv")
        print(f"sslre: {len(m.table)} rows; {m.table['epoch'].nunique()} epochs x {m.table['layer'].nunique()} "
              f"layers; seeds {m.seeds(args.name)}", file=sys.stderr)
        for claim, runs in claims_without_runs(args.profile, [args.name]).items():
            print(f"sslre: not run: {claim} (needs {', '.join(runs)})", file=sys.stderr)
        if args.claims is not None:
            from sslre.imported import decide_imported

            return decide_imported(args.run_dirs, args.profile, args.claims)
    elif args.command == "plan":
        from sslre.plan import plan

        print(plan(args.profile, runs_dir=args.runs_dir, fmt=args.format,
                   methods=args.methods.split(",") if args.methods else None))
    return EXIT_OK


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sslre: warning: {message}", file=sys.stderr)


def _progress_line(text: str) -> None:
    print(f"sslre: {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
