import json

import pytest

from sslre.evidence import (EvidenceError, PORTABLE_KEYS, evidence_dir, portable_fingerprint, publish,
                            published_runs, published_table)


def _run_folder(tmp_path, name="vicreg-s0"):
    run = tmp_path / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "epoch_0001.pt").write_bytes(b"weights")
    (run / "features").mkdir()
    (run / "config.json").write_text('{"seed": 0}\n')
    (run / "history.jsonl").write_text('{"epoch": 0}\n')
    (run / "measurements.csv").write_text("run,seed\nvicreg,0\n")
    fp = {"measurement_version": 4, "run": "vicreg", "seed": 0, "config": {"seed": 0}, "coverage": {"sample": True},
          "settings": {"probe": "svc"}, "sample_level": {"n_images": 200},
          "checkpoints": {"1": ["epoch_0001.pt", 7, 123]}, "history": ["history.jsonl", 13, 456], "targets": []}
    (run / "measurements.meta.json").write_text(json.dumps({"fingerprint": fp}))
    return run, fp


def test_publish_copies_the_small_files_and_never_checkpoints(tmp_path):
    run, _ = _run_folder(tmp_path)
    dest = tmp_path / "reports" / "runs" / "vicreg-s0"
    names = publish(run, dest)
    assert names == ["config.json", "history.jsonl", "measurements.csv", "measurements.meta.json"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(names)
    assert (dest / "measurements.csv").read_text() == (run / "measurements.csv").read_text()
    assert publish(run, dest) == names   # publishing again overwrites in place


def test_publish_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvidenceError, match="neither config.json nor targets.json"):
        publish(tmp_path / "empty", tmp_path / "out")


def test_publish_takes_a_generator_folder(tmp_path):
    """A random-target generator has no config.json: its targets are what is published (never its weights)."""
    gen = tmp_path / "targets-vit-s0"
    (gen / "checkpoints").mkdir(parents=True)
    (gen / "targets.json").write_text("{}")
    (gen / "targets.pt").write_bytes(b"x" * 10)
    (gen / "checkpoints" / "epoch_0001.pt").write_bytes(b"w")
    assert publish(gen, tmp_path / "out") == ["targets.json", "targets.pt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["targets.json", "targets.pt"]


def test_a_published_table_is_used_only_under_the_same_portable_fingerprint(tmp_path):
    run, fp = _run_folder(tmp_path)
    dest = tmp_path / "pub" / "vicreg-s0"
    publish(run, dest)
    # another machine: other file stamps, the same measurement -> used
    elsewhere = {**fp, "checkpoints": {"1": ["epoch_0001.pt", 7, 999]}, "history": None}
    assert published_table(dest, elsewhere) == dest / "measurements.csv"
    for key in PORTABLE_KEYS:
        changed = {**fp, key: "something else"}
        assert published_table(dest, changed) is None, key
    (dest / "measurements.meta.json").write_text("{not json")
    assert published_table(dest, fp) is None


def test_portable_fingerprint_keeps_exactly_the_portable_keys():
    fp = {k: i for i, k in enumerate(PORTABLE_KEYS)} | {"checkpoints": {}, "history": None}
    assert list(portable_fingerprint(fp)) == list(PORTABLE_KEYS)


def test_published_runs_lists_run_folders_of_a_profile(tmp_path):
    assert evidence_dir("quick", tmp_path) is None
    base = evidence_dir("medium", tmp_path)
    assert base == tmp_path / "reports" / "cifar10-medium" / "runs"
    assert published_runs("medium", tmp_path) == []
    for name in ("vicreg-s1", "vicreg-s0"):
        (base / name).mkdir(parents=True)
        (base / name / "config.json").write_text("{}")
    (base / "stray").mkdir()
    assert published_runs("medium", tmp_path) == ["vicreg-s0", "vicreg-s1"]


def test_conflicts_name_published_runs_of_another_config(tmp_path, monkeypatch):
    from sslre.evidence import conflicts
    from sslre.experiments import DEVICE_ENV, runs_for

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    cpu = runs_for("medium")
    folder = cpu["vicreg"].run_dir(tmp_path, 1)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cpu["vicreg"].config_for(1).to_dict()))
    assert conflicts(cpu, tmp_path) == []                    # the same config: no conflict
    assert conflicts(cpu, None) == []
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    (clash,) = conflicts(runs_for("medium"), tmp_path)      # the CPU run, seen from a GPU reproduction
    assert clash.startswith(str(folder)) and "device: 'auto' (published) vs 'cuda' (asked)" in clash


@pytest.mark.parametrize("profile", ["small", "medium"])
def test_the_committed_evidence_is_of_the_registrys_configs(profile, monkeypatch):
    from sslre.evidence import conflicts
    from sslre.experiments import DEVICE_ENV, runs_for

    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.delenv("SSLRE_EVIDENCE", raising=False)
    assert published_runs(profile)
    assert conflicts(runs_for(profile), evidence_dir(profile)) == []


def test_recorded_cost_sums_what_the_published_runs_record(tmp_path):
    from sslre.evidence import recorded_cost

    run, _ = _run_folder(tmp_path)   # a measured run: history without timings, meta without seconds
    old = tmp_path / "pub" / "vicreg-s0"
    new = tmp_path / "pub" / "vicreg-s1"
    gen = tmp_path / "pub" / "targets-vit-s0"
    for f in (old, new, gen):
        f.mkdir(parents=True)
    (old / "history.jsonl").write_text('{"epoch": 0, "seconds": 5.0}\n{"epoch": 1, "seconds": 20.0}\n')
    (new / "history.jsonl").write_text('{"epoch": 0, "seconds": 9.0, "cpu_seconds": 4.0}\n'
                                       '{"epoch": 1, "seconds": 90.0, "cpu_seconds": 16.0}\n')
    (new / "measurements.meta.json").write_text('{"seconds": 30.5}')
    (gen / "targets.json").write_text('{"seconds": 100.0}')
    cost = recorded_cost(tmp_path / "pub")
    assert cost == {"training": pytest.approx(25.0 + 20.0), "wall_only": pytest.approx(25.0),
                    "measurement": pytest.approx(30.5), "generators": pytest.approx(100.0), "runs": 3}
    assert recorded_cost(tmp_path / "absent")["runs"] == 0 and recorded_cost(None)["training"] == 0
