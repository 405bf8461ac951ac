import json
import os
import random

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from sslre.checkpoint import (
    FORMAT,
    INDEX_NAME,
    CheckpointError,
    content_digest,
    read_checkpoint,
    save_checkpoint,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint,
)
from sslre import io
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
    path = io.save_torch(make_checkpoint(m, opt, sched, 4, cfg, history=[{"epoch": 0, "loss_total": 1.0}]),
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
    with pytest.raises(CheckpointError, match="not a torch checkpoint file"):
        load_checkpoint(bad)


def test_random_bytes_are_not_called_python_objects(tmp_path):
    # Was: "is a torch file but not an sslre checkpoint: it holds Python objects".
    bad = tmp_path / "last.pt"
    bad.write_bytes(bytes(random.Random(0).getrandbits(8) for _ in range(3000)))
    with pytest.raises(CheckpointError, match="not a torch checkpoint file") as e:
        load_checkpoint(bad)
    assert "Python objects" not in str(e.value)


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
    raw["sha256"] = content_digest(raw)  # a well-formed file whose weights do not fit its config
    torch.save(raw, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "w.pt")


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


# --- integrity: content hash, index, fuzz --------------------------------------------------------------------
def _tensor_span(path):
    """(start, end) byte range of the largest tensor's data inside the saved zip (stored uncompressed)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = (int.from_bytes(f.read(2), "little") for _ in range(2))
    start = info.header_offset + 30 + name_len + extra_len
    return start, start + info.file_size


def test_checkpoint_carries_its_content_hash(saved):
    raw = read_checkpoint(saved[2])
    assert raw["sha256"] == content_digest(raw) and len(raw["sha256"]) == 64


def test_flipped_bytes_in_tensor_data_are_detected(saved, tmp_path):
    # Was: 64 flipped bytes inside the tensor data loaded without error.
    data = bytearray(saved[2].read_bytes())
    start, end = _tensor_span(saved[2])
    rng = random.Random(1)
    for pos in rng.sample(range(start, end), 64):
        data[pos] ^= 0xFF
    bad = tmp_path / "rot.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="content hash"):
        load_checkpoint(bad)


def test_index_refuses_a_file_from_another_run(saved, tmp_path):
    cfg = saved[0]
    other = tmp_path / "other" / "checkpoints"
    mine = tmp_path / "mine" / "checkpoints"
    for folder, seed in ((mine, 0), (other, 1)):
        torch.manual_seed(seed)
        m = build_method(cfg.replace(seed=seed))
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        save_checkpoint(make_checkpoint(m, opt, None, 2, cfg.replace(seed=seed)), folder / "last.pt")
    index = json.loads((mine / INDEX_NAME).read_text())
    assert index["last.pt"]["sha256"] == [read_checkpoint(mine / "last.pt")["sha256"]]
    (mine / "last.pt").write_bytes((other / "last.pt").read_bytes())
    with pytest.raises(CheckpointError, match="not the file this run wrote"):
        load_checkpoint(mine / "last.pt")


def test_index_refuses_a_hashless_file_where_it_recorded_a_hash(saved, tmp_path):
    cfg, m, path = saved
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    save_checkpoint(make_checkpoint(m, opt, None, 1, cfg), last)
    old = read_checkpoint(path)
    del old["sha256"]  # as written by an sslre before the digest existed
    torch.save(old, last)
    with pytest.raises(CheckpointError, match="carries no content hash, but index.json records one"):
        load_checkpoint(last)
    torch.save(old, tmp_path / "old.pt")  # outside an indexed folder: an old checkpoint still loads
    assert load_checkpoint(tmp_path / "old.pt").epoch == 4


def test_index_accepts_the_old_file_while_the_new_one_is_being_written(saved, tmp_path, monkeypatch):
    import sslre.checkpoint as ck

    cfg, m, _ = saved
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(make_checkpoint(m, opt, None, 1, cfg), path)

    def killed(obj, p):  # kill -9 between the index update and the replace
        raise KeyboardInterrupt

    monkeypatch.setattr(ck.io, "save_torch", killed)
    with torch.no_grad():
        next(m.parameters()).add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(make_checkpoint(m, opt, None, 2, cfg), path)
    assert load_checkpoint(path).epoch == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_checkpoints_never_load_wrong(saved, tmp_path, data):
    """Any truncation or byte mutation either raises CheckpointError or loads exactly the saved content."""
    original = saved[2].read_bytes()
    ref = read_checkpoint(saved[2])
    mutated = bytearray(original)
    if data.draw(st.booleans(), label="truncate"):
        mutated = mutated[: data.draw(st.integers(0, len(original) - 1), label="keep")]
    else:
        lo, hi = data.draw(st.sampled_from([(0, len(original)), _tensor_span(saved[2])]), label="region")
        for pos in data.draw(st.lists(st.integers(lo, hi - 1), min_size=1, max_size=64), label="positions"):
            mutated[pos] = data.draw(st.integers(0, 255), label="byte")
    bad = tmp_path / "fuzz.pt"
    bad.write_bytes(bytes(mutated))
    try:
        ck = load_checkpoint(bad)
    except CheckpointError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert ck.raw["sha256"] == ref["sha256"] == content_digest(ck.raw)
