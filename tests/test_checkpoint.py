import pytest
import torch

from sslre.checkpoint import (
    FORMAT,
    CheckpointError,
    atomic_save,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint,
)
from sslre.config import profile_config
from sslre.methods import build_method
from sslre.models.resnet_lh import ResLH


@pytest.fixture
def saved(tmp_path):
    cfg = profile_config("quick", arch="RES-2-8", proj_hidden=16, proj_out=8, seed=3)
    torch.manual_seed(0)
    m = build_method(cfg)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    path = atomic_save(make_checkpoint(m, opt, sched, 4, cfg, history=[{"epoch": 0, "loss_total": 1.0}]),
                       checkpoint_path(tmp_path, 4))
    return cfg, m, path


def test_roundtrip(saved):
    cfg, m, path = saved
    ck = load_checkpoint(path)
    assert ck.config == cfg and ck.epoch == 4 and ck.path == path
    assert isinstance(ck.model, ResLH) and not ck.model.training and not ck.method.training
    for k, v in m.state_dict().items():
        assert torch.equal(ck.method.state_dict()[k], v), k
    assert set(ck.versions) == {"torch", "torchvision", "lightly", "sslre", "python"}
    assert ck.raw["format"] == FORMAT and ck.raw["seed"] == 3
    assert {"optimizer", "scheduler", "rng"} <= set(ck.raw)
    assert ck.history == [{"epoch": 0, "loss_total": 1.0}]
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(ck.model(x), m.backbone.eval()(x))


def test_package_reexport(saved):
    import sslre

    assert sslre.load_checkpoint(saved[2]).epoch == 4


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("keep", [0, 10, 0.5])
def test_truncated_file(saved, tmp_path, keep):
    data = saved[2].read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(bad)


def test_garbage_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(bad)


@pytest.mark.parametrize("obj", [{"weight": torch.zeros(2)}, [1, 2], {"format": "other"}])
def test_foreign_torch_file(tmp_path, obj):
    p = tmp_path / "foreign.pt"
    torch.save(obj, p)
    with pytest.raises(CheckpointError, match="not an sslre checkpoint"):
        load_checkpoint(p)


def test_wrong_version_and_mismatched_weights(saved, tmp_path):
    raw = torch.load(saved[2], weights_only=True)
    raw["format_version"] = 99
    torch.save(raw, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(tmp_path / "v.pt")
    raw["format_version"] = 1
    raw["config"]["arch"] = "RES-2-9"
    torch.save(raw, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "w.pt")


def test_atomic_save_leaves_no_temp_files_and_replaces(tmp_path):
    p = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(1)}, p)
    atomic_save({"a": torch.zeros(1)}, p)
    assert torch.load(p, weights_only=True)["a"].item() == 0
    assert [q.name for q in tmp_path.iterdir()] == ["x.pt"]


def test_list_checkpoints(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ["epoch_0010.pt", "epoch_0000.pt", "last.pt", "epoch_0002.pt", ".epoch_0003.pt.abc.tmp", "notes.txt"]:
        (folder / name).write_bytes(b"")
    got = list_checkpoints(tmp_path)
    assert list(got) == [0, 2, 10]
    assert got[10] == folder / "epoch_0010.pt"
    assert list_checkpoints(tmp_path / "missing") == {}


def test_pickled_objects_are_refused_as_foreign(tmp_path):
    p = tmp_path / "obj.pt"
    torch.save({"format": FORMAT, "model": torch.nn.Linear(2, 2)}, p)  # a whole pickled module
    with pytest.raises(CheckpointError, match="not an sslre checkpoint"):
        load_checkpoint(p)
