"""MINE estimator (sslre/metrics/mine.py): known-MI Gaussians, shuffled null, trend, seeds, images, errors.

Tolerance: MINE is a lower-bound estimator trained for a finite number of steps and read out on
held-out pairs, so it underestimates slightly and carries sampling noise of a few hundredths of a
nat at N_eval = 1,000-2,000. The tests require |estimate - truth| <= max(0.1 nats, 15 % of truth).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from sslre.metrics.mine import (
    MineInputError,
    MineResult,
    MineSettings,
    _derangement,
    gaussian_mi,
    make_statistics_network,
    mine_estimate,
    mine_multi_seed,
    mine_shuffled_null,
)


def correlated_gaussians(n: int, d: int, rho: float, seed: int = 0, device: str = "cpu"):
    """x ~ N(0, I_d), z = rho x + sqrt(1 - rho^2) eps: true MI = -(d/2) log(1 - rho^2) nats."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    z = rho * x + math.sqrt(1 - rho * rho) * torch.randn(n, d, generator=g)
    return x.to(device), z.to(device)


def within_tolerance(estimate: float, truth: float) -> bool:
    return abs(estimate - truth) <= max(0.1, 0.15 * truth)


def smooth_images(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, 32, 32) float images with spatial structure (8x8 noise upsampled)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=32, mode="bilinear", align_corners=False)


