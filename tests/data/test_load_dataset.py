"""load_dataset / load_dataset_for dispatch (sslre/data/__init__.py)."""
import pytest
import torch

from sslre.config import PROFILES, profile_config
from sslre.data import DataError, load_dataset, load_dataset_for


def test_unknown_names_and_options():
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("imagefolder:")
    with pytest.raises(DataError, match=">= 0"):
        load_dataset("synthetic", train_subset=-1)
    with pytest.raises(DataError, match="unknown option"):
        load_dataset("cifar10", hierarchy="x.json")


def test_load_dataset_for_quick_profile():
    cfg = profile_config("quick", train_subset=40, test_subset=20, synthetic_classes=4, synthetic_superclasses=2)
    sp = load_dataset_for(cfg)
    assert len(sp.train) == 40 and len(sp.test) == 20
    assert sp.train.num_classes == 4 and sp.train.num_superclasses == 2
    assert torch.bincount(sp.train.labels).tolist() == [10] * 4
    again = load_dataset_for(cfg.replace(seed=7))  # the run seed does not change the data
    assert torch.equal(again.train.images, sp.train.images)


def test_subsets_are_balanced_and_seeded(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            for k in range(6):
                Image.new("RGB", (32, 32), (k * 40, 0, 0)).save(tmp_path / split / c / f"{k}.png")
    a = load_dataset(f"imagefolder:{tmp_path}", train_subset=4, test_subset=2, seed=0)
    b = load_dataset(f"imagefolder:{tmp_path}", train_subset=4, test_subset=2, seed=0)
    assert torch.bincount(a.train.labels).tolist() == [2, 2] and len(a.test) == 2
    assert torch.equal(a.train.images, b.train.images)


def test_profiles_name_known_datasets():
    for cfg in PROFILES.values():
        assert cfg.dataset in ("synthetic", "cifar10", "cifar100", "food101", "cifar10-jpeg")
