"""Sample-level sets (Sec. 3)."""
import pytest
import torch

from sslre.data import make_sample_level
from sslre.data.base import DataError
from sslre.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def train():
    return make_synthetic(60, seed=0)


def test_shapes_labels_and_superlabels(train):
    sp = make_sample_level(train, n_images=7, n_train_aug=4, n_test_aug=2, seed=0, image_size=24)
    assert len(sp.train) == 28 and len(sp.test) == 14
    assert sp.train.images.shape == (28, 3, 24, 24) and sp.train.images.dtype == torch.uint8
    assert sp.train.labels.tolist() == [k for k in range(7) for _ in range(4)]
    assert sp.train.num_classes == 7 and sp.train.superclass_names == train.class_names
    # The superlabel of sample k is the class of one source image, the same in train and test.
    assert torch.equal(sp.train.superlabels[::4], sp.test.superlabels[::2])


def test_reproducible_and_seed_dependent(train):
    a = make_sample_level(train, n_images=5, n_train_aug=3, n_test_aug=2, seed=1)
    b = make_sample_level(train, n_images=5, n_train_aug=3, n_test_aug=2, seed=1)
    c = make_sample_level(train, n_images=5, n_train_aug=3, n_test_aug=2, seed=2)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.train.images, c.train.images)


def test_views_of_one_image_differ_and_batching_is_invisible(train):
    a = make_sample_level(train, n_images=4, n_train_aug=5, n_test_aug=1, seed=0)
    assert not torch.equal(a.train.images[0], a.train.images[1])
    # Train and test views are different draws.
    assert not torch.equal(a.train.images[0], a.test.images[0])


def test_bad_arguments(train):
    with pytest.raises(DataError, match="n_images"):
        make_sample_level(train, n_images=61)
    with pytest.raises(DataError, match="n_train_aug"):
        make_sample_level(train, n_images=2, n_train_aug=0)
