"""CIFAR loaders on tiny fake datasets in torchvision's on-disk layout, and the hierarchy tables."""
import pickle

import numpy as np
import pytest
import torch

from sslre.data import DatasetNotFoundError, load_dataset
from sslre.data.base import DataError
from sslre.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASSES,
    cifar10_to_super,
    cifar100_fine_to_coarse,
)

# The coarse label of each fine label as published with CIFAR-100 (an encoding independent of the
# name table in sslre.data.cifar, which is checked against it).
PUBLISHED_COARSE = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]


def test_cifar100_table_is_20_by_5_and_matches_the_published_labels():
    assert len(CIFAR100_CLASSES) == 100 and len(set(CIFAR100_CLASSES)) == 100
    assert len(CIFAR100_SUPERCLASSES) == 20
    assert all(len(m) == 5 for m in CIFAR100_SUPERCLASSES.values())
    members = [c for m in CIFAR100_SUPERCLASSES.values() for c in m]
    assert sorted(members) == sorted(CIFAR100_CLASSES)
    assert cifar100_fine_to_coarse().tolist() == PUBLISHED_COARSE
    assert CIFAR100_SUPERCLASSES["fish"] == ("aquarium_fish", "flatfish", "ray", "shark", "trout")


def test_cifar10_animal_vehicle():
    sup = cifar10_to_super()
    vehicles = {CIFAR10_CLASSES[i] for i in torch.nonzero(sup == 1).flatten().tolist()}
    assert vehicles == {"airplane", "automobile", "ship", "truck"}


def _write(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _fake_cifar10(root, per_batch=20):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = [int(i % 10) for i in range(per_batch)]
        _write(d / name, {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": labels})
    _write(d / "batches.meta", {"label_names": list(CIFAR10_CLASSES)})
    return d


def _fake_cifar100(root, n=200):
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("train", "test"):
        fine = [int(i % 100) for i in range(n)]
        _write(d / name, {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "fine_labels": fine,
            "coarse_labels": [PUBLISHED_COARSE[f] for f in fine],
        })
    return d


def test_cifar10_from_fake_files(tmp_path):
    d = _fake_cifar10(tmp_path)
    sp = load_dataset("cifar10", tmp_path)
    assert len(sp.train) == 100 and len(sp.test) == 20
    assert sp.train.images.shape == (100, 3, 32, 32) and sp.train.images.dtype == torch.uint8
    # Rows are channel-major: pixel (0, 0) of image 0 is data[0][0], data[0][1024], data[0][2048].
    raw = pickle.load(open(d / "data_batch_1", "rb"), encoding="latin1")["data"][0]
    assert sp.train.images[0, :, 0, 0].tolist() == [raw[0], raw[1024], raw[2048]]
    assert sp.train.superclass_names == ("animal", "vehicle")
    assert torch.equal(sp.train.superlabels, cifar10_to_super()[sp.train.labels])


def test_cifar100_fake_files_give_the_published_coarse_labels(tmp_path):
    d = _fake_cifar100(tmp_path)
    sp = load_dataset("cifar100", tmp_path, train_subset=100, seed=0)
    coarse = pickle.load(open(d / "test", "rb"), encoding="latin1")["coarse_labels"]
    full = load_dataset("cifar100", tmp_path)
    assert full.test.superlabels.tolist() == coarse
    assert len(sp.train) == 100 and torch.bincount(sp.train.labels, minlength=100).tolist() == [1] * 100
    assert len(full.train.superclass_names) == 20


def test_image_size_resizes(tmp_path):
    _fake_cifar10(tmp_path, per_batch=10)
    sp = load_dataset("cifar10", tmp_path, image_size=16)
    assert sp.test.images.shape == (10, 3, 16, 16)


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True") as e:
        load_dataset("cifar100", tmp_path)
    assert str(tmp_path / "cifar-100-python") in str(e.value)


def test_data_root_from_environment(tmp_path, monkeypatch):
    _fake_cifar10(tmp_path, per_batch=10)
    monkeypatch.setenv("SSLRE_DATA", str(tmp_path))
    assert len(load_dataset("cifar10").test) == 10


def test_missing_batch_file_and_foreign_pickle(tmp_path):
    d = _fake_cifar10(tmp_path, per_batch=10)
    (d / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        load_dataset("cifar10", tmp_path)
    _write(d / "data_batch_3", {"something": 1})
    with pytest.raises(DataError, match="not a cifar10 batch"):
        load_dataset("cifar10", tmp_path)
