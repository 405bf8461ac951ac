"""Tests for sslre.metrics.curves."""
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
