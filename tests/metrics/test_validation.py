"""Tests for sslre.metrics.validation and the package's public surface."""
import doctest
import importlib

import numpy as np
import pytest
import torch

import sslre.metrics as metrics
from sslre.metrics import validation as v


def test_public_names_importable():
    from sslre.metrics import cdnv, linear_probe_accuracy, ncc_accuracy  # noqa: F401  (the issue's one-liner)

    for name in ["MetricInputError", "class_means", "ncc_accuracy", "cdnv", "cdnv_matrix", "cdnv_parts",
                 "within_class_variance", "class_mean_distance", "linear_probe_accuracy", "normalize_by_init", "ratio"]:
        assert name in metrics.__all__ and callable(getattr(metrics, name))
    assert issubclass(metrics.MetricInputError, ValueError)


@pytest.mark.parametrize("module", ["ncc", "cdnv", "curves", "validation", "probe"])
def test_docstring_examples_run(module):
    mod = importlib.import_module(f"sslre.metrics.{module}")
    result = doctest.testmod(mod, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_encode_labels_noncontiguous():
    classes, inv = v.encode_labels(torch.tensor([7, 3, 7, 42]))
    assert classes.tolist() == [3, 7, 42] and inv.tolist() == [1, 0, 1, 2]


def test_map_to_classes_and_missing():
    classes = torch.tensor([3, 7, 42])
    assert v.map_to_classes(torch.tensor([42, 3]), classes).tolist() == [2, 0]
    with pytest.raises(v.MetricInputError, match=r"absent from the train classes: \[5, 100\]"):
        v.map_to_classes(torch.tensor([5, 3, 100]), classes)


def test_numpy_inputs_accepted():
    x = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    y = np.array([0, 0, 1, 1])
    assert metrics.ncc_accuracy(x, y).item() == pytest.approx(1.0, abs=0)


@pytest.mark.parametrize(
    "features, labels, message",
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), "2-D"),
        (torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long), "1-D"),
        (torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), "length 3 but the features have 4 rows"),
        (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), "empty"),
        (torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long), "float32 or float64"),
        (torch.zeros(4, 2), torch.zeros(4), "integer dtype"),
        (torch.zeros(4, 2), torch.zeros(4, dtype=torch.bool), "integer dtype"),
        (torch.tensor([[0.0, float("inf")]] * 4), torch.zeros(4, dtype=torch.long), "NaN or inf values \\(in 4 of 4"),
    ],
)
def test_named_errors(features, labels, message):
    with pytest.raises(v.MetricInputError, match=message):
        v.check_features_labels(features, labels)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_one_non_finite_value_is_named(bad):
    x = torch.randn(50, 7)
    x[13, 4] = bad
    with pytest.raises(v.MetricInputError, match="NaN or inf values \\(in 1 of 50 rows"):
        v.as_features(x)


def test_finite_values_whose_sum_overflows_pass():
    """The fast check is a sum; finite features that overflow it (float32 max) must still be accepted."""
    x = torch.full((4, 3), 3e38)
    x[:, 1] = -3e38 * torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert not bool(torch.isfinite(x.sum()))
    assert v.as_features(x) is x


def test_min_per_class_and_min_classes():
    with pytest.raises(v.MetricInputError, match="1 distinct class"):
        v.encode_labels(torch.tensor([2, 2, 2]))
    with pytest.raises(v.MetricInputError, match=r"fewer than 2 samples, needed for a variance: labels \[9\]"):
        v.require_min_per_class(torch.tensor([3, 1]), torch.tensor([4, 9]))
