"""Random-target generators (sslre/targets.py, Sec. 5, App. A.3, B.5)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from sslre.data.base import ImageSet
from sslre.targets import (
    TargetError,
    TargetSet,
    check_usable,
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


def _train(tmp_path, name="g", **kw):
    args = dict(epochs=3, snapshot_epochs=(0, 1, 3), seed=0, batch_size=32, lr=0.01, progress=False,
                classifier=tiny, device="cpu")
    args.update(kw)
    return train_target_generator("resnet18", TRAIN, SETS, out_dir=tmp_path / name, **args)


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
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["targets.json", "targets.pt"]


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
        train_target_generator("resnet18", TRAIN, {"train": TRAIN}, out_dir=tmp_path / "g", epochs=3,
                               snapshot_epochs=(0, 1, 3), batch_size=32, lr=0.01, progress=False, classifier=tiny)


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
    args = dict(kind="resnet18", train=TRAIN, eval_sets=SETS, out_dir=tmp_path / "x", epochs=3, progress=False,
                classifier=tiny)
    args.update(kw)
    with pytest.raises(TargetError, match=match):
        train_target_generator(**args)


# ------------------------------------------------------------------------------------------------
# the real generators (tiny sizes)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, size", [("resnet18", dict(width=4)), ("vit", dict(vit_dim=16, vit_depth=1, vit_heads=2))])
def test_builtin_generators_run(tmp_path, kind, size):
    pytest.importorskip("sslre.models")
    tr, te = TRAIN.subset(range(48)), TEST.subset(range(16))
    ts = train_target_generator(kind, tr, {"train": tr, "test": te}, out_dir=tmp_path / kind, epochs=1,
                                batch_size=16, lr=1e-3, progress=False, device="cpu", **size)
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
