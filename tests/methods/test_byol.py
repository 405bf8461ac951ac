"""BYOL: the loss against lightly's pieces, the momentum schedule, the target update and its checkpointed state."""
import copy
import math

import pytest
import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.utils import update_momentum
from lightly.utils.scheduler import cosine_schedule

from sslre.config import ConfigError, profile_config
from sslre.methods import BYOLMethod, build_method
from sslre.methods.byol import byol_loss


def _method(**kw):
    cfg = profile_config("quick", method="byol", arch="RES-1-8", proj_hidden=16, proj_out=8, byol_pred_hidden=12, **kw)
    torch.manual_seed(0)
    return build_method(cfg)


def _batch(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g), torch.zeros(b, dtype=torch.long)


def test_loss_is_lightly_symmetric_negative_cosine():
    g = torch.Generator().manual_seed(0)
    p1, p2, t1, t2 = (torch.randn(16, 8, generator=g) for _ in range(4))
    criterion = NegativeCosineSimilarity()
    lightly_value = float(0.5 * (criterion(p1, t2) + criterion(p2, t1)))  # lightly's BYOL example
    out = byol_loss(p1, p2, t1, t2)
    assert float(out["total"]) == pytest.approx(lightly_value, rel=1e-6)
    assert float(out["invariance"]) == pytest.approx(lightly_value, rel=1e-6)
    # Paper (Sec. 3.2): sum over both directions of ||q/|q| - z/|z|||^2 = 2 - 2 cos, i.e. 4 + 4 L.
    def paper(p, t):
        return (torch.nn.functional.normalize(p, dim=1) - torch.nn.functional.normalize(t, dim=1)).pow(2).sum(1).mean()
    assert float(paper(p1, t2) + paper(p2, t1)) == pytest.approx(4 + 4 * float(out["total"]), rel=1e-5)


def test_loss_gives_no_gradient_to_the_target():
    p1, p2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    t1, t2 = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    byol_loss(p1, p2, t1, t2)["total"].backward()
    assert p1.grad.abs().sum() > 0 and t1.grad is None and t2.grad is None
    with pytest.raises(ValueError, match="equal shape"):
        byol_loss(p1, p2, t1, torch.randn(4, 2))


def test_modules_and_declared_terms():
    from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead

    m = _method()
    assert isinstance(m, BYOLMethod) and m.loss_terms == ("invariance",)
    assert isinstance(m.head, BYOLProjectionHead) and isinstance(m.predictor, BYOLPredictionHead)
    assert m.predictor.layers[0].out_features == 12  # byol_pred_hidden
    assert all(not p.requires_grad for p in m.target_backbone.parameters())
    assert all(not p.requires_grad for p in m.target_head.parameters())
    online, target = m.backbone.state_dict(), m.target_backbone.state_dict()
    assert all(torch.equal(online[k], target[k]) for k in online)  # the target starts as a copy
    m.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(m(x), m.backbone(x))  # measurements use the online backbone


def test_step_updates_the_target_by_the_cosine_momentum():
    m = _method(byol_tau_base=0.9, byol_tau_end=1.0)
    m.total_steps = 5
    assert [m.momentum(k) for k in range(5)] == [cosine_schedule(k, 5, 0.9, 1.0) for k in range(5)]
    assert m.momentum(0) == pytest.approx(0.9) and m.momentum(4) == pytest.approx(1.0)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    x, y = _batch()
    m.step(x, y, torch.Generator().manual_seed(0))["loss_total"].backward()
    opt.step()
    assert m.target_step == 1
    expected = copy.deepcopy(m.target_backbone)
    update_momentum(m.backbone, expected, m=cosine_schedule(1, 5, 0.9, 1.0))
    out = m.step(x, y, torch.Generator().manual_seed(1))  # step 1: tau_1 applied before the forward
    assert m.target_step == 2
    got, want = m.target_backbone.state_dict(), expected.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want if "running" not in k and "num_batches" not in k)
    assert not torch.equal(got["blocks.0.conv1.weight"], m.backbone.state_dict()["blocks.0.conv1.weight"])
    nan_keys = {k for k, v in out.items() if math.isnan(float(v.detach()))}
    assert nan_keys == {"loss_regularization", "loss_variance", "loss_covariance", "accuracy"}


def test_no_grad_step_leaves_the_target_alone_and_training_needs_total_steps():
    m = _method()
    x, y = _batch()
    with torch.no_grad():  # the epoch-0 measurement pass, and eval-style use
        m.step(x, y, torch.Generator().manual_seed(0))
    assert m.target_step == 0
    with pytest.raises(RuntimeError, match="total_steps"):
        m.step(x, y, torch.Generator().manual_seed(0))


def test_step_counter_is_in_the_state_dict():
    m = _method()
    m.target_step = 7
    state = m.state_dict()
    fresh = _method()
    fresh.load_state_dict(state)
    assert fresh.target_step == 7
    assert any(k.startswith("target_backbone.") for k in state) and any(k.startswith("predictor.") for k in state)


def test_momentum_must_rise_within_0_1():
    with pytest.raises(ConfigError, match="byol momentum must rise"):
        profile_config("quick", method="byol", byol_tau_base=0.999, byol_tau_end=0.99)
    with pytest.raises(ConfigError, match="byol momentum must rise"):
        profile_config("quick", method="byol", byol_tau_end=1.5)
