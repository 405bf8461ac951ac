import math

import pytest
import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss

from sslre.methods.simclr import simclr_loss


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("b,d", [(2, 3), (16, 8), (33, 5)])
def test_total_equals_lightly_ntxent(tau, b, d):
    g = torch.Generator().manual_seed(b * 7 + d)
    z1, z2 = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
    ours = simclr_loss(z1, z2, temperature=tau)
    ref = NTXentLoss(temperature=tau, memory_bank_size=0)(z1, z2)
    assert float(ours["total"]) == pytest.approx(float(ref), rel=1e-5, abs=1e-6)
    assert float(ours["total"]) == pytest.approx(float(ours["invariance"] + ours["regularization"]), rel=1e-6)


def test_split_by_hand():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    tau = 0.5
    u = F.normalize(torch.cat([z1, z2]), dim=1)  # (8, 3)
    inv, reg = [], []
    for i in range(8):
        p = (i + 4) % 8
        inv.append(-(u[i] @ u[p]) / tau)
        others = [k for k in range(8) if k != i]  # positive included, as in NT-Xent
        reg.append(torch.logsumexp(torch.stack([(u[i] @ u[k]) / tau for k in others]), 0))
    out = simclr_loss(z1, z2, temperature=tau)
    assert float(out["invariance"]) == pytest.approx(float(torch.stack(inv).mean()), rel=1e-5)
    assert float(out["regularization"]) == pytest.approx(float(torch.stack(reg).mean()), rel=1e-5)


def test_ranges_and_scale_invariance():
    z = torch.randn(8, 4)
    out = simclr_loss(z, z, temperature=0.5)
    assert float(out["invariance"]) == pytest.approx(-2.0, rel=1e-6)  # identical views: sim = 1, -1/tau
    scaled = simclr_loss(3 * z, 3 * z, temperature=0.5)  # cosine similarity ignores the norm
    assert float(scaled["total"]) == pytest.approx(float(out["total"]), rel=1e-6)
    assert float(out["total"]) >= 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="temperature"):
        simclr_loss(torch.randn(4, 2), torch.randn(4, 2), temperature=0)
    with pytest.raises(ValueError, match="equal shape"):
        simclr_loss(torch.randn(4, 2), torch.randn(3, 2))
