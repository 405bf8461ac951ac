"""ImageFolder trees, hierarchy JSON, and the real CIFAR-10 JPEG archive."""
import json
import time

import pytest
import torch
from PIL import Image

from sslre.data import DatasetNotFoundError, load_dataset
from sslre.data.base import DataError
from sslre.data.imagefolder import cifar10_jpeg_archive, load_cifar10_jpeg


def _tree(root, counts={"cat": 3, "dog": 2, "truck": 4}, size=(32, 32)):
    for split in ("train", "test"):
        for cls, n in counts.items():
            d = root / split / cls
            d.mkdir(parents=True)
            for k in range(n):
                colour = (10 * k, 50 if cls == "cat" else 200, 30)
                Image.new("RGB", size, colour).save(d / f"{k:04d}.png")
    return root


def test_imagefolder_tree_classes_labels_and_pixels(tmp_path):
    _tree(tmp_path)
    sp = load_dataset(f"imagefolder:{tmp_path}")
    assert sp.train.class_names == ("cat", "dog", "truck")
    assert sp.train.labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert torch.equal(sp.train.superlabels, sp.train.labels)  # no hierarchy: each class its own
    assert sp.train.images[1, :, 0, 0].tolist() == [10, 50, 30]  # PNG: lossless


def test_imagefolder_hierarchy_json_and_resize(tmp_path):
    _tree(tmp_path, size=(48, 64))
    h = tmp_path / "h.json"
    h.write_text(json.dumps({"cat": "animal", "dog": "animal", "truck": "vehicle"}))
    sp = load_dataset(f"imagefolder:{tmp_path}", hierarchy=str(h), image_size=16)
    assert sp.test.superclass_names == ("animal", "vehicle")
    assert sp.test.superlabels.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert sp.test.images.shape == (9, 3, 16, 16)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train/"):
        load_dataset(f"imagefolder:{tmp_path}")
    _tree(tmp_path)
    h = tmp_path / "h.json"
    h.write_text(json.dumps({"cat": "animal"}))
    with pytest.raises(DataError, match="no superclass for class"):
        load_dataset(f"imagefolder:{tmp_path}", hierarchy=str(h))
    (tmp_path / "train" / "cat" / "0000.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="0000.png"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_cifar10_jpeg_missing_archive_message(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="SSLRE_CIFAR10_JPEG"):
        load_cifar10_jpeg(tmp_path, archive=tmp_path / "nope.tar.gz")


def test_cifar10_jpeg_rejects_wrong_checksum(tmp_path):
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"0" * 100)
    with pytest.raises(DataError, match="sha256"):
        load_cifar10_jpeg(tmp_path, archive=fake)


@pytest.mark.small
def test_real_cifar10_jpeg_archive(tmp_path):
    if not cifar10_jpeg_archive().is_file():
        pytest.skip(f"archive not present at {cifar10_jpeg_archive()}")
    t = time.perf_counter()
    sp = load_dataset("cifar10-jpeg", tmp_path)
    first = time.perf_counter() - t
    assert len(sp.train) == 50000 and len(sp.test) == 10000
    assert sp.train.class_names[:3] == ("airplane", "automobile", "bird") and sp.train.num_classes == 10
    assert torch.bincount(sp.train.labels).tolist() == [5000] * 10
    assert torch.bincount(sp.test.labels).tolist() == [1000] * 10
    assert torch.bincount(sp.train.superlabels).tolist() == [30000, 20000]  # animal, vehicle
    assert (tmp_path / "cifar10-jpeg" / "train" / "cat").is_dir()
    assert (tmp_path / "cifar10-jpeg-32px.pt").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    t = time.perf_counter()
    again = load_dataset("cifar10-jpeg", tmp_path, train_subset=1000)
    second = time.perf_counter() - t
    print(f"cifar10-jpeg: first load {first:.1f} s, cached load {second:.2f} s")
    assert torch.equal(again.test.images, sp.test.images) and len(again.train) == 1000
    assert second < first


def test_empty_class_folder_is_an_error_that_names_it(tmp_path):
    # Was: an empty class folder became a class with 0 images.
    _tree(tmp_path)
    (tmp_path / "train" / "zebra").mkdir()
    with pytest.raises(DataError, match=r"class folder .*train/zebra holds no images"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_symlink_out_of_the_tree_is_refused_unless_allowed(tmp_path):
    # Was: followed silently.
    tree = _tree(tmp_path / "tree")
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(outside)
    (tree / "train" / "cat" / "9999.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"9999.png links to .*elsewhere.png, outside the image folder"):
        load_dataset(f"imagefolder:{tree}")
    sp = load_dataset(f"imagefolder:{tree}", allow_external_symlinks=True)
    assert len(sp.train) == 10


def test_symlink_inside_the_tree_is_followed(tmp_path):
    tree = _tree(tmp_path / "tree")
    (tree / "train" / "cat" / "9999.png").symlink_to(tree / "train" / "dog" / "0000.png")
    assert len(load_dataset(f"imagefolder:{tree}").train) == 10
