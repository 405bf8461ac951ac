"""Random-target generators (sslre/targets.py, Sec. 5, App. A.3, B.5)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from sslre.data.base import ImageSet
import math

import numpy as np

import sslre.targets as T
from sslre.targets import (
    DEGENERACY_RULE,
    TargetError,
    TargetSet,
    TargetSettings,
    check_usable,
    exclusion_reason,
    generator_data,
    is_complete,
    level_diagnostics,
    load_targets,
    randomness_level,
    train_target_generator,
)

C = 4


def _synth(n: int, seed: int, size: int = 16, noise: float = 30.0) -> ImageSet:
    """Easy set: each class is one fixed random colour plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randint(0, 256, (C, 3, 1, 1), generator=torch.Generator().manual_seed(99)).float()
    protos = nn.functional.interpolate(protos, size=size, mode="nearest")  # (C, 3, S, S) class colours
    y = torch.arange(n) % C
    x = protos[y] + noise * torch.randn(n, 3, size, size, generator=g)  # (N, 3, S, S)
    return ImageSet(x.clamp(0, 255).to(torch.uint8), y, y % 2, [f"c{i}" for i in range(C)], ["even", "odd"],
                    f"synth/{seed}")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models: intra-op threads only add synchronisation cost (and contend on a shared 2-core box).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TRAIN = _synth(160, 0)
TEST = _synth(80, 1)
SETS = {"train": TRAIN, "test": TEST}