def random_encoder_embeddings(x: torch.Tensor, dim: int, seed: int = 1) -> torch.Tensor:
    """z = f(x) for a fixed random conv encoder: a deterministic function of the image."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(64, dim),
        )
    with torch.no_grad():
        return enc(x)


# ------------------------------------------------------------------------------------------ truth
def test_gaussian_mi_formula():
    assert gaussian_mi(0.8, 2) == pytest.approx(-math.log(0.36))
    assert gaussian_mi(0.0, 5) == pytest.approx(0.0)
    with pytest.raises(MineInputError, match="rho"):
        gaussian_mi(1.0, 2)


@pytest.mark.parametrize("d,rho", [(2, 0.5), (2, 0.8), (5, 0.5)])
def test_gaussian_known_mi(d, rho):
    x, z = correlated_gaussians(5000, d, rho)
    r = mine_estimate(x, z, seed=0, steps=500)
    truth = gaussian_mi(rho, d)
    assert within_tolerance(r.mi, truth), f"estimate {r.mi:.3f} vs true {truth:.3f} nats"
    assert r.variant == "vector" and r.n_eval == 1000 and r.n_train == 4000


@pytest.mark.small
def test_gaussian_known_mi_large():
    # 2.55 nats: the hardest case (the DV log term has heavy tails); more pairs and steps.
    x, z = correlated_gaussians(10000, 5, 0.8)
    r = mine_estimate(x, z, seed=0, steps=1000)
    truth = gaussian_mi(0.8, 5)
    assert within_tolerance(r.mi, truth), f"estimate {r.mi:.3f} vs true {truth:.3f} nats"


def test_shuffled_null_is_about_zero():
    x, z = correlated_gaussians(5000, 2, 0.8)  # 1.02 nats before shuffling
    null = mine_shuffled_null(x, z, seed=0, steps=500)
    assert abs(null.mi) < 0.05, f"null estimate {null.mi:.3f} nats"
    assert abs(null.eval_curve_raw[-1].item()) < 0.1


def test_monotone_in_rho():
    values = []
    for rho in (0.2, 0.5, 0.8):
        x, z = correlated_gaussians(4000, 1, rho)
        values.append(mine_estimate(x, z, seed=0, steps=400).mi)
    assert values[0] < values[1] < values[2], values


def test_multi_seed_reports_spread():
    x, z = correlated_gaussians(3000, 2, 0.8)
    out = mine_multi_seed(x, z, seeds=(0, 1, 2), steps=300)
    assert set(out) == {"mean", "std", "values", "seeds"}
    assert out["seeds"] == (0, 1, 2) and len(out["values"]) == 3
    assert len(set(out["values"])) == 3, "different MINE seeds must give different estimates"
    assert out["mean"] == pytest.approx(sum(out["values"]) / 3)
    assert 0 < out["std"] < 0.1
    assert within_tolerance(out["mean"], gaussian_mi(0.8, 2))


def test_multi_seed_one_seed_has_zero_std():
    x, z = correlated_gaussians(200, 1, 0.5)
    out = mine_multi_seed(x, z, seeds=(3,), steps=5)
    assert out["std"] == 0.0 and out["values"] == [pytest.approx(out["mean"])]


# ------------------------------------------------------------------------------- determinism
def test_deterministic_for_a_seed():
    x, z = correlated_gaussians(1000, 2, 0.5)
    a = mine_estimate(x, z, seed=7, steps=60, batch_size=64)
    b = mine_estimate(x, z, seed=7, steps=60, batch_size=64)
    c = mine_estimate(x, z, seed=8, steps=60, batch_size=64)
    assert a == b  # dataclass equality: mi, eval_std and every setting
    assert torch.equal(a.train_curve, b.train_curve) and torch.equal(a.eval_curve, b.eval_curve)
    assert a.mi != c.mi


def test_settings_object_and_keyword_overrides_agree():
    x, z = correlated_gaussians(200, 2, 0.6)
    by_kw = mine_estimate(x, z, seed=1, steps=12, batch_size=32, eval_every=6)
    by_obj = mine_estimate(x, z, MineSettings(steps=12, batch_size=32, eval_every=6), seed=1)
    mixed = mine_estimate(x, z, MineSettings(steps=12, batch_size=64), seed=1, batch_size=32, eval_every=6)
    assert by_kw == by_obj == mixed
    assert by_kw.eval_curve.tolist() == by_obj.eval_curve.tolist() == mixed.eval_curve.tolist()
    with pytest.raises(TypeError, match="stepz"):
        mine_estimate(x, z, stepz=3)


def test_num_threads_is_restored_and_result_unchanged():
    x, z = correlated_gaussians(300, 1, 0.5)
    before = torch.get_num_threads()
    a = mine_estimate(x, z, seed=0, steps=10, num_threads=1)
    assert torch.get_num_threads() == before
    assert a.mi == pytest.approx(mine_estimate(x, z, seed=0, steps=10).mi, abs=1e-4)


def test_does_not_touch_global_rng():
    x, z = correlated_gaussians(200, 1, 0.5)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mine_estimate(x, z, seed=0, steps=3)
    assert torch.equal(torch.rand(3), expected)


def test_result_fields_and_curves():
    x, z = correlated_gaussians(500, 1, 0.5)
    r = mine_estimate(x, z, seed=0, steps=25, eval_every=10, final_evals=2)
    assert isinstance(r, MineResult)
    assert r.train_curve.shape == (25,) and torch.isfinite(r.train_curve).all()
    assert r.eval_steps.tolist() == [10, 20, 25]
    assert r.eval_curve.shape == (3,) and r.eval_curve_raw.shape == (3,)
    assert r.mi == pytest.approx(r.eval_curve[-2:].mean().item())
    assert float(r) == r.mi
    d = r.to_dict()
    assert d["mi"] == r.mi and len(d["train_curve"]) == 25


# --------------------------------------------------------------------------------- invariances
def test_scale_of_embedding_does_not_matter():
    # Inputs are standardised: MI is invariant to per-dimension affine maps, so is the estimate.
    x, z = correlated_gaussians(2000, 2, 0.8)
    a = mine_estimate(x, z, seed=0, steps=200)
    b = mine_estimate(x, 1000.0 * z + 5.0, seed=0, steps=200)
    assert b.mi == pytest.approx(a.mi, abs=0.02)


def test_collapsed_embedding_gives_zero():
    # A collapsed representation (every z equal) carries no information about x.
    x, _ = correlated_gaussians(500, 2, 0.5)
    z = torch.full((500, 4), 3.0)
    r = mine_estimate(x, z, seed=0, steps=30)
    assert r.mi == pytest.approx(0.0, abs=1e-6)


def test_in_sample_readout():
    x, z = correlated_gaussians(3000, 1, 0.8)
    r = mine_estimate(x, z, seed=0, steps=400, eval_fraction=0.0)
    assert r.n_train == r.n_eval == 3000
    assert within_tolerance(r.mi, gaussian_mi(0.8, 1))


@given(st.integers(min_value=2, max_value=300), st.integers(min_value=0, max_value=2**31 - 1))
def test_derangement_has_no_fixed_points(n, seed):
    p = _derangement(n, torch.Generator().manual_seed(seed))
    assert sorted(p.tolist()) == list(range(n))
    assert not bool((p == torch.arange(n)).any())


# -------------------------------------------------------------------------------------- images
def test_image_variant_runs():
    x = smooth_images(64)
    z = torch.randn(64, 16)
    r = mine_estimate(x, z, seed=0, steps=5, batch_size=16)
    assert r.variant == "image" and math.isfinite(r.mi) and torch.isfinite(r.train_curve).all()


def test_uint8_images_accepted():
    x = (smooth_images(64) * 255).to(torch.uint8)
    r = mine_estimate(x, torch.randn(64, 8), seed=0, steps=3, batch_size=16)
    assert math.isfinite(r.mi)


def test_image_embedding_function_beats_null():
    # z = f(x) for a deterministic encoder: much more information than the shuffled pairs.
    x = smooth_images(600)
    z = random_encoder_embeddings(x, 16)
    kw = dict(seed=0, steps=120, batch_size=128, hidden=64)
    est = mine_estimate(x, z, **kw).mi
    null = mine_shuffled_null(x, z, **kw).mi
    assert abs(null) < 0.05, null
    assert est > 0.5 and est > null + 0.5, (est, null)


# ---------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "x,z,match",
    [
        (torch.randn(20, 2), torch.randn(19, 2), "same number of samples"),
        (torch.randn(20, 2, 3), torch.randn(20, 2), r"\(N, D\) vectors or \(N, C, H, W\) images"),
        (torch.randn(20, 2), torch.randn(20, 2, 2), r"z must be \(N, D\)"),
        (torch.randn(5, 2), torch.randn(5, 2), "at least 8"),
        (torch.randn(20, 3, 4, 4), torch.randn(20, 2), "at least 8x8"),
        ([[1.0, 2.0]] * 20, torch.randn(20, 2), "x must be a torch.Tensor"),
        (torch.randn(20, 2), torch.ones(20, 2, dtype=torch.bool), "numeric"),
        (torch.randn(20, 2), torch.randn(20, 2, dtype=torch.complex64), "real-valued"),
    ],
)
def test_bad_inputs_raise_named_errors(x, z, match):
    with pytest.raises(MineInputError, match=match):
        mine_estimate(x, z, steps=2)


def test_non_finite_values_are_named():
    x, z = correlated_gaussians(20, 2, 0.5)
    x_nan = x.clone()
    x_nan[3, 1] = float("nan")
    with pytest.raises(MineInputError, match=r"x contains 1 non-finite"):
        mine_estimate(x_nan, z, steps=2)
    z_inf = z.clone()
    z_inf[0, 0] = float("inf")
    with pytest.raises(MineInputError, match=r"z contains 1 non-finite"):
        mine_estimate(x, z_inf, steps=2)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(steps=0), "steps"),
        (dict(batch_size=1), "batch_size"),
        (dict(lr=-1.0), "lr"),
        (dict(ema_rate=0.0), "ema_rate"),
        (dict(eval_fraction=1.0), "eval_fraction"),
        (dict(eval_every=0), "eval_every"),
        (dict(final_evals=0), "final_evals"),
        (dict(marginal_shifts=0), "marginal_shifts"),
        (dict(hidden=0), "hidden"),
        (dict(lr_schedule="step"), "lr_schedule"),
        (dict(num_threads=0), "num_threads"),
    ],
)
def test_bad_settings_raise(kw, match):
    x, z = correlated_gaussians(20, 1, 0.5)
    with pytest.raises(MineInputError, match=match):
        mine_estimate(x, z, **kw)


def test_multi_seed_argument_errors():
    x, z = correlated_gaussians(20, 1, 0.5)
    with pytest.raises(MineInputError, match="distinct"):
        mine_multi_seed(x, z, seeds=(1, 1), steps=2)
    with pytest.raises(MineInputError, match="seeds="):
        mine_multi_seed(x, z, seed=1, steps=2)
    with pytest.raises(MineInputError, match="at least one seed"):
        mine_multi_seed(x, z, seeds=(), steps=2)


def test_make_statistics_network_rejects_bad_shapes():
    with pytest.raises(MineInputError, match="per-sample shape"):
        make_statistics_network((3, 32), 4)
    net = make_statistics_network((3, 32, 32), 4, hidden=8)
    assert net(torch.randn(2, 3, 32, 32), torch.randn(2, 4)).shape == (2,)


def test_error_is_a_metric_input_error():
    from sslre.metrics.validation import MetricInputError

    assert issubclass(MineInputError, MetricInputError) and issubclass(MineInputError, ValueError)


# ----------------------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_gaussian_known_mi_cuda():
    x, z = correlated_gaussians(5000, 2, 0.8, device="cuda")
    r = mine_estimate(x, z, seed=0, steps=500)
    assert within_tolerance(r.mi, gaussian_mi(0.8, 2)), r.mi
    null = mine_shuffled_null(x, z, seed=0, steps=500)
    assert abs(null.mi) < 0.05, null.mi


@pytest.mark.gpu
def test_image_variant_cuda_matches_device_of_inputs():
    x = smooth_images(600).cuda()
    z = random_encoder_embeddings(x.cpu(), 16).cuda()
    r = mine_estimate(x, z, seed=0, steps=120, batch_size=128, hidden=64)
    assert math.isfinite(r.mi) and r.mi > 0.5
    with pytest.raises(MineInputError, match="same device"):
        mine_estimate(x, z.cpu(), steps=2)
