"""Barlow Twins terms pinned to lightly's BarlowTwinsLoss and to a by-hand cross-correlation."""
import pytest
import torch
from lightly.loss import BarlowTwinsLoss

from sslre.config import profile_config
from sslre.methods import BarlowTwinsMethod, build_method
from sslre.methods.barlowtwins import barlow_twins_loss


@pytest.mark.parametrize("lam", [0.0051, 5e-3, 0.1])
@pytest.mark.parametrize("b,d", [(2, 3), (16, 8), (64, 32)])
def test_sum_equals_lightly_barlowtwinsloss(lam, b, d):
    # As lightly's own test_forward__compare: the same inputs through both, equal values.
    g = torch.Generator().manual_seed(b * 31 + d)
    z1 = torch.randn(b, d, generator=g)
    z2 = 0.5 * z1 + torch.randn(b, d, generator=g)
    ours = barlow_twins_loss(z1, z2, lam=lam, scale=1.0)
    lightly_value = float(BarlowTwinsLoss(lambda_param=lam)(z1, z2))
    assert float(ours["total"]) == pytest.approx(lightly_value, rel=1e-5)
    assert float(ours["total"]) == pytest.approx(float(ours["invariance"] + ours["regularization"]), rel=1e-6)


def test_scale_multiplies_both_terms():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(32, 6, generator=g), torch.randn(32, 6, generator=g)
    one, tenth = barlow_twins_loss(z1, z2, scale=1.0), barlow_twins_loss(z1, z2, scale=0.1)
    for k in ("invariance", "regularization", "total"):
        assert float(tenth[k]) == pytest.approx(0.1 * float(one[k]), rel=1e-6)
    assert float(tenth["total"]) == pytest.approx(0.1 * float(BarlowTwinsLoss(lambda_param=0.0051)(z1, z2)), rel=1e-5)


def test_split_by_hand():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(20, 4, generator=g, dtype=torch.float64), torch.randn(20, 4, generator=g, dtype=torch.float64)
    n1 = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + 1e-5)  # batch norm without affine, eps 1e-5
    n2 = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + 1e-5)
    c = n1.T @ n2 / 20  # (4, 4)
    inv = sum((1 - c[i, i]) ** 2 for i in range(4))
    off = sum(c[i, j] ** 2 for i in range(4) for j in range(4) if i != j)
    out = barlow_twins_loss(z1.float(), z2.float(), lam=0.3, scale=2.0)
    assert float(out["invariance"]) == pytest.approx(2.0 * float(inv), rel=1e-5)
    assert float(out["regularization"]) == pytest.approx(2.0 * 0.3 * float(off), rel=1e-5)


def test_identical_decorrelated_views_have_zero_loss():
    z = torch.linalg.qr(torch.randn(256, 8))[0] * 256**0.5  # orthogonal columns: C = I after standardising
    z = z - z.mean(0)
    out = barlow_twins_loss(z, z, lam=0.0051)
    assert float(out["invariance"]) == pytest.approx(0.0, abs=1e-6)
    assert float(out["regularization"]) == pytest.approx(0.0, abs=1e-4)


def test_gather_sees_the_global_batch():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    other1, other2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    bank = {id(z1): other1, id(z2): other2}
    got = barlow_twins_loss(z1, z2, gather=lambda t: torch.cat([t, bank[id(t)]]))
    full = barlow_twins_loss(torch.cat([z1, other1]), torch.cat([z2, other2]))
    assert float(got["total"]) == pytest.approx(float(full["total"]), rel=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="equal shape"):
        barlow_twins_loss(torch.randn(8, 4), torch.randn(8, 5))
    with pytest.raises(ValueError, match="batch of >= 2"):
        barlow_twins_loss(torch.randn(1, 4), torch.randn(1, 4))


def test_method_uses_config_weights_and_lightly_head():
    from lightly.models.modules.heads import BarlowTwinsProjectionHead

    cfg = profile_config("quick", method="barlowtwins", arch="RES-1-8", proj_hidden=16, proj_out=8,
                         barlow_lambda=0.02, barlow_scale=0.5)
    torch.manual_seed(0)
    m = build_method(cfg)
    assert isinstance(m, BarlowTwinsMethod) and isinstance(m.head, BarlowTwinsProjectionHead)
    assert m.loss_terms == ("invariance", "regularization")
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    out = m.loss(z1, z2)
    assert float(out["loss_total"]) == pytest.approx(0.5 * float(BarlowTwinsLoss(lambda_param=0.02)(z1, z2)), rel=1e-5)
    assert torch.isnan(out["loss_variance"]) and torch.isnan(out["loss_covariance"]) and torch.isnan(out["accuracy"])
