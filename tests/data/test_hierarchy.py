"""Hierarchy files of ImageFolder trees: formats, errors, the Config field and the CLI flags."""
import json

import pytest
import torch
from PIL import Image

from sslre.config import Config, ConfigError
from sslre.data import DatasetNotFoundError, load_dataset, load_dataset_for
from sslre.data.base import DataError

CLASSES = {"cat": 3, "dog": 2, "truck": 4}  # sorted: cat=0, dog=1, truck=2


def _tree(root, counts=CLASSES):
    """``root/{train,test}/<class>/NNNN.{png,jpg}``: tiny 8x8 images, PNG and JPEG mixed."""
    for split in ("train", "test"):
        for cls, n in counts.items():
            d = root / split / cls
            d.mkdir(parents=True)
            for k in range(n):
                Image.new("RGB", (8, 8), (20 * k, 40 * len(cls), 90)).save(d / f"{k:04d}.{'png' if k % 2 else 'jpg'}")
    return root


GROUPED = {"animal": ["cat", "dog"], "vehicle": ["truck"]}
FLAT = {"cat": "animal", "dog": "animal", "truck": "vehicle"}
CSV = "class,superclass\ncat,animal\ndog,animal\ntruck,vehicle\n"


@pytest.mark.parametrize("name,text", [("h.json", json.dumps(GROUPED)), ("h.json", json.dumps(FLAT)),
                                       ("h.csv", CSV), ("h.csv", CSV.split("\n", 1)[1])])
def test_every_format_gives_the_same_labels_and_superlabels(tmp_path, name, text):
    tree = _tree(tmp_path / "tree")
    (tmp_path / name).write_text(text)
    sp = load_dataset(f"imagefolder:{tree}", hierarchy=str(tmp_path / name), image_size=8)
    for s in (sp.train, sp.test):
        assert s.class_names == ("cat", "dog", "truck")
        assert s.superclass_names == ("animal", "vehicle")
        assert s.labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
        assert s.superlabels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
        assert s.class_to_superclass().tolist() == [0, 0, 1]
        assert s.has_hierarchy


def test_without_a_hierarchy_every_class_is_its_own_superclass(tmp_path):
    sp = load_dataset(f"imagefolder:{_tree(tmp_path)}", image_size=8)
    assert torch.equal(sp.train.superlabels, sp.train.labels)
    assert sp.train.superclass_names == sp.train.class_names
    assert not sp.train.has_hierarchy and not sp.test.has_hierarchy


def test_other_datasets_report_their_hierarchy():
    sp = load_dataset("synthetic", n_train=40, n_test=20, n_classes=4, n_superclasses=2)
    assert sp.train.has_hierarchy and Config(dataset="synthetic", synthetic_classes=4).has_hierarchy
    assert not Config(dataset="synthetic", synthetic_classes=2, synthetic_superclasses=2).has_hierarchy
    assert Config(dataset="cifar100").has_hierarchy
    assert not Config(dataset="imagefolder:x").has_hierarchy
    assert Config(dataset="imagefolder:x", hierarchy="h.json").has_hierarchy


@pytest.mark.parametrize("name,text,needle", [
    ("h.json", json.dumps({"animal": ["cat", "dog", "zebra"], "vehicle": ["truck"]}),
     r"h.json: class 'zebra' is not a class folder of the tree \(classes: cat, dog, truck\)"),
    ("h.json", json.dumps({"animal": ["cat"], "vehicle": ["truck"]}), r"h.json: no superclass for class 'dog'"),
    ("h.json", json.dumps({"animal": ["cat", "dog"], "vehicle": ["truck", "dog"]}),
     r"h.json: class 'dog' is listed twice \(under 'animal' and 'vehicle'\)"),
    ("h.json", '{"cat": "animal", "dog": "animal", "truck": "vehicle", "cat": "vehicle"}',
     r"h.json: class 'cat' is listed twice"),
    ("h.csv", CSV + "dog,vehicle\n", r"h.csv: class 'dog' is listed twice"),
    ("h.json", '{"animal": ["cat", "dog"', r"h.json is not valid JSON"),
    ("h.json", '["cat", "dog"]', r"h.json holds no object of superclasses"),
    ("h.json", json.dumps({"animal": ["cat", "dog", "truck"], "empty": []}), r"superclass 'empty' lists no class"),
    ("h.json", json.dumps({"animal": 3}), r"entry 'animal' holds 3"),
    ("h.csv", "cat,animal,extra\n", r"h.csv: row 1 is 'cat,animal,extra'"),
    ("h.csv", "", r"h.csv holds no class,superclass row"),
])
def test_hierarchy_errors_name_the_file_and_the_class(tmp_path, name, text, needle):
    tree = _tree(tmp_path / "tree")
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=needle) as info:
        load_dataset(f"imagefolder:{tree}", hierarchy=str(tmp_path / name), image_size=8)
    assert "\n" not in str(info.value)


