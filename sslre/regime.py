"""Has a profile trained into the regime the paper describes? Four checks on finished runs' tables and histories.

The paper's claims are about nets trained to a plateau: sample-level NCC train accuracy near 1.0 and flat from
paper epoch 400 (Fig. 2 left), a supervised baseline without augmentation at train accuracy 1.0 (Fig. 3 right),
losses that have stopped falling. A verdict on runs that stop before that state says little about the paper, so
each profile's report states these checks with their values (the ``medium`` profile is sized to meet them):

=====================  ====================================================================  ==============
criterion              statement (per training seed; met when every seed meets it)            threshold
=====================  ====================================================================  ==============
``sample-plateau``     main VICReg run, last layer: sample-level NCC train accuracy at the    <= 0.02
                       last checkpoint minus that at paper epoch 400 (lr-integral mapping)
``supervised-fit``     ``supervised`` run (no augmentation): train accuracy of the last epoch  >= 0.99
``loss-flat``          every SSL run: relative change of the total loss over the last 10% of   < 0.02
                       its epochs, ``|L(E) - L(E - ceil(E/10))| / |L(E - ceil(E/10))|``
``width-enough``       sample-level NCC train accuracy (last layer, last checkpoint): wide     <= 0.02
                       run minus main run (twice the features buys no more)
=====================  ====================================================================  ==============

The sample-level level reached (the paper's is about 1.0) is reported beside ``sample-plateau``.
Inputs are what a run folder holds (``measurements.csv``, ``history.jsonl``, ``config.json``), so the checks run
on committed evidence without checkpoints.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from sslre.schedule import paper_epoch_to_run

PLATEAU_TOLERANCE = 0.02        # "within 0.02 of the one at paper epoch 400"
SUPERVISED_FIT = 0.99           # "train accuracy >= 0.99"
LOSS_CHANGE = 0.02              # "< 2% over the last 10% of its epochs"
WIDTH_GAIN = 0.02               # twice the features buys at most this much sample-level NCC accuracy
PAPER_SAMPLE_LEVEL = 0.9        # "reach the paper's level (>= 0.9) where the budget allows"
SSL_METHODS = ("vicreg", "simclr")


@dataclass(frozen=True)
class Criterion:
    """One check: its per-seed values, the threshold, whether every seed meets it, and a one-line summary."""

    name: str
    statement: str
    values: Mapping[str, float]     # "<run>-s<seed>" -> value
    threshold: float
    met: bool
    note: str = ""
    missing: Sequence[str] = field(default_factory=tuple)   # run folders the check needs that are not there

    def to_dict(self) -> dict:
        """The criterion as the report stores it (``reproduction.json``'s ``regime.criteria``)."""
        return {"name": self.name, "statement": self.statement, "threshold": self.threshold, "met": self.met,
                "values": {k: float(v) for k, v in sorted(self.values.items())}, "note": self.note,
                "missing": list(self.missing), "summary": self.summary()}

    def summary(self) -> str:
        if self.missing and not self.values:
            return f"{self.name}: not measurable yet (needs {', '.join(self.missing)})"
        vals = ", ".join(f"{k} {v:.3f}" for k, v in sorted(self.values.items()))
        state = "met" if self.met else "NOT met"
        extra = f"; {self.note}" if self.note else ""
        gap = "" if not self.missing else f"; still missing {', '.join(self.missing)}"
        return f"{self.name}: {state} ({self.statement}; {vals}){extra}{gap}"


@dataclass
class RunFolder:
    """What the checks read of one finished run: config, history rows, measurements table (may be empty)."""

    label: str
    config: dict
    history: list[dict]
    table: pd.DataFrame

    @classmethod
    def read(cls, folder: Path | str) -> "RunFolder":
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text())
        hist_path = folder / "history.jsonl"
        history = [json.loads(x) for x in hist_path.read_text().splitlines() if x.strip()] if hist_path.is_file() else []
        csv = folder / "measurements.csv"
        table = pd.read_csv(csv, keep_default_na=False) if csv.is_file() else pd.DataFrame()
        return cls(folder.name, config, history, table)


def _sample_ncc_train(table: pd.DataFrame, epoch: int) -> float:
    """Last layer, raw features, sample level, NCC train accuracy at ``epoch`` (NaN if absent)."""
    if table.empty:
        return math.nan
    t = table[(table["level"] == "sample") & (table["metric"] == "ncc_train_acc") & (table["features"] == "raw")
              & (table["layer"].astype(str) != "")]
    if t.empty:
        return math.nan
    last = t["layer"].astype(float).max()
    row = t[(t["layer"].astype(float) == last) & (t["epoch"].astype(int) == int(epoch))]
    return float(row["value"].astype(float).mean()) if len(row) else math.nan


def _runs(folders: Mapping[str, RunFolder], name: str) -> list[RunFolder]:
    return [f for label, f in sorted(folders.items()) if label.rsplit("-s", 1)[0] == name]


def sample_plateau(folders: Mapping[str, RunFolder], run: str = "vicreg") -> Criterion:
    values, levels = {}, []
    for f in _runs(folders, run):
        c = f.config
        e400 = paper_epoch_to_run(400, c["epochs"], c["warmup_epochs"], c["checkpoint_epochs"])
        last, mid = _sample_ncc_train(f.table, c["epochs"]), _sample_ncc_train(f.table, e400)
        if not (math.isnan(last) or math.isnan(mid)):
            values[f.label] = last - mid
            levels.append(last)
    met = bool(values) and all(abs(v) <= PLATEAU_TOLERANCE for v in values.values())
    note = ""
    if levels:
        mean = sum(levels) / len(levels)
        note = (f"level reached {mean:.3f} (n={len(levels)} seeds; paper ~1.0, goal >= {PAPER_SAMPLE_LEVEL}: "
                f"{'reached' if mean >= PAPER_SAMPLE_LEVEL else f'{PAPER_SAMPLE_LEVEL - mean:.3f} short'})")
    return Criterion("sample-plateau", "last-layer sample-level NCC train acc, last checkpoint minus paper epoch 400",
                     values, PLATEAU_TOLERANCE, met, note)


