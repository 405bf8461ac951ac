"""Runs imported from checkpoints written by a plain torchvision training loop: import, measure, errors."""
import json
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from sslre.checkpoint import CheckpointError, list_checkpoints
from sslre.cli import main
from sslre.config import ConfigError
from sslre.data import load_dataset_for
from sslre.imported import (
    backbone_state_dict,
    claims_without_runs,
    epoch_of,
    import_loader,
    import_run,
    imported_run_info,
    measure_imported,
    TapBackbone,
)
from sslre.profiles import MeasureSettings, SampleLevelSettings

DATA = dict(dataset="synthetic", train_subset=40, test_subset=20)
LAYERS = ["layer1", "layer2", "layer3", "layer4"]
TAPS = ["layer2", "layer4"]  # measured: two taps keep the test fast


def _plain_training(folder, epochs=3):
    """A user's loop: torchvision ResNet-18, a few SGD steps per epoch on random images, ``epoch_<e>.pt`` after each.

    The files take the three accepted forms: a plain state dict, Lightning's ``{"state_dict": {"backbone.*"}}``
    (with a projector beside it), and ``{"model": state dict of a DDP-wrapped net ("module.*")}``.
    """
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    folder.mkdir()
    for epoch in range(epochs):
        if epoch:
            for _ in range(2):
                x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
                opt.zero_grad()
                nn.functional.cross_entropy(net(x), y).backward()
                opt.step()
        sd = {k: v.clone() for k, v in net.state_dict().items()}
        if epoch == 0:
            blob = sd
        elif epoch == 1:
            blob = {"state_dict": {**{f"backbone.{k}": v for k, v in sd.items() if not k.startswith("fc.")},
                                   "projector.0.weight": torch.zeros(4, 512)}, "epoch": epoch}
        else:
            blob = {"model": {f"module.{k}": v for k, v in sd.items()}}
        torch.save(blob, folder / f"epoch_{epoch}.pt")
    return net


def test_epoch_is_the_last_integer_of_the_name():
    assert [epoch_of(n) for n in ("epoch_0.pt", "ckpt-epoch=0010.ckpt", "r18_s2_e7.pth")] == [0, 10, 7]
    with pytest.raises(ConfigError, match="no epoch number"):
        epoch_of("final.pt")


def test_import_and_measure_a_torchvision_run(tmp_path):
    net = _plain_training(tmp_path / "ckpts")
    run = import_run(str(tmp_path / "ckpts" / "epoch_*.pt"), "torchvision:resnet18", TAPS, DATA["dataset"],
                     tmp_path / "run", method="supervised-ce", seed=0,
                     train_subset=DATA["train_subset"], test_subset=DATA["test_subset"])
    manifest = json.loads((run / "import.json").read_text())
    assert manifest["layers"] == TAPS and manifest["backbone"] == "torchvision:resnet18"
    assert sorted(manifest["epochs"]) == ["0", "1", "2"] and all(len(e["sha256"]) == 64 for e in manifest["epochs"].values())
    assert list(list_checkpoints(run)) == [0, 1, 2]
    # the loader gives the trained weights back, tapped and pooled to (B, C) per layer
    x = torch.randn(2, 3, 32, 32)
    tapped = import_loader(run)(list_checkpoints(run)[2]).eval()
    net.eval()
    with torch.no_grad():
        feats = tapped.forward_layers(x)
        want = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                             net.layer4)(x).mean(dim=(2, 3))
    assert [tuple(f.shape) for f in feats] == [(2, 128), (2, 512)]
    every_tap = TapBackbone(torchvision.models.resnet18(), LAYERS).eval().forward_layers(x)
    assert [tuple(f.shape) for f in every_tap] == [(2, 64), (2, 128), (2, 256), (2, 512)]
    assert feats[-1].numpy() == pytest.approx(want.numpy(), abs=1e-5)

    m = measure_imported(run, "quick", settings=MeasureSettings(probe="svc", l2_variant=False),
                         sample_settings=SampleLevelSettings(8, 5, 2), progress=False)
    t = m.table
    assert set(t["run"]) == {"vicreg"} and set(t["method"]) == {"supervised-ce"}
    assert set(t["arch"]) == {"torchvision:resnet18"} and set(t["seed"]) == {0}
    main_levels = t[t["level"].isin(["sample", "class", "superclass"])]
    cells = main_levels.groupby(["level", "metric"])[["epoch", "layer"]].apply(
        lambda g: sorted(set(zip(g["epoch"], g["layer"]))))
    every = sorted((e, float(layer)) for e in (0, 1, 2) for layer in range(len(TAPS)))
    for metric in ("ncc_train_acc", "ncc_test_acc", "linear_test_acc"):
        for level in ("sample", "class", "superclass"):
            assert cells[(level, metric)] == every
    assert t["value"].notna().all() and t.loc[t["metric"].str.endswith("_acc"), "value"].between(0, 1).all()
    assert m.last_layer("vicreg") == 1
    assert (run / "measurements.csv").is_file()
    again = measure_imported(run, "quick", settings=MeasureSettings(probe="svc", l2_variant=False),
                             sample_settings=SampleLevelSettings(8, 5, 2), progress=False)
    assert again.table.equals(t)  # read back from the cache
    missing = claims_without_runs("quick", ["vicreg"])
    assert missing["ssl-vs-supervised-ncc"] == ["supervised", "supervised-aa", "vicreg-deep"]
    assert "sample-clusters-first" in missing and missing["sample-clusters-first"] == ["vicreg-deep"]
    assert "mine-compression" not in missing  # served by the main run alone
    # the claims on it: those of the main run alone get a verdict, the others are recorded with their commands
    from sslre.imported import imported_measurements

    im = imported_measurements([run], "quick", settings=MeasureSettings(probe="svc", l2_variant=False),
                               sample_settings=SampleLevelSettings(8, 5, 2))
    assert im.table.equals(t) and im.missing_for("semantic-gains-not-sample") == {}
    assert sorted(im.missing_for("ssl-vs-supervised-ncc")) == ["supervised", "supervised-aa", "vicreg-deep"]
    assert all(c.startswith("sslre ") for cmds in im.absent.values() for c in cmds)
    verdict = _decide("test_sec6_layers.py", "test_semantic_gains_not_sample", "semantic-gains-not-sample", im)
    assert verdict["verdict"] == "inconclusive" and "3 seeds" in verdict["reason"]   # one imported seed
    loss = _decide("test_sec4_clustering.py", "test_regularization_drives_learning", "regularization-drives-learning",
                   im)
    assert loss["verdict"] == "not applicable" and "no per-epoch loss history" in loss["reason"]