class Tiny(nn.Module):
    """Small conv classifier with BatchNorm (so the init-BN calibration path is exercised)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(self.body(x))


BUILT = {"n": 0, "crash_at": None}


def tiny(num_classes: int) -> nn.Module:
    BUILT["n"] += 1
    m = Tiny(num_classes)
    if BUILT["crash_at"] is not None:
        crash_after = BUILT["crash_at"]
        calls = {"n": 0}

        def hook(mod, inp):
            if mod.training:
                calls["n"] += 1
                if calls["n"] > crash_after:
                    raise KeyboardInterrupt("simulated interruption")

        m.register_forward_pre_hook(hook)
    return m


def _train(tmp_path, name="g", *, epochs=3, snapshot_epochs=(0, 1, 3), lr=0.01, calibrate_init_bn=True, **kw):
    settings = TargetSettings("resnet18", epochs, snapshot_epochs, 32, lr, calibrate_init_bn=calibrate_init_bn)
    args = dict(seed=0, progress=False, classifier=tiny, device="cpu")
    args.update(kw)
    return train_target_generator(settings, TRAIN, SETS, tmp_path / name, **args)


# ------------------------------------------------------------------------------------------------
# bookkeeping
# ------------------------------------------------------------------------------------------------
def test_randomness_level_endpoints_and_monotone():
    assert randomness_level(0, 7) == 1.0
    assert randomness_level(7, 7) == 0.0
    assert randomness_level(2, 8) == pytest.approx(0.75)
    vals = [randomness_level(k, 10) for k in range(11)]
    assert all(a > b for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("epoch, last", [(-1, 5), (6, 5), (0, 0), (1.5, 5), (True, 5)])
def test_randomness_level_rejects_bad_input(epoch, last):
    with pytest.raises(TargetError):
        randomness_level(epoch, last)


def test_check_usable():
    assert check_usable(torch.tensor([0, 1, 0, 1])) == (True, "")
    ok, why = check_usable(torch.tensor([2, 2, 2]))
    assert not ok and "1 distinct" in why
    ok, why = check_usable(torch.tensor([0, 0, 0, 3]))
    assert not ok and "[3]" in why and "fewer than 2" in why


# ------------------------------------------------------------------------------------------------
# training, files, reload
# ------------------------------------------------------------------------------------------------
def test_levels_predictions_and_files(tmp_path):
    ts = _train(tmp_path)
    assert isinstance(ts, TargetSet)
    assert [lv.name for lv in ts.levels] == ["resnet18@0", "resnet18@1", "resnet18@3"]
    assert [lv.randomness for lv in ts.levels] == [1.0, pytest.approx(2 / 3), 0.0]
    assert ts.splits == ("train", "test")
    for lv in ts.levels:
        for split, s in SETS.items():
            y = lv.labels[split]
            assert y.dtype == torch.int64 and y.shape == (len(s),)
            assert int(y.min()) >= 0 and int(y.max()) < C
            assert lv.n_classes_used[split] == torch.unique(y).numel()
            assert sum(lv.class_counts[split]) == len(s) and len(lv.class_counts[split]) == C
            assert lv.accuracy[split] == pytest.approx((y == s.labels).double().mean().item())
    assert ts.level(3) is ts.levels[-1] and ts.level("resnet18@1") is ts.levels[1]
    with pytest.raises(KeyError, match=r"no target level 2.*resnet18@3"):
        ts.level(2)

    meta = json.loads((tmp_path / "g" / "targets.json").read_text())
    assert meta["kind"] == "resnet18" and meta["epochs"] == 3 and meta["snapshot_epochs"] == [0, 1, 3]
    assert meta["seed"] == 0 and meta["lr"] == 0.01 and meta["init_bn"] == "calibrated"
    assert [lv["accuracy"]["test"] for lv in meta["levels"]] == [lv.accuracy["test"] for lv in ts.levels]
    assert [lv["n_classes_used"]["train"] for lv in meta["levels"]] == [lv.n_classes_used["train"] for lv in ts.levels]
    assert not (tmp_path / "g" / "generator_state.pt").exists(), "resume state is removed when finished"
    # the lock stays (deleting a lock file lets two trainers lock two files), as in an SSL run folder
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [".lock", "targets.json", "targets.pt"]


def test_first_and_last_epoch_always_recorded(tmp_path):
    ts = _train(tmp_path, epochs=2, snapshot_epochs=(1,))
    assert [lv.generator_epoch for lv in ts.levels] == [0, 1, 2]


def test_accuracy_on_true_labels_rises(tmp_path):
    ts = _train(tmp_path, epochs=4, snapshot_epochs=(0, 1, 2, 4), lr=0.02)
    test_acc = [lv.accuracy["test"] for lv in ts.levels]
    assert test_acc[-1] > test_acc[0] + 0.3
    assert test_acc[-1] >= 0.9, test_acc  # the easy set is learned: randomness 0 = near-semantic targets
    assert ts.levels[-1].accuracy["train"] >= 0.9
    assert ts.levels[-1].usable


def test_deterministic_for_a_seed(tmp_path):
    a, b = _train(tmp_path, "a"), _train(tmp_path, "b")
    c = _train(tmp_path, "c", seed=1)
    for la, lb in zip(a.levels, b.levels):
        for split in SETS:
            assert torch.equal(la.labels[split], lb.labels[split])
    assert not all(torch.equal(la.labels["train"], lc.labels["train"]) for la, lc in zip(a.levels, c.levels))


def test_caller_rng_untouched(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _train(tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_idempotent_reload_does_not_retrain(tmp_path):
    first = _train(tmp_path)
    BUILT["n"] = 0
    again = _train(tmp_path)
    assert BUILT["n"] == 0, "a finished out_dir must be loaded, not retrained"
    for la, lb in zip(first.levels, again.levels):
        assert la.name == lb.name and torch.equal(la.labels["test"], lb.labels["test"])
    loaded = load_targets(tmp_path / "g")
    assert [lv.accuracy for lv in loaded.levels] == [lv.accuracy for lv in first.levels]
    assert TargetSet.load(tmp_path / "g").levels[0].name == "resnet18@0"


def test_different_request_in_finished_dir_is_an_error(tmp_path):
    _train(tmp_path)
    with pytest.raises(TargetError, match="seed"):
        _train(tmp_path, seed=5)
    with pytest.raises(TargetError, match="splits"):
        train_target_generator(TargetSettings("resnet18", 3, (0, 1, 3), 32, 0.01), TRAIN, {"train": TRAIN},
                               tmp_path / "g", progress=False, classifier=tiny)


def test_resume_after_interruption_gives_the_same_targets(tmp_path):
    full = _train(tmp_path, "full")
    steps_per_epoch = 5  # 160 images / 32
    BUILT["crash_at"] = 2 * steps_per_epoch + 1  # dies during epoch 3, after epoch 2's state was saved
    try:
        with pytest.raises(KeyboardInterrupt):
            _train(tmp_path, "resumed")
    finally:
        BUILT["crash_at"] = None
    assert (tmp_path / "resumed" / "generator_state.pt").exists()
    assert not (tmp_path / "resumed" / "targets.json").exists()
    resumed = _train(tmp_path, "resumed")
    for la, lb in zip(full.levels, resumed.levels):
        for split in SETS:
            assert torch.equal(la.labels[split], lb.labels[split]), (la.name, split)


def test_resume_state_that_fails_its_content_hash_is_ignored(tmp_path, caplog):
    full = _train(tmp_path, "full")
    BUILT["crash_at"] = 2 * 5 + 1  # dies during epoch 3, after epoch 2's state was saved
    try:
        with pytest.raises(KeyboardInterrupt):
            _train(tmp_path, "rot")
    finally:
        BUILT["crash_at"] = None
    path = tmp_path / "rot" / "generator_state.pt"
    state = torch.load(path, weights_only=True)
    next(iter(state["model"].values())).add_(1.0)  # bit rot that still unpickles; the stored hash is unchanged
    torch.save(state, path)
    with caplog.at_level("WARNING", logger="sslre.targets"):
        again = _train(tmp_path, "rot")
    assert "ignoring resume state" in caplog.text and "content hash" in caplog.text
    for la, lb in zip(full.levels, again.levels):
        assert torch.equal(la.labels["test"], lb.labels["test"]), "trained again from scratch"


def test_a_generator_folder_in_use_is_refused(tmp_path):
    from sslre.train import RunDirLockedError, run_lock

    with run_lock(tmp_path / "g"):
        with pytest.raises(RunDirLockedError, match="in use by another trainer"):
            _train(tmp_path)
    assert not (tmp_path / "g" / "targets.json").exists()


def test_corrupt_finished_files_are_reported(tmp_path):
    _train(tmp_path)
    (tmp_path / "g" / "targets.pt").write_bytes(b"garbage")
    with pytest.raises(TargetError, match="unreadable"):
        load_targets(tmp_path / "g")
    with pytest.raises(TargetError, match="does not exist"):
        load_targets(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------
# degenerate levels, epoch-0 BatchNorm, divergence
# ------------------------------------------------------------------------------------------------
class Constant(nn.Module):
    """Always predicts class 0 (its one parameter gets zero gradient): the extreme degenerate generator."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.num_classes = num_classes

    def forward(self, x):
        logits = torch.zeros(x.shape[0], self.num_classes)
        logits[:, 0] = 1.0
        return logits + 0 * self.w


