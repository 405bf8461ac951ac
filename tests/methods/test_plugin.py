"""Plug-in methods: ``Config.method = "package.module:ClassName"`` trains a user's SSLMethod subclass."""
import json
import math
from pathlib import Path

import pytest
import torch

from sslre.checkpoint import load_checkpoint, read_checkpoint
from sslre.config import Config, ConfigError, profile_config
from sslre.data.base import ImageSet
from sslre.methods import build_method, method_class
from sslre.train import train

REPO = Path(__file__).resolve().parents[2]
TOY = "tests.methods.toy_method:ToyMethod"


@pytest.fixture(autouse=True)
def importable_tests(monkeypatch):
    # The class path names a module under the repository root, as a user's package on PYTHONPATH would be.
    monkeypatch.syspath_prepend(str(REPO))


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 4
    return ImageSet(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), labels, labels // 2,
                    ("a", "b", "c", "d"), ("x", "y"), "tiny/train")


def _config(**kw):
    base = dict(method=TOY, arch="RES-1-8", proj_hidden=16, proj_out=8, batch_size=16, epochs=2,
                checkpoint_epochs=(0, 2), num_threads=1, device="cpu", lr=0.01, warmup_epochs=0)
    base.update(kw)
    return profile_config("quick", **base)


def test_toy_plugin_trains_two_epochs_and_its_checkpoint_rebuilds_it(tmp_path):
    from tests.methods.toy_method import ToyMethod

    cfg = _config()
    run = train(cfg, tmp_path / "toy", progress=False, data=_data())
    assert json.loads((run / "config.json").read_text())["method"] == TOY
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert 0 <= r["loss_invariance"] <= 4 and r["loss_total"] == r["loss_invariance"]
        assert r["loss_regularization"] is None and r["loss_variance"] is None and r["accuracy"] is None
    assert rows[2]["loss_total"] < rows[0]["loss_total"]  # it learned: the views' projections agree more
    assert read_checkpoint(run / "checkpoints" / "last.pt")["config"]["method"] == TOY
    ck = load_checkpoint(run / "checkpoints" / "epoch_0002.pt")
    assert ck.config == cfg and type(ck.method) is ToyMethod and ck.method.loss_terms == ("invariance",)
    torch.manual_seed(cfg.seed)
    init = build_method(cfg).state_dict()
    trained = ck.method.state_dict()
    assert set(trained) == set(init)
    assert not torch.equal(trained["backbone.blocks.0.conv1.weight"], init["backbone.blocks.0.conv1.weight"])
    # Same config, same numbers: the plug-in is as deterministic as the built-ins.
    again = train(cfg, tmp_path / "again", progress=False, data=_data())
    other = read_checkpoint(again / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(other[k], v) for k, v in read_checkpoint(run / "checkpoints" / "last.pt")["model"].items())


def test_plugin_spec_round_trips_through_the_config_dict():
    cfg = _config()
    assert Config.from_dict(cfg.to_dict()) == cfg and cfg.method == TOY
    assert method_class(TOY).__name__ == "ToyMethod"


@pytest.mark.parametrize("spec,match", [
    ("tests.methods.no_such_module:ToyMethod", r"module 'tests.methods.no_such_module' cannot be imported "
                                               r"\(ModuleNotFoundError"),
    ("tests.methods.toy_method:Missing", "module 'tests.methods.toy_method' has no class 'Missing'"),
    ("tests.methods.toy_method:NotAMethod", "'NotAMethod' is class NotAMethod, not a subclass of "
                                            "sslre.methods.SSLMethod"),
    ("tests.methods.toy_method:F", "'F' is a module, not a subclass of sslre.methods.SSLMethod"),
    ("tests.methods.toy_method:BadTerms", r"loss_terms \['uniformity'\] are not among"),
    ("tests.methods.toy_method:", "neither a built-in"),
    (":ToyMethod", "neither a built-in"),
])
def test_bad_plugin_is_a_one_line_config_error(spec, match):
    with pytest.raises(ConfigError, match=match) as e:
        _config(method=spec)
    assert "\n" not in str(e.value) and spec in str(e.value)
    assert e.value.__cause__ is None  # no chained traceback to show


def test_plugin_cli_trains(tmp_path, capsys):
    from sslre.cli import main

    run = tmp_path / "cli"
    args = ["train", "--profile", "quick", "--method", TOY, "--arch", "RES-1-8", "--set", "proj_hidden=16",
            "--set", "proj_out=8", "--set", "train_subset=64", "--set", "batch_size=16", "--epochs", "1",
            "--device", "cpu", "--no-progress", "--run-dir", str(run)]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and all(math.isfinite(r["loss_invariance"]) for r in rows)
