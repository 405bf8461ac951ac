"""ImageSet / DataSplits validation, subset, balanced subsets and root resolution."""
import re

import pytest
import torch

from sslre.data.base import DataError, ImageSet, balanced_subset, default_data_root


def _set(n=6, classes=3, supers=(0, 0, 1)):
    y = torch.arange(n) % classes
    return ImageSet(
        images=torch.zeros(n, 3, 4, 4, dtype=torch.uint8),
        labels=y,
        superlabels=torch.tensor(supers)[y],
        class_names=[f"c{i}" for i in range(classes)],
        superclass_names=("a", "b"),
        name="toy",
    )


def test_valid_set_len_and_names_are_tuples():
    s = _set()
    assert len(s) == 6
    assert s.class_names == ("c0", "c1", "c2")
    assert s.class_to_superclass().tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(images=torch.zeros(6, 3, 4, 4)), "uint8"),
        (dict(images=torch.zeros(6, 1, 4, 4, dtype=torch.uint8)), "(N, 3, H, W)"),
        (dict(labels=torch.zeros(6, dtype=torch.int32)), "int64"),
        (dict(labels=torch.zeros(5, dtype=torch.int64)), "shape (6,)"),
        (dict(labels=torch.full((6,), 3, dtype=torch.int64)), "labels range"),
        (dict(superlabels=torch.full((6,), -1, dtype=torch.int64)), "superlabels range"),
        (dict(superlabels=torch.tensor([0, 0, 0, 1, 0, 1])), "more than one superclass"),
    ],
)
def test_bad_fields_raise_naming_the_problem(change, message):
    s = _set()
    fields = dict(images=s.images, labels=s.labels, superlabels=s.superlabels,
                  class_names=s.class_names, superclass_names=s.superclass_names, name="toy")
    fields.update(change)
    with pytest.raises(DataError, match=re.escape(message)):
        ImageSet(**fields)


def test_subset_keeps_order_and_names():
    s = _set()
    sub = s.subset([4, 1])
    assert sub.labels.tolist() == [1, 1]
    assert sub.class_names == s.class_names and len(sub) == 2
    with pytest.raises(DataError, match="out of range"):
        s.subset([6])


def test_frozen():
    s = _set()
    with pytest.raises(AttributeError):
        s.name = "other"


def test_balanced_subset_is_balanced_deterministic_and_nested():
    labels = torch.arange(1000) % 10
    a = balanced_subset(labels, 95, seed=3)
    assert torch.equal(a, balanced_subset(labels, 95, seed=3))
    counts = torch.bincount(labels[a], minlength=10)
    assert counts.sum() == 95 and counts.max() - counts.min() <= 1
    assert not torch.equal(a, balanced_subset(labels, 95, seed=4))
    assert set(balanced_subset(labels, 50, seed=3).tolist()) <= set(balanced_subset(labels, 100, seed=3).tolist())
    assert balanced_subset(labels, 0, seed=0).numel() == 1000


def test_balanced_subset_fills_shortfall_from_other_classes():
    labels = torch.tensor([0] * 2 + [1] * 50)
    idx = balanced_subset(labels, 20, seed=0)
    assert idx.numel() == 20 and torch.bincount(labels[idx]).tolist() == [2, 18]


def test_default_root_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLRE_DATA", str(tmp_path))
    assert default_data_root(None) == tmp_path
    assert default_data_root("/x/y").as_posix() == "/x/y"
    monkeypatch.delenv("SSLRE_DATA")
    assert default_data_root(None).parts[-3:] == (".cache", "sslre", "data")