def supervised_fit(folders: Mapping[str, RunFolder], run: str = "supervised") -> Criterion:
    values = {}
    for f in _runs(folders, run):
        accs = [r.get("accuracy") for r in f.history if r.get("epoch") == f.config["epochs"]]
        if accs and accs[0] is not None:
            values[f.label] = float(accs[0])
    met = bool(values) and all(v >= SUPERVISED_FIT for v in values.values())
    augment = {f.config.get("supervised_augment", "crop-flip") for f in _runs(folders, run)}
    return Criterion("supervised-fit", f"train accuracy of the last epoch (augmentation: {', '.join(sorted(augment))})",
                     values, SUPERVISED_FIT, met)


def loss_flat(folders: Mapping[str, RunFolder]) -> Criterion:
    values = {}
    for label, f in sorted(folders.items()):
        if f.config.get("method") not in SSL_METHODS:
            continue
        epochs = int(f.config["epochs"])
        by_epoch = {int(r["epoch"]): r.get("loss_total") for r in f.history}
        start = epochs - math.ceil(epochs / 10)
        a, b = by_epoch.get(start), by_epoch.get(epochs)
        if a is not None and b is not None and a != 0:
            values[label] = abs(b - a) / abs(a)
    met = bool(values) and all(v < LOSS_CHANGE for v in values.values())
    return Criterion("loss-flat", "relative change of the total loss over the last 10% of epochs", values,
                     LOSS_CHANGE, met)


def width_enough(folders: Mapping[str, RunFolder], main: str = "vicreg", wide: str = "vicreg-wide") -> Criterion:
    values = {}
    mains = {f.label.rsplit("-s", 1)[1]: f for f in _runs(folders, main)}
    for f in _runs(folders, wide):
        seed = f.label.rsplit("-s", 1)[1]
        if seed in mains:
            m = mains[seed]
            gain = _sample_ncc_train(f.table, f.config["epochs"]) - _sample_ncc_train(m.table, m.config["epochs"])
            if not math.isnan(gain):
                values[f"{wide}-s{seed}"] = gain
    met = bool(values) and all(v <= WIDTH_GAIN for v in values.values())
    widths = sorted({f.config["arch"] for f in _runs(folders, main) + _runs(folders, wide)})
    return Criterion("width-enough", f"sample-level NCC train acc, wide minus main ({' vs '.join(widths)})",
                     values, WIDTH_GAIN, met)


def check_regime(folders: Mapping[str, RunFolder], expected: Sequence[str] = ()) -> list[Criterion]:
    """The four criteria on ``folders`` (``"<run>-s<seed>" -> RunFolder``); ``expected`` labels that are absent
    are listed as missing on the criteria that read them."""
    out = [sample_plateau(folders), supervised_fit(folders), loss_flat(folders), width_enough(folders)]
    reads = {"sample-plateau": ("vicreg",), "supervised-fit": ("supervised",),
             "loss-flat": ("vicreg", "vicreg-deep", "vicreg-mu5", "vicreg-mu100", "vicreg-narrow", "vicreg-wide",
                           "simclr"),
             "width-enough": ("vicreg", "vicreg-wide")}
    absent = [e for e in expected if e not in folders]
    final = []
    for c in out:
        miss = tuple(a for a in absent if a.rsplit("-s", 1)[0] in reads[c.name])
        final.append(Criterion(c.name, c.statement, c.values, c.threshold, c.met and not miss, c.note, miss))
    return final


def read_folders(base: Path | str) -> dict[str, RunFolder]:
    """Every run folder under ``base`` that has a ``config.json``, by folder name."""
    base = Path(base)
    if not base.is_dir():
        return {}
    return {p.name: RunFolder.read(p) for p in sorted(base.iterdir()) if (p / "config.json").is_file()}


def regime_entry(base: Path | str, expected: Sequence[str] = ()) -> dict:
    """``reproduction.json``'s ``regime``: the four criteria on the run folders under ``base`` (the published runs),
    ``expected`` run labels that are absent listed as missing; ``met`` when every criterion is."""
    crits = check_regime(read_folders(base), expected)
    return {"criteria": [c.to_dict() for c in crits], "met": all(c.met for c in crits),
            "source": "sslre/regime.py on the published run folders (runs/ beside the report)"}


#: The quick recipe check's margin (claims/test_quick_recipe.py): a main run "learns" when its class-level linear and
#: NCC test accuracy (last layer) each gain at least this much from epoch 0 to the last epoch.
LEARNS_GAIN = 0.06


def class_gains(table: pd.DataFrame) -> dict[str, float]:
    """``{"linear": gain, "ncc": gain}``: class-level test accuracy (raw features, last layer), last epoch minus
    epoch 0, from one run's measurements table (NaN where absent)."""
    out = {}
    t = table[(table["level"] == "class") & (table["features"] == "raw") & (table["layer"].astype(str) != "")]
    if not t.empty:
        t = t[t["layer"].astype(float) == t["layer"].astype(float).max()]
    for key, metric in (("linear", "linear_test_acc"), ("ncc", "ncc_test_acc")):
        u = t[t["metric"] == metric] if not t.empty else t
        if u.empty:
            out[key] = math.nan
            continue
        e = u["epoch"].astype(int)
        out[key] = float(u[e == e.max()]["value"].astype(float).mean() - u[e == e.min()]["value"].astype(float).mean())
    return out
