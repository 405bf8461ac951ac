"""Food-101 loader on a tiny fake tree in torchvision's layout."""
import json

import pytest
import torch
from PIL import Image

from sslre.data import DatasetNotFoundError, load_dataset


def _fake_food(root):
    base = root / "food-101"
    classes = ["apple_pie", "pizza", "waffles"]
    (base / "meta").mkdir(parents=True)
    (base / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    for split, n in (("train", 3), ("test", 1)):
        table = {}
        for c in classes:
            (base / "images" / c).mkdir(parents=True, exist_ok=True)
            ids = [f"{c}/{split}{k}" for k in range(n)]
            for rel in ids:
                Image.new("RGB", (64, 48), (100, 20, 200)).save(base / "images" / f"{rel}.jpg")
            table[c] = ids
        (base / "meta" / f"{split}.json").write_text(json.dumps(table))


def test_food101_fake_tree_resized_and_cached(tmp_path):
    _fake_food(tmp_path)
    sp = load_dataset("food101", tmp_path, image_size=16)
    assert len(sp.train) == 9 and len(sp.test) == 3
    assert sp.train.images.shape == (9, 3, 16, 16)
    assert sp.train.class_names == ("apple_pie", "pizza", "waffles")
    assert torch.equal(sp.train.superlabels, sp.train.labels)
    assert (tmp_path / "food101-16px.pt").is_file()
    again = load_dataset("food101", tmp_path, image_size=16)
    assert torch.equal(again.train.images, sp.train.images)


def test_food101_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_dataset("food101", tmp_path)