def test_a_changed_source_file_is_refused(tmp_path):
    _plain_training(tmp_path / "ckpts", epochs=1)
    run = import_run([tmp_path / "ckpts" / "epoch_0.pt"], "torchvision:resnet18", ["layer4"], "synthetic",
                     tmp_path / "run")
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "ckpts" / "epoch_0.pt")
    with pytest.raises(CheckpointError, match="sha256 differs from import.json"):
        import_loader(run)(list_checkpoints(run)[0])
    assert imported_run_info(run).depth == 0


def test_state_dict_errors_are_one_line():
    model = torchvision.models.resnet18()
    with pytest.raises(CheckpointError, match=r"holds a list, not a state dict"):
        backbone_state_dict([1, 2], model)
    with pytest.raises(CheckpointError, match=r"the backbone's weights are not in it"):
        backbone_state_dict({"encoder.conv1.weight": torch.zeros(64, 3, 7, 7)}, model)
    other = torchvision.models.resnet34().state_dict()
    with pytest.raises(CheckpointError, match=r"weight 'layer1.2.conv1.weight' belongs to no module of the backbone"):
        backbone_state_dict(other, model)
    wide = {k: (torch.zeros(32, 3, 7, 7) if k == "conv1.weight" else v) for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"weight 'conv1.weight' has shape \(32, 3, 7, 7\)"):
        backbone_state_dict(wide, model)


def test_cli_import_run_and_its_errors(tmp_path, capsys):
    _plain_training(tmp_path / "ckpts", epochs=2)
    glob = str(tmp_path / "ckpts" / "epoch_*.pt")
    base = ["import-run", "--checkpoints", glob, "--backbone", "torchvision:resnet18", "--dataset", "synthetic"]
    assert main([*base, "--layers", "layer2,layer4", "--set", "train_subset=40", "--run-dir", str(tmp_path / "r")]) == 0
    info = imported_run_info(tmp_path / "r")
    assert info.layers == ("layer2", "layer4") and info.config.train_subset == 40 and sorted(info.checkpoints) == [0, 1]
    assert load_dataset_for(info.config).train.labels.shape == (40,)
    capsys.readouterr()
    for args, code, needle in (
        (["--layers", "layer9", "--run-dir", str(tmp_path / "x")], 2, "layer tap 'layer9' is not a node or module"),
        (["--layers", "layer4", "--set", "lr=0.1", "--run-dir", str(tmp_path / "x")], 2, "unknown data field(s) ['lr']"),
        (["--layers", "layer4", "--hierarchy", "h.json", "--run-dir", str(tmp_path / "x")], 2,
         "is for imagefolder:<path> datasets only"),
    ):
        assert main([*base, *args]) == code
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
    rc = main(["import-run", "--checkpoints", str(tmp_path / "none_*.pt"), "--backbone", "torchvision:resnet18",
               "--layers", "layer4", "--dataset", "synthetic", "--run-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 4 and "no checkpoint file matches" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "epoch_1.pt").write_text("not torch")
    rc = main(["import-run", "--checkpoints", str(tmp_path / "junk" / "*.pt"), "--backbone", "torchvision:resnet18",
               "--layers", "layer4", "--dataset", "synthetic", "--run-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 4 and "cannot be loaded as weights" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def _decide(file: str, test: str, claim_id: str, m) -> dict:
    """One claim test of ``claims/`` called on ``m`` directly; its recorded entry."""
    import importlib.util

    from _pytest.outcomes import OutcomeException

    from sslre.claims.plugin import ClaimRecord

    path = Path(__file__).resolve().parent.parent / "claims" / file
    spec = importlib.util.spec_from_file_location(f"_claims_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rec = ClaimRecord(claim_id, test, profile="quick")
    try:
        getattr(mod, test)(m, rec)
    except OutcomeException:
        pass
    return rec.data


def test_relative_data_paths_are_stored_absolute(tmp_path, monkeypatch):
    """The manifest names the tree and the hierarchy file absolutely: measured from any folder (the claims run in
    the repository root), the run reads the same files."""
    import numpy as np
    from PIL import Image

    _plain_training(tmp_path / "ckpts", epochs=1)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (tmp_path / "pets" / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "pets" / split / cls / f"{i}.png")
    (tmp_path / "h.csv").write_text("a,x\nb,y\n")
    monkeypatch.chdir(tmp_path)
    run = import_run("ckpts/epoch_*.pt", "torchvision:resnet18", TAPS, "imagefolder:pets", "run", hierarchy="h.csv")
    config = json.loads((run / "import.json").read_text())["config"]
    assert config["dataset"] == f"imagefolder:{(tmp_path / 'pets').resolve()}"
    assert config["hierarchy"] == str((tmp_path / "h.csv").resolve())