def constant(num_classes):
    return Constant(num_classes)


def test_degenerate_levels_are_flagged_not_fatal(tmp_path):
    ts = _train(tmp_path, classifier=constant, epochs=1, snapshot_epochs=(0, 1))
    for lv in ts.levels:
        assert lv.n_classes_used == {"train": 1, "test": 1}
        assert not lv.usable and "1 distinct class" in lv.reason and lv.reason.startswith("train:")
        assert lv.class_counts["train"] == [len(TRAIN), 0, 0, 0]
    assert ts.usable_levels == ()
    meta = json.loads((tmp_path / "g" / "targets.json").read_text())
    assert [lv["usable"] for lv in meta["levels"]] == [False, False]
    assert meta["init_bn"] == "no-batchnorm"


def test_init_bn_calibration_changes_only_epoch_zero(tmp_path):
    cal = _train(tmp_path, "cal", calibrate_init_bn=True)
    raw = _train(tmp_path, "raw", calibrate_init_bn=False)
    assert raw.meta["init_bn"] == "placeholder"
    assert not torch.equal(cal.levels[0].labels["train"], raw.levels[0].labels["train"])
    for lc, lr in zip(cal.levels[1:], raw.levels[1:]):
        assert torch.equal(lc.labels["test"], lr.labels["test"]), "training must not depend on the calibration"


