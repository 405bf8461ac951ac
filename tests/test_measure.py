"""The measurements table: measure_run on a tiny stand-in run, caching, and Measurements.select/series."""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import sslre.measure as M
import sslre.metrics
from sslre.config import ConfigError, profile_config
from sslre.data.base import DataSplits, ImageSet
from sslre.experiments import Coverage, RunSpec
from sslre.profiles import MeasureSettings, SampleLevelSettings

DEPTH = 2


class TinyNet(nn.Module):
    """Stand-in backbone: channel means -> DEPTH+1 linear/tanh taps of width 4 (``forward_layers``)."""

    def __init__(self, weights: list[torch.Tensor]):
        super().__init__()
        self.w = nn.ParameterList([nn.Parameter(w) for w in weights])

    def forward_layers(self, x):
        h = x.float().mean(dim=(2, 3)) @ self.w[0]  # (B, 4) stem
        out = [h]
        for w in self.w[1:]:
            h = torch.tanh(h @ w)  # (B, 4) block
            out.append(h)
        return out

    def forward(self, x):
        return self.forward_layers(x)[-1]


def _imageset(n, seed, name):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    # class = colour offset, plus per-image noise: the stand-in net can separate classes, not perfectly
    base = torch.tensor([[40, 80, 120], [200, 60, 30], [90, 200, 90], [30, 30, 220]], dtype=torch.float32)
    imgs = base[labels][:, :, None, None] + 60 * torch.randn(n, 3, 8, 8, generator=g)
    return ImageSet(imgs.clamp(0, 255).to(torch.uint8), labels, labels // 2, ("a", "b", "c", "d"), ("x", "y"), name)


@pytest.fixture()
def standin(tmp_path):
    run_dir = tmp_path / "vicreg-s0"
    (run_dir / "checkpoints").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    ckpts = {}
    for epoch in (0, 2):
        ws = [torch.randn(3, 4, generator=g) * (1 + epoch)] + [torch.randn(4, 4, generator=g) for _ in range(DEPTH)]
        path = run_dir / "checkpoints" / f"epoch_{epoch:04d}.pt"
        torch.save({"weights": ws}, path)
        ckpts[epoch] = path
    with open(run_dir / "history.jsonl", "w") as f:
        for e in range(3):
            f.write(json.dumps({"epoch": e, "loss_invariance": 1.0 - 0.1 * e, "loss_regularization": 2.0 - 0.5 * e,
                                "loss_total": 3.0 - 0.6 * e, "loss_variance": 1.5, "loss_covariance": 0.5,
                                "lr": 0.1}) + "\n")
    config = profile_config("quick", arch=f"RES-{DEPTH}-4", epochs=2, checkpoint_epochs=(0, 2))
    data = DataSplits(_imageset(64, 1, "t/train"), _imageset(32, 2, "t/test"))
    s_tr = _imageset(40, 3, "s/train")
    names = tuple(f"img{i}" for i in range(8))
    sample = DataSplits(ImageSet(s_tr.images, torch.arange(40) % 8, s_tr.labels, names, s_tr.class_names, "s/train"),
                        ImageSet(s_tr.images[:16], torch.arange(16) % 8, s_tr.labels[:16], names, s_tr.class_names,
                                 "s/test"))
    level = types.SimpleNamespace(name="resnet18@1", randomness=0.5, usable=True,
                                  labels={"train": data.train.labels.flip(0), "test": data.test.labels.flip(0)})
    dead = types.SimpleNamespace(name="resnet18@0", randomness=1.0, usable=False, reason="one class",
                                 labels={"train": torch.zeros(64, dtype=torch.long), "test": torch.zeros(32, dtype=torch.long)})
    # usable but excluded by the degeneracy rule (sslre.targets.exclusion_reason): no random rows either
    excluded = types.SimpleNamespace(name="resnet18@2", randomness=0.0, usable=True, excluded=True,
                                     exclusion="train: majority share 0.900 > 0.5",
                                     labels={"train": data.train.labels, "test": data.test.labels})
    targets = [types.SimpleNamespace(levels=[dead, level, excluded])]
    spec = RunSpec("vicreg", (config,), (0,), ("sample-clusters-first",), "test",
                   coverage=Coverage(all_layers=True, random=True, controls=True, sample=True))
    info = M.RunInfo("vicreg", 0, config, run_dir, ckpts)
    loads = []

    def loader(path):
        loads.append(Path(path).name)
        return TinyNet(torch.load(path, weights_only=True)["weights"])

    settings = MeasureSettings(probe="fast", mine_run_seeds=())
    kw = dict(data=data, sample=sample, targets=targets, target_fps=[["t", 1]], settings=settings,
              sample_settings=SampleLevelSettings(8, 5, 2), loader=loader, progress=False)
    return spec, info, kw, loads


@pytest.fixture(autouse=True)
def _probe_standin(monkeypatch):
    # Until the metrics engineer's probe lands, a clearly labelled stand-in (NCC accuracy) keeps the plumbing tested.
    if not hasattr(sslre.metrics, "linear_probe_accuracy"):
        monkeypatch.setattr(sslre.metrics, "linear_probe_accuracy",
                            lambda a, b, c, d, method="fast": sslre.metrics.ncc_accuracy(a, b, c, d), raising=False)


def test_measure_run_columns_levels_and_cells(standin):
    spec, info, kw, loads = standin
    df = M.measure_run(spec, info, **kw)
    assert list(df.columns) == M.COLUMNS
    assert set(df["level"]) == {"sample", "class", "superclass", "random", "sample-shuffled", "class-shuffled",
                                "superclass-shuffled", "random-shuffled", ""}
    cell = df[df["level"] != ""]
    assert set(cell["metric"]) == {"ncc_train_acc", "ncc_test_acc", "linear_test_acc", "linear_test_kappa", "cdnv",
                                   "within_var", "mean_dist2"}
    # main levels: every epoch x every layer, raw and l2
    cls = cell[(cell.level == "class") & (cell.metric == "ncc_test_acc")]
    assert sorted(set(zip(cls.epoch, cls.layer, cls.features))) == sorted(
        (e, float(l), f) for e in (0, 2) for l in range(DEPTH + 1) for f in ("raw", "l2"))
    # linear probe: raw only, probe column set
    lin = cell[cell.metric == "linear_test_acc"]
    assert set(lin.features) == {"raw"} and set(lin.probe) == {"fast"}
    kap = cell[cell.metric == "linear_test_kappa"]
    assert set(kap.features) == {"raw"} and set(kap.probe) == {"fast"} and len(kap) == len(lin)
    assert set(cell[~cell.metric.str.startswith("linear_test_")].probe) == {""}
    # random + controls: last layer x every epoch, plus every layer x last epoch; the unusable and the excluded
    # levels are skipped (and so are their shuffled controls)
    rnd = cell[(cell.level == "random") & (cell.metric == "ncc_test_acc")]
    assert set(rnd.target) == {"resnet18@1"} and set(rnd.randomness) == {0.5}
    assert set(cell[cell.level == "random-shuffled"].target) == {"resnet18@1"}
    assert sorted(set(zip(rnd.epoch, rnd.layer))) == [(0, float(DEPTH)), (2, 0.0), (2, 1.0), (2, float(DEPTH))]
    assert set(cell[cell.level == "class-shuffled"].features) == {"raw"}
    assert cell[cell.level.isin(["class", "sample"])]["randomness"].isna().all()
    assert (cell[cell.level == "class"]["target"] == "").all()
    # the stand-in separates classes at the last checkpoint far better than their shuffled control
    acc = lambda lvl: cell[(cell.level == lvl) & (cell.metric == "ncc_test_acc") & (cell.epoch == 2)
                           & (cell.layer == 0) & (cell.features == "raw")]["value"].item()
    assert acc("class") > acc("class-shuffled") + 0.3
    assert ((cell[cell.metric.str.endswith("acc")]["value"].between(0, 1))).all()
    # losses from history.jsonl, layer NaN, level ""
    loss = df[df.metric.str.startswith("loss_")]
    assert len(loss) == 3 * 5 and loss["layer"].isna().all() and set(loss.level) == {""}
    assert loss[(loss.metric == "loss_total") & (loss.epoch == 2)]["value"].item() == pytest.approx(1.8)
    assert set(df[["run", "method", "arch", "seed"]].itertuples(index=False, name=None)) == {
        ("vicreg", "vicreg", f"RES-{DEPTH}-4", 0)}
    # each (checkpoint) loaded once: 4 splits of one checkpoint share the model
    assert sorted(loads) == ["epoch_0000.pt", "epoch_0002.pt"]


def test_measure_run_is_cached_and_invalidated(standin, monkeypatch):
    spec, info, kw, loads = standin
    first = M.measure_run(spec, info, **kw)
    calls = []
    real = M._metrics_for
    monkeypatch.setattr(M, "_metrics_for", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = M.measure_run(spec, info, **kw)
    assert calls == [] and len(loads) == 2                 # read from measurements.csv, nothing recomputed
    pd.testing.assert_frame_equal(first, second)
    # a changed checkpoint invalidates the table (and its cached features)
    path = info.checkpoints[2]
    obj = torch.load(path, weights_only=True)
    obj["weights"][0] = obj["weights"][0] * 2
    torch.save(obj, path)
    third = M.measure_run(spec, info, **kw)
    assert calls and loads.count("epoch_0002.pt") == 2 and loads.count("epoch_0000.pt") == 1
    assert not first["value"].equals(third["value"])
    # a new measurement version recomputes too
    calls.clear()
    monkeypatch.setattr(M, "MEASUREMENT_VERSION", M.MEASUREMENT_VERSION + 1)
    M.measure_run(spec, info, **kw)
    assert calls


def test_measure_run_deterministic(standin, tmp_path):
    spec, info, kw, _ = standin
    a = M.measure_run(spec, info, **kw)
    b = M.measure_run(spec, info, force=True, **kw)
    pd.testing.assert_frame_equal(a, b)


def test_measure_run_mine_and_umap(standin, monkeypatch):
    """MINE rows per MINE seed + null; UMAP npz + rows (MINE and UMAP replaced by cheap stand-ins here)."""
    spec, info, kw, _ = standin
    mine = types.ModuleType("sslre.metrics.mine")
    mine.mine_multi_seed = lambda x, z, seeds, **k: {"values": [0.5 + s for s in seeds], "seeds": tuple(seeds)}
    mine.mine_shuffled_null = lambda x, z, seed, **k: types.SimpleNamespace(mi=0.01 * seed)
    monkeypatch.setitem(sys.modules, "sslre.metrics.mine", mine)
    fake_umap = types.ModuleType("umap")

    class UMAP:  # first two coordinates: deterministic, keeps cluster structure of the stand-in
        def __init__(self, **kw):
            assert kw["random_state"] == 0 and kw["n_components"] == 2

        def fit_transform(self, x):
            return np.asarray(x)[:, :2]

    fake_umap.UMAP = UMAP
    monkeypatch.setitem(sys.modules, "umap", fake_umap)
    spec = RunSpec(spec.name, spec.configs, spec.seeds, spec.claims, spec.purpose,
                   coverage=Coverage(all_layers=False, sample=True, controls=False, mine=True, umap=True))
    kw["settings"] = MeasureSettings(probe="", mine_seeds=(0, 1, 2), mine_null_seeds=(0, 1), mine_images=50,
                                     mine_run_seeds=(0,), umap_groups=2, umap_points_per_group=5)
    df = M.measure_run(spec, info, **kw)
    mi = df[df.metric == "mine_mi"]
    assert len(mi) == 2 * 3 and set(mi.target) == {"mine-seed0", "mine-seed1", "mine-seed2"}
    assert set(mi.layer) == {float(DEPTH)} and set(mi.level) == {""}
    assert len(df[df.metric == "mine_null"]) == 2 * 2
    um = df[df.metric.isin(["umap_silhouette", "umap_ncc"])]
    assert set(zip(um.epoch, um.level)) == {(e, l) for e in (0, 2) for l in ("sample", "class", "superclass")}
    meas = M.Measurements("quick", "synthetic", df, {"vicreg": [info]})
    pts = meas.umap()
    assert set(pts) == {(p, l) for p in ("before", "after") for l in ("sample", "class", "superclass")}
    xy, labels = pts[("after", "class")]
    assert xy.shape == (10, 2) and labels.shape == (10,) and len(set(labels.tolist())) == 2
    from sslre.claims.statistics import curve

    assert curve(meas, "vicreg", "mine_mi", "").shape == (2, 1)
    assert curve(meas, "vicreg", "mine_mi", "", target="mine-seed2")[0].tolist() == [2.5, 2.5]


def test_a_pass_whose_caches_are_current_starts_no_worker(standin, monkeypatch):
    """A claims session after `sslre reproduce` measured everything reads the caches; it spawns no worker processes
    just to find that out (each costs a torch import)."""
    import sslre.parallel

    spec, info, kw, _ = standin
    spec = dataclasses.replace(spec, coverage=dataclasses.replace(spec.coverage, random=False))
    kw = {**kw, "targets": [], "target_fps": []}
    p = M._Pass("quick", info.run_dir.parent, {"vicreg": spec}, kw["settings"], kw["sample_settings"])
    assert not p.is_current("vicreg", 0)                    # nothing measured yet
    M.measure_run(spec, p.info("vicreg", 0), **kw)
    assert p.is_current("vicreg", 0)

    def no_pool(*a, **k):
        raise AssertionError("a worker pool was started for current caches")

    monkeypatch.setenv("SSLRE_JOBS", "2")
    monkeypatch.setattr(sslre.parallel, "run_parallel", no_pool)
    assert M._measure_parallel(p, progress=False) is False
    path = info.checkpoints[2]                              # a retrained checkpoint: stale again
    torch.save({"weights": [w * 2 for w in torch.load(path, weights_only=True)["weights"]]}, path)
    assert not p.is_current("vicreg", 0)


def test_mine_epochs_ends_measures_the_first_and_last_checkpoint_with_the_same_values(standin, monkeypatch):
    """``mine_epochs="ends"`` (quick) keeps MINE at the two checkpoints mine-compression decides on, with exactly the
    values ``"all"`` gives there (each estimate is independent of the other checkpoints)."""
    spec, info, kw, _ = standin
    mine = types.ModuleType("sslre.metrics.mine")   # a stand-in whose value depends on the checkpoint's features
    mine.mine_multi_seed = lambda x, z, seeds, **k: {"values": [float(z.mean()) + s for s in seeds],
                                                     "seeds": tuple(seeds)}
    mine.mine_shuffled_null = lambda x, z, seed, **k: types.SimpleNamespace(mi=float(z.std()) + seed)
    monkeypatch.setitem(sys.modules, "sslre.metrics.mine", mine)
    middle = info.run_dir / "checkpoints" / "epoch_0001.pt"   # a third checkpoint between the standin's two
    torch.save(torch.load(info.checkpoints[2], weights_only=True), middle)
    info = dataclasses.replace(info, checkpoints={**info.checkpoints, 1: middle})
    spec = RunSpec(spec.name, spec.configs, spec.seeds, spec.claims, spec.purpose,
                   coverage=Coverage(all_layers=False, sample=False, controls=False, mine=True))
    tables = {}
    for which in ("all", "ends"):
        kw["settings"] = MeasureSettings(probe="", mine_seeds=(0, 1), mine_null_seeds=(0,), mine_images=50,
                                         mine_run_seeds=(0,), mine_epochs=which)
        df = M.measure_run(spec, info, **kw)
        tables[which] = df[df.metric.isin(["mine_mi", "mine_null"])].reset_index(drop=True)
    assert sorted(set(tables["all"].epoch)) == [0, 1, 2]
    assert sorted(set(tables["ends"].epoch)) == [0, 2]
    ends_of_all = tables["all"][tables["all"].epoch != 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(tables["ends"], ends_of_all)


def test_mine_epochs_is_checked_and_left_out_of_the_cache_key_at_its_default():
    with pytest.raises(ConfigError, match="mine_epochs"):
        MeasureSettings(mine_epochs="last")
    assert "mine_epochs" not in MeasureSettings().fingerprint()       # tables published before it stay valid
    assert MeasureSettings(mine_epochs="ends").fingerprint()["mine_epochs"] == "ends"


# --- Measurements.select / series on a hand-made table ---------------------------------------------------------

def _row(run, arch, seed, epoch, layer, level, metric, value, target="", randomness=math.nan, features="raw"):
    return dict(run=run, method="vicreg", arch=arch, dataset="synthetic", seed=seed, epoch=epoch, layer=layer,
                level=level, target=target, randomness=randomness, metric=metric, value=value, features=features,
                probe="")


@pytest.fixture()
def handmade():
    rows = []
    for seed in (0, 1):
        for epoch in (0, 5, 10):
            for layer in range(4):  # RES-3-8: last layer = 3
                rows.append(_row("vicreg", "RES-3-8", seed, epoch, layer, "class", "ncc_test_acc",
                                 0.1 * layer + 0.01 * epoch + seed))
                rows.append(_row("vicreg", "RES-3-8", seed, epoch, layer, "class", "ncc_test_acc",
                                 -1.0, features="l2"))
            rows.append(_row("vicreg", "RES-3-8", seed, epoch, math.nan, "", "loss_total", 10 - epoch + seed,
                             features=""))
            for k in (0, 1):
                rows.append(_row("vicreg", "RES-3-8", seed, epoch, 3, "", "mine_mi", epoch + k,
                                 target=f"mine-seed{k}"))
    for layer in range(7):  # RES-6-8: last layer = 6
        rows.append(_row("vicreg-deep", "RES-6-8", 0, 10, layer, "class", "ncc_test_acc", 0.5 + 0.01 * layer))
    rows.append(_row("vicreg", "RES-3-8", 0, 10, 3, "random", "linear_test_acc", 0.3, target="resnet18@2",
                     randomness=0.5))
    return M.Measurements("quick", "synthetic", pd.DataFrame(rows, columns=M.COLUMNS), {})


def test_select_last_layer_is_per_run(handmade):
    df = handmade.select(metric="ncc_test_acc", layer="last", features="raw", epoch=10)
    assert sorted(zip(df.run, df.layer)) == [("vicreg", 3.0), ("vicreg", 3.0), ("vicreg-deep", 6.0)]
    assert handmade.select(layer=2, run="vicreg", features="raw", epoch=0)["value"].tolist() == \
        pytest.approx([0.2, 1.2])
    assert len(handmade.select(run=["vicreg", "vicreg-deep"], metric="ncc_test_acc", features="raw")) == 2 * 3 * 4 + 7
    assert len(handmade.select(randomness=0.5)) == 1
    with pytest.raises(KeyError, match="no column 'colour'"):
        handmade.select(colour="red")
    with pytest.raises(ValueError, match="'first'"):
        handmade.select(layer="first")


def test_series_are_read_wide_by_seed(handmade):
    from sslre.claims.statistics import MissingSeries, curve, last_layer

    s = curve(handmade, "vicreg", "ncc_test_acc", "class")
    assert list(s.index) == [0, 5, 10] and list(s.columns) == [0, 1]
    assert s.loc[10, 1] == pytest.approx(0.3 + 0.1 + 1)
    assert curve(handmade, "vicreg", "ncc_test_acc", "class", layer=0).loc[5, 0] == pytest.approx(0.05)
    assert (curve(handmade, "vicreg", "ncc_test_acc", "class", features="l2").values == -1.0).all()
    loss = curve(handmade, "vicreg", "loss_total", "", layer=None)  # per-run rows: no layer
    assert loss.loc[0].tolist() == [10, 11]
    mine = curve(handmade, "vicreg", "mine_mi", "")                 # two MINE seeds averaged per epoch
    assert mine.loc[5, 0] == pytest.approx(5.5)
    assert curve(handmade, "vicreg", "mine_mi", "", target="mine-seed1").loc[5, 0] == pytest.approx(6)
    assert curve(handmade, "vicreg-deep", "ncc_test_acc", "class").loc[10, 0] == pytest.approx(0.56)
    assert (last_layer(handmade, "vicreg"), last_layer(handmade, "vicreg-deep")) == (3, 6)
    with pytest.raises(MissingSeries, match="no rows"):
        curve(handmade, "vicreg", "cdnv", "class")
    with pytest.raises(MissingSeries, match="'simclr' is not in the table"):
        last_layer(handmade, "simclr")


def test_seeds_has_checkpoints(handmade, tmp_path):
    assert handmade.seeds("vicreg") == [0, 1] and handmade.has("vicreg-deep") and not handmade.has("simclr")
    assert handmade.checkpoints("vicreg") == []
    info = M.RunInfo("simclr", 0, profile_config("quick"), tmp_path, {0: tmp_path / "a.pt", 5: tmp_path / "b.pt"})
    m = M.Measurements("quick", "synthetic", handmade.table, {"simclr": [info]})
    assert m.checkpoints("simclr") == [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    assert m.seeds("simclr") == [0]


def test_csv_round_trip_keeps_empty_strings(handmade, tmp_path):
    p = tmp_path / "m.csv"
    handmade.table.to_csv(p, index=False)
    back = M.read_table(p)
    assert (back[back.metric == "loss_total"]["level"] == "").all()
    assert back[back.metric == "loss_total"]["layer"].isna().all()
    assert back["seed"].dtype == np.int64 and back["value"].dtype == np.float64
    pd.testing.assert_frame_equal(back, handmade.table.astype(back.dtypes.to_dict()), check_dtype=False)


def test_test_classes_unseen_in_train_count_as_errors():
    """Random targets may use a class on the test split only: no classifier can predict it, so it is an error."""
    from sslre.measure import _metrics_for

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g) * 20  # (4, 8) well-separated classes
    y = torch.arange(80) % 3  # train uses classes 0..2
    yt = torch.arange(40) % 4  # test also has class 3: a quarter of the test split
    x = centres[y] + torch.randn(80, 8, generator=g) * 0.1
    xt = centres[yt] + torch.randn(40, 8, generator=g) * 0.1
    out = _metrics_for(x, y, xt, yt, probe="fast")
    assert out["ncc_test_acc"] == pytest.approx(0.75)
    assert out["linear_test_acc"] == pytest.approx(0.75)
    assert out["ncc_train_acc"] == pytest.approx(1.0)
    # chance level: the train majority (a three-way tie -> class 0) is right on 10 of 40 test images
    assert out["linear_test_kappa"] == pytest.approx((0.75 - 0.25) / (1 - 0.25))


def test_kappa_removes_the_class_balance_advantage():
    """Two label sets of equal alignment (none) but different balance: raw accuracy differs, kappa does not."""
    from sslre.measure import _metrics_for

    g = torch.Generator().manual_seed(1)
    x, xt = torch.randn(600, 6, generator=g), torch.randn(300, 6, generator=g)  # features carry no label information
    balanced = (torch.arange(600) % 4, torch.arange(300) % 4)
    skewed = ((torch.rand(600, generator=g) < 0.1).long(), (torch.rand(300, generator=g) < 0.1).long())  # 90% class 0
    raw = [_metrics_for(x, a, xt, b, probe="svc") for a, b in (balanced, skewed)]
    assert raw[1]["linear_test_acc"] - raw[0]["linear_test_acc"] > 0.4  # balance alone makes the skewed set look easy
    assert raw[0]["linear_test_kappa"] == pytest.approx(0.0, abs=0.08)
    assert raw[1]["linear_test_kappa"] == pytest.approx(0.0, abs=0.08)


# --- random targets: one generator per seed, paired with the SSL seed; diagnostics table ----------------------

def tiny_generator(num_classes):
    """Conv + BatchNorm classifier for the 8x8 stand-in images (a random-target generator in seconds)."""
    return nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, num_classes))


@pytest.fixture()
def paired(tmp_path, monkeypatch):
    """Runs dir with generators targets-resnet18-s0/-s1 (own pools) and an SSL run vicreg with seeds 0, 1, 2;
    training, data loading and measure_run replaced by stand-ins that record what each seed is given."""
    import sslre.checkpoint
    import sslre.data
    from sslre.experiments import TargetSettings
    from sslre.targets import train_target_generator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; the worker under test sets one thread too
    data = DataSplits(_imageset(64, 1, "t/train"), _imageset(32, 2, "t/test"))
    config = profile_config("quick", arch=f"RES-{DEPTH}-4", epochs=2, checkpoint_epochs=(0, 2))
    gens = {}
    for seed in (0, 1):
        pool = _imageset(64, 100 + seed, "pool")  # the generator's own training images, drawn per seed
        gens[seed] = train_target_generator(TargetSettings("resnet18", 2, (0, 1, 2), 16, 0.02), pool,
                                            {"train": data.train, "test": data.test},
                                            tmp_path / f"targets-resnet18-s{seed}", seed=seed, progress=False,
                                            classifier=tiny_generator, device="cpu")
    seeds = (0, 1, 2)
    specs = {
        "vicreg": RunSpec("vicreg", tuple(config.replace(seed=s) for s in seeds), seeds, ("randomness-ordering",),
                          "test", coverage=Coverage(all_layers=False, random=True, controls=False, sample=False)),
        "targets-resnet18": RunSpec("targets-resnet18", (config, config.replace(seed=1)), (0, 1),
                                    ("randomness-ordering",), "gen", kind="targets",
                                    target=TargetSettings("resnet18", 2, (0, 1, 2), 16, 0.02)),
    }
    calls = {}

    def fake_measure_run(spec, info, *, targets=(), target_fps=(), **kw):
        calls[info.seed] = ([t.seed for t in targets], list(target_fps))
        return M._empty_table()

    monkeypatch.setattr(M, "ensure_runs", lambda *a, **k: None)
    monkeypatch.setattr(M, "measure_run", fake_measure_run)
    monkeypatch.setattr(sslre.data, "load_dataset_for", lambda config, **k: data)
    monkeypatch.setattr(sslre.checkpoint, "list_checkpoints", lambda d: {0: Path(d) / "epoch_0000.pt"})
    monkeypatch.setenv("SSLRE_JOBS", "1")  # no worker processes: the stand-ins above are what runs
    yield specs, gens, calls, tmp_path
    torch.set_num_threads(threads)


def test_generator_seeds_differ(paired):
    _, gens, _, _ = paired
    assert gens[0].seed == 0 and gens[1].seed == 1
    for a, b in zip(gens[0].levels, gens[1].levels):
        assert not torch.equal(a.labels["train"], b.labels["train"]), a.name


def test_ssl_seed_reads_its_own_generator(paired):
    specs, gens, calls, runs_dir = paired
    m = M.build_measurements("quick", runs_dir, specs=specs, progress=False, train_missing=False)
    assert {s: got for s, (got, _) in calls.items()} == {0: [0], 1: [1], 2: []}  # seed 2 has no generator
    fps0, fps1 = calls[0][1], calls[1][1]
    assert fps0[0][:2] == ["targets-resnet18", 0] and fps1[0][:2] == ["targets-resnet18", 1]
    assert fps0[0][-1] == M._target_fp(specs["targets-resnet18"], 0, runs_dir / "targets-resnet18-s0")[-1]
    # the parallel worker pairs the same way, with the same fingerprint (else the serial pass would recompute)
    serial = dict(calls)
    calls.clear()
    M._measure_worker((M._Pass("quick", runs_dir, specs, MeasureSettings(), SampleLevelSettings(8, 5, 2)), "vicreg", 1))
    assert calls[1] == serial[1]
    # the diagnostics of every generator seed and level, excluded ones counted
    lv = m.target_levels()
    assert list(lv.columns) == M.TARGET_LEVEL_COLUMNS
    assert sorted(zip(lv.seed, lv.target)) == [(s, f"resnet18@{k}") for s in (0, 1) for k in (0, 1, 2)]
    assert set(lv.run) == {"targets-resnet18"} and set(lv.family) == {"resnet18"} and set(lv.num_classes) == {4}
    for seed, ts in gens.items():
        rows = lv[lv.seed == seed].set_index("target")
        for level in ts.levels:
            r = rows.loc[level.name]
            assert r["randomness"] == pytest.approx(level.randomness)
            assert r["excluded"] == level.excluded and r["reason"] == level.exclusion
            for key, value in level.diagnostics.items():
                assert r[key] == pytest.approx(value, nan_ok=True), key
            assert r["n_classes_train"] == torch.unique(level.labels["train"]).numel()
    assert int(lv["excluded"].sum()) == sum(l.excluded for ts in gens.values() for l in ts.levels)
    assert (lv["reason"] != "").sum() == lv["excluded"].sum()


def test_target_levels_empty_without_generators(handmade):
    lv = handmade.target_levels()
    assert lv.empty and list(lv.columns) == M.TARGET_LEVEL_COLUMNS


def test_rare_predicted_classes_are_left_out_of_a_random_level(standin):
    """A level that predicts one class for a single train image is measured without that image (and without the
    test images of that class), on both the level and its shuffled control; CDNV is defined again."""
    from sslre.targets import TargetLevel, _judge, check_usable, level_diagnostics

    spec, info, kw, _ = standin
    data = kw["data"]
    pred = {"train": data.train.labels % 3, "test": data.test.labels % 3}
    pred["train"][5], pred["test"][7] = 3, 3  # class 3: one train image, one test image
    true = {"train": data.train.labels, "test": data.test.labels}
    ok, why = check_usable(pred["train"])
    counts = {s: torch.bincount(y, minlength=4).tolist() for s, y in pred.items()}
    lvl = _judge(TargetLevel("resnet18@1", "resnet18", 1, 0.5, pred, {}, {}, counts, ok, why,
                             level_diagnostics(pred, true, 4)), 4)
    assert not lvl.usable and not lvl.excluded and lvl.dropped == {"train": 1, "test": 1}
    sets = {ls.level: ls for ls in M._label_sets(spec, data, None, [types.SimpleNamespace(levels=[lvl])])}
    rnd, ctl = sets["random"], sets["random-shuffled"]
    assert 5 not in rnd.train_index.tolist() and rnd.train_index.numel() == 63
    assert 7 not in rnd.test_index.tolist() and rnd.test_index.numel() == 31
    assert torch.equal(rnd.train_labels, pred["train"][rnd.train_index]) and 3 not in rnd.train_labels.tolist()
    assert torch.equal(ctl.train_index, rnd.train_index) and ctl.train_labels.numel() == 63
    df = M.measure_run(spec, info, **{**kw, "targets": [types.SimpleNamespace(levels=[lvl])]})
    cells = df[(df.level == "random") & (df.target == "resnet18@1")]
    assert {"cdnv", "ncc_test_acc", "linear_test_kappa"} <= set(cells.metric)
    last = df.epoch.max()                  # the shuffled control is also measured at every block at epoch 0
    shuffled = df[(df.level == "random-shuffled") & (df.metric == "cdnv")]
    assert len(shuffled[shuffled.epoch == last]) == len(cells[(cells.metric == "cdnv") & (cells.epoch == last)])


def _one_row_table(spec, info) -> pd.DataFrame:
    """A stand-in measurements table: one row of ``spec`` at ``info``'s seed."""
    row = {c: "" for c in M.COLUMNS}
    row.update(run=spec.name, arch=info.config.arch, seed=info.seed, epoch=0, layer=math.nan, randomness=math.nan,
               value=1.0)
    return pd.DataFrame([row], columns=M.COLUMNS)


# --- say what is happening: progress lines, warnings to the runs folder's log -----------------------------------
def test_build_measurements_reports_progress_and_logs_warnings(tmp_path, monkeypatch, capsys):
    # Was: minutes without output on the first claims file; warnings printed between progress bars.
    import logging

    from sslre.runlog import LOG_NAME, summary

    monkeypatch.setenv("SSLRE_JOBS", "1")
    monkeypatch.setattr(M, "ensure_runs", lambda *a, **kw: None)
    calls = []

    def fake_measure_run(spec, info, **kw):
        calls.append(info.seed)
        logging.getLogger("sslre.targets").warning("target level vit@0 is not usable: one class")
        return _one_row_table(spec, info)

    monkeypatch.setattr(M, "measure_run", fake_measure_run)
    cfg = profile_config("quick", train_subset=64, test_subset=16)
    specs = {"vicreg": RunSpec("vicreg", (cfg, cfg.replace(seed=1)), (0, 1), ("sample-clusters-first",), "test",
                               coverage=Coverage(sample=False, random=False, controls=False))}
    lines = []
    before = summary()["count"]
    M.build_measurements("quick", tmp_path, specs=specs, progress=False, status=lines.append)
    assert calls == [0, 1]
    assert lines[:2] == ["measured 1/2 runs (vicreg-s0, 0 checkpoints)", "measured 2/2 runs (vicreg-s1, 0 checkpoints)"]
    assert lines[2].startswith("2 warnings (first: target level vit@0 is not usable: one class); see ")
    assert "not usable" not in capsys.readouterr().err
    log_text = (tmp_path / LOG_NAME).read_text()
    assert log_text.count("WARNING sslre.targets: target level vit@0 is not usable") == 2
    assert summary()["count"] == before + 2 and str(tmp_path / LOG_NAME) in summary()["logs"]


def test_run_log_counts_earlier_process_and_restores_the_logger(tmp_path, monkeypatch):
    import logging

    from sslre.runlog import EARLIER_ENV, run_log, summary

    logger = logging.getLogger("sslre")
    state = (logger.level, logger.propagate, list(logger.handlers))
    with run_log(tmp_path) as outer, run_log(tmp_path) as inner:
        logging.getLogger("sslre.x").warning("w")
    assert (outer.count, inner.count) == (1, 0)  # re-entrant: counted once
    assert (logger.level, logger.propagate, list(logger.handlers)) == state
    monkeypatch.setenv(EARLIER_ENV, "5")
    n = summary()["count"]
    monkeypatch.setenv(EARLIER_ENV, "0")
    assert n - summary()["count"] == 5


# --- published evidence: a run folder without checkpoints serves its table on any machine -----------------------
def test_a_published_run_folder_serves_its_table_without_checkpoints(standin, tmp_path):
    from sslre.evidence import is_published, publish, resolve

    spec, info, kw, loads = standin
    table = M.measure_run(spec, info, **kw)
    pub = tmp_path / "published"
    (info.run_dir / "config.json").write_text(json.dumps(info.config.to_dict()))
    publish(info.run_dir, spec.run_dir(pub, 0))
    assert is_published(spec, 0, pub) and not is_published(spec, 1, pub)
    # the runs folder has no DONE: the published folder is where the run is read from
    assert resolve(spec, 0, tmp_path / "elsewhere", pub) == spec.run_dir(pub, 0)
    n_loads = len(loads)
    info_pub = M.RunInfo("vicreg", 0, info.config, spec.run_dir(pub, 0), {})
    again = M.measure_run(spec, info_pub, **kw)
    assert len(loads) == n_loads                      # nothing extracted: the published table is read
    pd.testing.assert_frame_equal(again, table)
    other = {**kw, "settings": dataclasses.replace(kw["settings"], probe="svc")}
    with pytest.raises(FileNotFoundError, match="no published table measured under the current settings"):
        M.measure_run(spec, info_pub, **other)


# --- partial run sets: measure the runs that exist, keep the missing ones with their commands ------------------
def test_partial_run_set_measures_what_exists_and_lists_the_rest(tmp_path, monkeypatch):
    from sslre.experiments import MissingRunsError

    monkeypatch.setenv("SSLRE_JOBS", "1")
    measured = []

    def fake_measure_run(spec, info, **kw):
        measured.append(f"{spec.name}-s{info.seed}")
        return _one_row_table(spec, info)

    monkeypatch.setattr(M, "measure_run", fake_measure_run)
    cfg = profile_config("quick", train_subset=64, test_subset=16)
    cov = Coverage(sample=False, random=False, controls=False)
    specs = {"vicreg": RunSpec("vicreg", (cfg, cfg.replace(seed=1)), (0, 1), ("sample-clusters-first", "mu-ablation"),
                               "test", coverage=cov),
             "vicreg-mu5": RunSpec("vicreg-mu5", (cfg.replace(vicreg_mu=5.0), cfg.replace(vicreg_mu=5.0, seed=1)),
                                   (0, 1), ("mu-ablation",), "test", coverage=cov)}
    for done in ("vicreg-s0", "vicreg-s1", "vicreg-mu5-s0"):          # vicreg-mu5-s1 is not trained
        (tmp_path / done).mkdir()
        (tmp_path / done / "DONE").write_text("")
    with pytest.raises(MissingRunsError, match="vicreg-mu5-s1"):     # without partial: unchanged, never trains
        M.build_measurements("quick", tmp_path, train_missing=False, specs=specs, progress=False)
    assert measured == []
    m = M.build_measurements("quick", tmp_path, train_missing=False, partial=True, specs=specs, progress=False)
    assert measured == ["vicreg-s0", "vicreg-s1"]                  # a run with a seed missing is missing
    assert m.has("vicreg") and not m.has("vicreg-mu5")
    assert m.partial.labels() == ["vicreg-mu5-s1"] and m.partial.total == 4
    assert m.missing_for("sample-clusters-first") == {}
    (cmd,) = m.missing_for("mu-ablation")["vicreg-mu5"]
    assert cmd.startswith("sslre train --profile quick") and "--seed 1" in cmd and "vicreg-mu5-s1" in cmd
    assert m.absent == {"vicreg-mu5": [cmd]}
    (tmp_path / "vicreg-mu5-s1").mkdir()
    (tmp_path / "vicreg-mu5-s1" / "DONE").write_text("")
    full = M.build_measurements("quick", tmp_path, train_missing=False, partial=True, specs=specs, progress=False)
    assert full.partial is None and full.missing_for("mu-ablation") == {} and full.has("vicreg-mu5")


def test_a_run_that_diverges_leaves_its_claims_not_run(tmp_path, monkeypatch):
    """Really trained (seconds): the mu=100 run's loss blows up at lr 100; the main run is measured, and the partial
    run set names the diverged run, why, and the claims it takes with it."""
    from sslre import experiments as ex

    monkeypatch.setenv("SSLRE_JOBS", "1")

    def tiny(name, **kw):
        spec = ex.runs_for("quick")[name]
        cfg = spec.config.replace(seed=0, arch="RES-1-8", proj_hidden=16, proj_out=16, train_subset=64,
                                  test_subset=32, epochs=2, checkpoint_epochs=(0, 1, 2), batch_size=32,
                                  warmup_epochs=0, synthetic_classes=4, synthetic_superclasses=2, **kw)
        cov = dataclasses.replace(spec.coverage, umap=False, mine=False, random=False)
        return dataclasses.replace(spec, configs=(cfg,), seeds=(0,), coverage=cov)

    specs = {"vicreg": tiny("vicreg"), "vicreg-mu100": tiny("vicreg-mu100", lr=100.0)}
    kw = dict(specs=specs, train_missing=True, progress=False, sample_settings=SampleLevelSettings(6, 4, 2))
    with pytest.raises(ex.RunsDivergedError, match=r"vicreg-mu100-s0: loss became (nan|inf)"):
        M.build_measurements("quick", tmp_path, **kw)
    m = M.build_measurements("quick", tmp_path, partial=True, **kw)
    assert set(m.table["run"]) == {"vicreg"} and m.partial.missing == [("vicreg-mu100", 0)]
    assert list(m.missing_for("mu-ablation")) == ["vicreg-mu100"] and m.missing_for("sample-clusters-first") == {}
    assert m.partial.reasons["vicreg-mu100"].startswith("vicreg-mu100-s0 diverged: loss became")


@pytest.mark.parametrize("device, want", [("cuda", "cuda"), ("auto", None), ("cpu", None)])
def test_a_run_trained_on_the_gpu_is_read_there(tmp_path, device, want):
    from sslre.measure import _feature_cache

    cache = _feature_cache(tmp_path, None, device)
    assert cache.device == want and cache.amp is False   # features in float32 wherever they are read