def test_missing_and_unreadable_hierarchy_files(tmp_path):
    tree = _tree(tmp_path / "tree")
    with pytest.raises(DatasetNotFoundError, match=r"hierarchy file .*nope.json does not exist"):
        load_dataset(f"imagefolder:{tree}", hierarchy=str(tmp_path / "nope.json"))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match=r"hierarchy file .*bin.json cannot be read"):
        load_dataset(f"imagefolder:{tree}", hierarchy=str(tmp_path / "bin.json"))


def test_config_field_reaches_the_loader_and_is_refused_for_other_datasets(tmp_path):
    tree = _tree(tmp_path / "tree")
    (tmp_path / "h.json").write_text(json.dumps(GROUPED))
    sp = load_dataset_for(Config(dataset=f"imagefolder:{tree}", hierarchy=str(tmp_path / "h.json"), image_size=8))
    assert sp.train.superclass_names == ("animal", "vehicle")
    with pytest.raises(ConfigError, match=r"hierarchy 'h.json' is for imagefolder:<path> datasets only"):
        Config(dataset="cifar10", hierarchy="h.json")
    assert Config(hierarchy="").changed() == {}  # at its default the field changes no run, cache or table


def _one_line(capsys, code, rc, *needles):
    err = capsys.readouterr().err
    assert rc == code and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for n in needles:
        assert n in err
    return err


TINY = ["--profile", "quick", "--method", "vicreg", "--arch", "RES-1-8", "--set", "proj_hidden=16",
        "--set", "proj_out=8", "--set", "batch_size=4", "--set", "image_size=8", "--set", "checkpoint_epochs=0,1",
        "--epochs", "1", "--device", "cpu", "--no-progress"]


def test_cli_train_on_a_tree_with_a_hierarchy_file(tmp_path, capsys):
    from sslre.checkpoint import list_checkpoints
    from sslre.cli import main

    tree = _tree(tmp_path / "tree")
    (tmp_path / "h.json").write_text(json.dumps(GROUPED))
    run = tmp_path / "run"
    rc = main(["train", *TINY, "--dataset", f"imagefolder:{tree}", "--hierarchy", str(tmp_path / "h.json"),
               "--run-dir", str(run)])
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["hierarchy"] == str(tmp_path / "h.json") and cfg["dataset"] == f"imagefolder:{tree}"
    assert list(list_checkpoints(run)) == [0, 1]
    # the errors: one line, the file and the class named, nothing written
    (tmp_path / "bad.json").write_text(json.dumps({"animal": ["cat", "dog", "cow"], "vehicle": ["truck"]}))
    rc = main(["train", *TINY, "--dataset", f"imagefolder:{tree}", "--hierarchy", str(tmp_path / "bad.json"),
               "--run-dir", str(tmp_path / "r2")])
    _one_line(capsys, 3, rc, "sslre: data error: hierarchy file", "bad.json: class 'cow' is not a class folder")
    assert not (tmp_path / "r2" / "config.json").exists()
    rc = main(["train", *TINY, "--dataset", "synthetic", "--hierarchy", str(tmp_path / "h.json"),
               "--run-dir", str(tmp_path / "r3")])
    _one_line(capsys, 2, rc, "sslre: config error: hierarchy", "imagefolder:<path> datasets only")


def test_reproduce_puts_the_profile_runs_on_the_user_data(tmp_path, monkeypatch):
    from sslre.experiments import DATASET_ENV, HIERARCHY_ENV, Run, runs_for, train_command
    from sslre.reproduce import user_data_env

    tree = _tree(tmp_path / "tree")
    (tmp_path / "h.csv").write_text(CSV)
    monkeypatch.chdir(tmp_path)
    env = user_data_env("imagefolder:tree", "h.csv")  # relative paths become absolute: the claims run elsewhere
    assert env == {DATASET_ENV: f"imagefolder:{tree}", HIERARCHY_ENV: str(tmp_path / "h.csv")}
    with pytest.raises(ConfigError, match="imagefolder:<path> datasets only"):
        user_data_env("cifar10", "h.csv")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    specs = runs_for("quick")
    main = specs[Run.MAIN].config
    assert (main.dataset, main.hierarchy) == (f"imagefolder:{tree}", str(tmp_path / "h.csv"))
    assert specs[Run.DEEP].config.hierarchy == main.hierarchy
    other = specs[Run.OTHER].config
    assert other.dataset == main.dataset or other.hierarchy == ""  # a run on its own dataset keeps it, no hierarchy
    assert f"--hierarchy {tmp_path / 'h.csv'}" in train_command(specs[Run.MAIN], 0, tmp_path / "runs")