class NaNInTrain(Tiny):
    def forward(self, x):
        out = super().forward(x)
        return out * float("nan") if self.training else out


def nan_in_train(num_classes):
    return NaNInTrain(num_classes)


def test_divergence_is_a_clear_error(tmp_path):
    with pytest.raises(TargetError, match="diverged.*lr"):
        _train(tmp_path, classifier=nan_in_train)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(kind="mlp"), "kind"),
        (dict(snapshot_epochs=(0, 9)), "outside"),
        (dict(epochs=0), "epochs"),
        (dict(eval_sets={}), "eval_sets"),
        (dict(batch_size=1), "batch_size"),
        (dict(lr=-1.0), "lr"),
    ],
)
def test_bad_arguments(tmp_path, kw, match):
    fields = dict(kind="resnet18", epochs=3, snapshot_epochs=None, batch_size=128, lr=None)
    fields.update({k: kw.pop(k) for k in list(kw) if k in fields})
    args = dict(settings=TargetSettings(**fields), train=TRAIN, eval_sets=SETS, out_dir=tmp_path / "x",
                progress=False, classifier=tiny)
    args.update(kw)
    with pytest.raises(TargetError, match=match):
        train_target_generator(**args)
    assert not (tmp_path / "x").exists(), "a bad request writes nothing"


# ------------------------------------------------------------------------------------------------
# the real generators (tiny sizes)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, size", [("resnet18", dict(width=4)), ("vit", dict(vit_dim=16, vit_depth=1, vit_heads=2))])
def test_builtin_generators_run(tmp_path, kind, size):
    pytest.importorskip("sslre.models")
    tr, te = TRAIN.subset(range(48)), TEST.subset(range(16))
    ts = train_target_generator(TargetSettings(kind, 1, None, 16, 1e-3, **size), tr, {"train": tr, "test": te},
                                tmp_path / kind, progress=False, device="cpu")
    assert [lv.name for lv in ts.levels] == [f"{kind}@0", f"{kind}@1"]
    assert ts.levels[0].labels["test"].shape == (16,)
    assert ts.meta["model_kwargs"] == ({"width": 4} if kind == "resnet18" else
                                       {"dim": 16, "depth": 1, "heads": 2, "image_size": 16})
    assert ts.meta["weight_decay"] == (0.0 if kind == "resnet18" else 5e-5)


@pytest.mark.gpu
def test_cuda_generator_matches_shapes(tmp_path):
    ts = _train(tmp_path, device="cuda")
    assert ts.meta["device"].startswith("cuda")
    assert ts.levels[-1].labels["test"].device.type == "cpu"
    assert ts.levels[-1].accuracy["test"] > ts.levels[0].accuracy["test"]


def test_probe_mask_drops_rare_classes():
    from sslre.targets import TargetLevel

    train_y = torch.tensor([0, 0, 0, 1, 1, 2])  # class 2 predicted once: not usable as a whole
    test_y = torch.tensor([2, 1, 0, 3])
    ok, _ = check_usable(train_y)
    lv = TargetLevel("resnet18@0", "resnet18", 0, 1.0, {"train": train_y, "test": test_y}, {}, {},
                     {"train": [3, 2, 1, 0], "test": [1, 1, 1, 1]}, ok)
    assert not lv.usable
    assert lv.probe_mask("train").tolist() == [True] * 5 + [False]
    assert lv.probe_mask("test").tolist() == [False, True, True, False]
    assert check_usable(train_y[lv.probe_mask("train")]) == (True, "")
    assert not lv.probe_mask("train", min_per_class=3).any()  # only class 0 survives: < 2 classes


