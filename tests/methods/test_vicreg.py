"""VICReg terms pinned to an independent re-implementation and to lightly's VICRegLoss (documented factor)."""
import pytest
import torch
import torch.nn.functional as F
from lightly.loss import VICRegLoss

from sslre.methods.vicreg import vicreg_loss


def reference_vicreg(x, y, lam, mu, nu, eps=1e-4):
    """The original VICReg code (facebookresearch/vicreg, main_vicreg.py), single process, as plain torch."""
    b, d = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + eps)
    std_y = torch.sqrt(y.var(dim=0) + eps)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (b - 1)  # (D, D)
    cov_y = (y.T @ y) / (b - 1)  # (D, D)
    off = ~torch.eye(d, dtype=torch.bool)
    cov_loss = cov_x[off].pow(2).sum() / d + cov_y[off].pow(2).sum() / d
    return {"inv": lam * repr_loss, "std": mu * std_loss, "cov": nu * cov_loss,
            "total": lam * repr_loss + mu * std_loss + nu * cov_loss}


@pytest.mark.parametrize("lam,mu,nu", [(25.0, 25.0, 1.0), (25.0, 5.0, 1.0), (1.0, 100.0, 3.0)])
@pytest.mark.parametrize("scale", [0.3, 2.0])
def test_matches_original_formula_with_paper_sum(lam, mu, nu, scale):
    g = torch.Generator().manual_seed(1)
    z1 = scale * torch.randn(32, 12, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(32, 12, generator=g, dtype=torch.float64)
    ours = vicreg_loss(z1.float(), z2.float(), lam=lam, mu=mu, nu=nu)
    ref = reference_vicreg(z1.float(), z2.float(), lam, mu, nu)
    assert float(ours["invariance"]) == pytest.approx(float(ref["inv"]), rel=1e-5)
    # Eq. (1) sums v(Z) + v(Z'); the original code averages them (the 0.5 factor): ours is exactly twice.
    assert float(ours["variance"]) == pytest.approx(2 * float(ref["std"]), rel=1e-5, abs=1e-6)
    assert float(ours["covariance"]) == pytest.approx(float(ref["cov"]), rel=1e-5)
    assert float(ours["regularization"]) == pytest.approx(float(ours["variance"] + ours["covariance"]), rel=1e-6)
    assert float(ours["total"]) == pytest.approx(float(ref["total"]) + float(ref["std"]), rel=1e-5)
    if scale < 1:  # std < 1: the variance hinge is active, so the factor is really exercised
        assert float(ours["variance"]) > 0


@pytest.mark.parametrize("lam,mu,nu", [(25.0, 25.0, 1.0), (10.0, 5.0, 2.0)])
def test_matches_lightly_vicregloss_up_to_documented_factor(lam, mu, nu):
    g = torch.Generator().manual_seed(2)
    z1 = 0.5 * torch.randn(64, 16, generator=g)
    z2 = 0.5 * torch.randn(64, 16, generator=g)
    ours = vicreg_loss(z1, z2, lam=lam, mu=mu, nu=nu)
    lightly_total = VICRegLoss(lambda_param=lam, mu_param=mu, nu_param=nu, eps=1e-4)(z1, z2)
    assert float(ours["total"] - 0.5 * ours["variance"]) == pytest.approx(float(lightly_total), rel=1e-5)
    assert float(ours["total"]) != pytest.approx(float(lightly_total), rel=1e-3)


def test_identical_whitened_views_have_zero_loss():
    # Columns with std well above 1 and no correlation: every term vanishes except tiny covariance noise.
    z = torch.linalg.qr(torch.randn(256, 8))[0] * 256**0.5 * 1.5  # orthogonal columns, std about 1.5
    z = z - z.mean(0)
    out = vicreg_loss(z, z)
    assert float(out["invariance"]) == 0.0
    assert float(out["variance"]) == 0.0
    assert float(out["covariance"]) < 1e-2


def test_collapse_is_penalised_by_variance_term():
    z = torch.ones(16, 4)
    out = vicreg_loss(z, z, lam=25, mu=25, nu=1)
    # std = sqrt(eps) = 0.01 in every dim: v = 0.99 per view.
    assert float(out["variance"]) == pytest.approx(25 * 2 * 0.99, rel=1e-6)


def test_gather_feeds_variance_and_covariance_only():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    other1, other2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    bank = {id(z1): other1, id(z2): other2}

    def fake_gather(t):  # simulates a two-rank all-gather: this rank's rows then the other rank's
        return torch.cat([t, bank[id(t)]])

    got = vicreg_loss(z1, z2, gather=fake_gather)
    full = vicreg_loss(torch.cat([z1, other1]), torch.cat([z2, other2]))
    local = vicreg_loss(z1, z2)
    assert float(got["invariance"]) == pytest.approx(float(local["invariance"]), rel=1e-6)
    assert float(got["variance"]) == pytest.approx(float(full["variance"]), rel=1e-6)
    assert float(got["covariance"]) == pytest.approx(float(full["covariance"]), rel=1e-6)


def test_gradients_flow_and_bad_inputs():
    z1 = torch.randn(8, 4, requires_grad=True)
    vicreg_loss(z1, torch.randn(8, 4))["total"].backward()
    assert z1.grad is not None and z1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="equal shape"):
        vicreg_loss(torch.randn(8, 4), torch.randn(8, 5))
    with pytest.raises(ValueError, match="batch of >= 2"):
        vicreg_loss(torch.randn(1, 4), torch.randn(1, 4))
