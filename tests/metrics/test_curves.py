"""Tests for sslre.metrics.curves."""
import math

import pytest
import torch

from sslre.metrics import MetricInputError, normalize_by_init, ratio


def test_normalize_by_init_series_and_columns():
    assert normalize_by_init([0.2, 0.3, 0.5]).tolist() == pytest.approx([1.0, 1.5, 2.5], rel=1e-12)
    t = normalize_by_init(torch.tensor([[2.0, 4.0], [3.0, 2.0]]))
    assert t.tolist() == [[1.0, 1.0], [1.5, 0.5]]
    assert normalize_by_init([4, 2]).dtype == torch.float64  # integers promoted


def test_normalize_by_init_errors():
    with pytest.raises(MetricInputError, match="initialization\\) is 0"):
        normalize_by_init([0.0, 0.5])
    with pytest.raises(MetricInputError, match="non-empty"):
        normalize_by_init([])
    with pytest.raises(MetricInputError, match="not finite"):
        normalize_by_init([float("nan"), 1.0])


def test_ratio():
    assert ratio([1.0, 3.0], [2.0, 4.0]).tolist() == pytest.approx([0.5, 0.75], rel=1e-12)
    assert ratio(torch.tensor([2.0, 4.0]), 2.0).tolist() == [1.0, 2.0]
    with pytest.raises(MetricInputError, match="denominator"):
        ratio([1.0], [0.0])
    with pytest.raises(MetricInputError, match="broadcast"):
        ratio([1.0, 2.0], [1.0, 2.0, 3.0])


def test_majority_accuracy_and_chance_correction():
    from sslre.metrics import chance_corrected, majority_accuracy

    assert majority_accuracy(torch.tensor([3, 3, 1]), torch.tensor([3, 1, 1, 3])).item() == pytest.approx(0.5)
    # ties go to the smallest label; labels need not be contiguous
    assert majority_accuracy(torch.tensor([7, 2]), torch.tensor([2, 2, 7])).item() == pytest.approx(2 / 3)
    assert chance_corrected(0.55, 0.1).item() == pytest.approx(0.5)
    assert chance_corrected(0.1, 0.1).item() == pytest.approx(0.0)
    assert chance_corrected(0.0, 0.5).item() == pytest.approx(-1.0)
    assert math.isnan(chance_corrected(1.0, 1.0).item())
    with pytest.raises(MetricInputError, match="integers"):
        majority_accuracy(torch.tensor([0.5]), torch.tensor([1]))
    with pytest.raises(MetricInputError, match="non-empty"):
        majority_accuracy(torch.tensor([], dtype=torch.long), torch.tensor([1]))