def test_num_threads_restored(tmp_path):
    before = torch.get_num_threads()
    _train(tmp_path, num_threads=before + 1, epochs=1, snapshot_epochs=(0, 1))
    assert torch.get_num_threads() == before
    with pytest.raises(TargetError, match="num_threads"):
        _train(tmp_path, "t2", num_threads=0)


def test_foreign_resume_state_is_ignored(tmp_path):
    ref = _train(tmp_path, "ref")
    out = tmp_path / "bad"
    out.mkdir()
    torch.save({"request": {"something": "else"}, "model": {}}, out / "generator_state.pt")
    got = _train(tmp_path, "bad")
    for la, lb in zip(ref.levels, got.levels):
        assert torch.equal(la.labels["test"], lb.labels["test"])


# ------------------------------------------------------------------------------------------------
# diagnostics, the degeneracy rule, the generator's own training images
# ------------------------------------------------------------------------------------------------
def test_level_diagnostics_hand_made():
    pred = {"train": torch.tensor([0, 0, 0, 1, 2, 2]), "test": torch.tensor([1, 1, 1, 1])}
    true = {"train": torch.tensor([0, 1, 0, 1, 2, 0]), "test": torch.tensor([1, 0, 1, 0])}
    d = level_diagnostics(pred, true, num_classes=4, fit_true_acc=0.9)
    assert d["n_classes_train"] == 3 and d["n_classes_test"] == 1
    assert d["majority_share_train"] == pytest.approx(3 / 6)
    assert d["majority_share_test"] == pytest.approx(1.0)
    assert d["train_true_acc"] == pytest.approx(4 / 6)
    assert d["test_true_acc"] == pytest.approx(2 / 4)
    assert d["true_acc_gap"] == pytest.approx(4 / 6 - 2 / 4)
    assert d["fit_true_acc"] == pytest.approx(0.9)
    assert math.isnan(level_diagnostics(pred, true, 4)["fit_true_acc"])


def _diag(n_tr=10, n_te=10, maj_tr=0.1, maj_te=0.1, gap=0.0):
    return {"n_classes_train": n_tr, "n_classes_test": n_te, "majority_share_train": maj_tr,
            "majority_share_test": maj_te, "true_acc_gap": gap}


@pytest.mark.parametrize("diag, C, excluded, words", [
    (_diag(), 10, False, ""),
    (_diag(n_tr=5, n_te=5), 10, False, ""),                       # exactly half of the classes is enough
    (_diag(n_tr=4), 10, True, "train: predicts 4 of 10 classes (< 5)"),
    (_diag(n_te=4), 10, True, "test: predicts 4 of 10"),
    (_diag(n_tr=2, n_te=2), 5, True, "(< 3)"),                   # odd C: ceil(C / 2)
    (_diag(n_tr=3, n_te=3), 5, False, ""),
    (_diag(maj_tr=0.5, maj_te=0.5), 10, False, ""),              # a majority of exactly one half is kept
    (_diag(maj_te=0.51), 10, True, "test: majority share 0.510 > 0.5"),
    (_diag(gap=0.15), 10, False, ""),
    (_diag(gap=0.151), 10, True, "memorised"),
    (_diag(gap=-0.4), 10, False, ""),                            # test better than train: no memorisation
    (_diag(n_tr=3, maj_tr=0.78, gap=0.49), 10, True, "classes (< 5); train: majority share 0.780 > 0.5; train-test"),
])
def test_exclusion_rule_table(diag, C, excluded, words):
    why = exclusion_reason(diag, C)
    assert bool(why) == excluded
    assert words in why


def test_exclusion_rule_agrees_with_its_statement_on_random_levels():
    """Cross-check against an independent numpy restatement of the rule on random predicted labellings."""
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        C = int(rng.integers(2, 12))
        # Dirichlet weights with a random concentration: from one dominant class to near-uniform.
        p_tr, p_te = (rng.dirichlet(np.full(C, rng.uniform(0.05, 3))) for _ in range(2))
        y = {"train": rng.choice(C, 60, p=p_tr), "test": rng.choice(C, 40, p=p_te)}
        truth = {"train": rng.integers(0, C, 60), "test": rng.integers(0, C, 40)}
        d = level_diagnostics({k: torch.from_numpy(v) for k, v in y.items()},
                              {k: torch.from_numpy(v) for k, v in truth.items()}, C)
        expect = any(
            len(np.unique(y[s])) < math.ceil(C / 2) or np.bincount(y[s]).max() / y[s].size > 0.5
            for s in ("train", "test")
        ) or (np.mean(y["train"] == truth["train"]) - np.mean(y["test"] == truth["test"])) > 0.15
        assert bool(exclusion_reason(d, C)) == expect
        seen.add(expect)
    assert seen == {True, False}  # both outcomes exercised


def test_rule_constants_are_the_protocol():
    assert DEGENERACY_RULE == {"min_class_fraction": 0.5, "max_majority_share": 0.5, "max_true_acc_gap": 0.15,
                               "splits": ["train", "test"], "rare_class_images_dropped_below": 2}


def _level(train_y, test_y, C=4):
    from sslre.targets import TargetLevel, _judge

    pred = {"train": torch.tensor(train_y), "test": torch.tensor(test_y)}
    ok, why = check_usable(pred["train"])
    diag = level_diagnostics(pred, pred, C)  # true labels = predictions: no accuracy gap
    counts = {s: torch.bincount(y, minlength=C).tolist() for s, y in pred.items()}
    reason = f"train: {why}" if why else ""
    return _judge(TargetLevel("resnet18@1", "resnet18", 1, 0.5, pred, {}, {}, counts, ok, reason, diag), C)


def test_rare_classes_are_left_out_not_the_level():
    lv = _level([0, 0, 0, 1, 1, 1, 2, 2, 2, 3], [0, 1, 2, 3, 3])  # class 3 predicted once on train
    assert not lv.usable and not lv.excluded and lv.exclusion == ""
    assert lv.dropped == {"train": 1, "test": 2}
    assert lv.measure_mask("train").tolist() == [True] * 9 + [False]
    assert lv.measure_mask("test").tolist() == [True, True, True, False, False]
    # a class never predicted on train stays (its test images are errors, as for every level)
    kept = _level([0, 0, 1, 1, 2, 2], [3, 0, 1, 2])
    assert kept.usable and kept.dropped == {"train": 0, "test": 0} and kept.measure_mask("test").all()
    # fewer than 2 classes with 2 images: excluded, whatever the rule says
    gone = _level([0, 0, 1, 2, 3], [0, 1, 2, 3])
    assert gone.excluded and "fewer than 2 images" in gone.exclusion


def test_diagnostics_and_exclusions_recorded_and_reloaded(tmp_path):
    ts = _train(tmp_path, classifier=constant, epochs=1, snapshot_epochs=(0, 1), train_source="hand-made")
    meta = json.loads((tmp_path / "g" / "targets.json").read_text())
    assert meta["format"] == "sslre-targets/2" and meta["degeneracy_rule"] == DEGENERACY_RULE
    # the generator here trains on TRAIN, which it also labels: every train image overlaps, no test image does
    assert meta["generator_train"] == {"n": len(TRAIN), "source": "hand-made",
                                       "overlap": {"train": len(TRAIN), "test": 0}}
    for lv, m in zip(ts.levels, meta["levels"]):
        assert m["diagnostics"] == lv.diagnostics
        assert lv.diagnostics["n_classes_train"] == 1 and lv.diagnostics["majority_share_test"] == 1.0
        assert lv.diagnostics["train_true_acc"] == pytest.approx(0.25)      # always class 0, 4 balanced classes
        assert lv.diagnostics["fit_true_acc"] == pytest.approx(0.25)
        assert lv.excluded and m["excluded"]
        assert "1 distinct class" in lv.exclusion and "majority share 1.000" in lv.exclusion
    assert ts.kept_levels == ()


def test_rule_is_applied_at_load(tmp_path, monkeypatch):
    ts = _train(tmp_path, epochs=4, snapshot_epochs=(0, 1, 2, 4), lr=0.02)
    last = ts.levels[-1]
    assert not last.excluded and last.diagnostics["n_classes_train"] == C
    monkeypatch.setattr(T, "MIN_CLASS_FRACTION", 1.01)  # a stricter rule in the code now in use ...
    assert all(lv.excluded for lv in load_targets(tmp_path / "g").levels)  # ... decides, not the stored flag


def test_seeds_give_different_generators(tmp_path):
    a, b = _train(tmp_path, "a", seed=0), _train(tmp_path, "b", seed=1)
    assert a.seed == 0 and b.seed == 1
    assert not torch.equal(a.levels[0].labels["train"], b.levels[0].labels["train"]), "init differs"
    assert not torch.equal(a.levels[-1].labels["test"], b.levels[-1].labels["test"])


def test_older_format_is_not_complete(tmp_path):
    _train(tmp_path)
    assert is_complete(tmp_path / "g")
    meta = json.loads((tmp_path / "g" / "targets.json").read_text())
    (tmp_path / "g" / "targets.json").write_text(json.dumps({**meta, "format": "sslre-targets/1"}))
    assert not is_complete(tmp_path / "g") and not is_complete(tmp_path / "none")
    with pytest.raises(TargetError, match="not a complete"):
        load_targets(tmp_path / "g")


def _keys(images: torch.Tensor) -> set:
    return {bytes(x.numpy().tobytes()) for x in images}


def test_generator_data_synthetic_is_disjoint_and_per_seed():
    from sslre.config import profile_config

    config = profile_config("quick", train_subset=40, test_subset=20, image_size=16)
    ssl, g0, src = generator_data(config, 0)
    _, g0_again, _ = generator_data(config, 0)
    ssl1, g1, _ = generator_data(config, 1)
    assert len(g0) == len(ssl.train) == 40 and len(ssl.test) == 20
    assert torch.equal(ssl1.train.images, ssl.train.images), "the SSL splits do not depend on the generator seed"
    assert torch.equal(g0.images, g0_again.images) and not torch.equal(g0.images, g1.images)
    assert not (_keys(g0.images) & (_keys(ssl.train.images) | _keys(ssl.test.images)))
    assert torch.bincount(g0.labels).tolist() == [4] * 10 and "disjoint" in src


def test_generator_data_real_dataset_uses_the_rest_of_the_train_split(monkeypatch):
    import sslre.data as D
    from sslre.config import profile_config
    from sslre.data.base import DataSplits, ImageSet

    def fake(n, offset):
        y = torch.arange(n) % 4
        x = (torch.arange(n) + offset).reshape(n, 1, 1, 1).expand(n, 3, 2, 2).to(torch.uint8)  # image i: value i
        return ImageSet(x.contiguous(), y, y % 2, list("abcd"), ["e", "o"], "fake")

    monkeypatch.setattr(D, "load_dataset", lambda *a, **k: DataSplits(fake(100, 0), fake(30, 120)))
    config = profile_config("small", dataset="cifar10", train_subset=40, test_subset=20)
    ssl, g0, src = generator_data(config, 0)
    _, g1, _ = generator_data(config, 1)
    assert torch.equal(ssl.train.images, D.subset_splits(D.load_dataset(), 40, 20, 0).train.images)
    assert len(g0) == 40 and torch.bincount(g0.labels).tolist() == [10] * 4
    assert not (_keys(g0.images) & (_keys(ssl.train.images) | _keys(ssl.test.images)))
    assert not torch.equal(g0.images, g1.images) and "outside the SSL subset" in src
    # the whole train split in use: no disjoint images, the SSL train split itself (as in the paper)
    ssl, g, src = generator_data(config.replace(train_subset=0, test_subset=0), 0)
    assert g is ssl.train and "no disjoint images" in src
