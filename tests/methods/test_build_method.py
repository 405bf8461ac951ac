import math

import pytest
import torch

from sslre.config import ConfigError, profile_config
from sslre.methods import LOSS_TERMS, STEP_KEYS, build_classifier, build_method
from sslre.models.heads import ProjectionHead
from sslre.models.resnet_lh import ResLH


def _batch(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g), torch.randint(0, 4, (b,), generator=g)


@pytest.mark.parametrize("method", ["vicreg", "simclr", "supervised", "barlowtwins", "byol"])
def test_step_keys_shapes_and_determinism(method):
    cfg = profile_config("quick", method=method, arch="RES-1-8", proj_hidden=16, proj_out=8, byol_pred_hidden=16)
    torch.manual_seed(0)
    m = build_method(cfg, num_classes=4)
    m.total_steps = 10  # BYOL's momentum schedule (set by train); unused by the others
    if method == "byol":
        m.eval()  # eval mode: no target update, so two steps see the same weights
    assert isinstance(m.backbone, ResLH) and m.backbone.embed_dim == 8
    x, y = _batch()
    out1 = m.step(x, y, torch.Generator().manual_seed(5))
    out2 = m.step(x, y, torch.Generator().manual_seed(5))
    assert set(out1) == set(STEP_KEYS)
    assert all(v.shape == () for v in out1.values())
    assert torch.equal(out1["loss_total"], out2["loss_total"])
    assert torch.isfinite(out1["loss_total"]) and out1["loss_total"].requires_grad
    nan_keys = {k for k, v in out1.items() if math.isnan(float(v.detach()))}
    expected_nan = {
        "vicreg": {"accuracy"},
        "simclr": {"loss_variance", "loss_covariance", "accuracy"},
        "supervised": {"loss_invariance", "loss_regularization", "loss_variance", "loss_covariance"},
        "barlowtwins": {"loss_variance", "loss_covariance", "accuracy"},
        "byol": {"loss_regularization", "loss_variance", "loss_covariance", "accuracy"},
    }[method]
    assert nan_keys == expected_nan
    # The declaration says the same: a loss term is NaN exactly when the method does not list it.
    assert {f"loss_{t}" for t in LOSS_TERMS if t not in m.loss_terms} == nan_keys - {"accuracy"}
    other = m.step(x, y, torch.Generator().manual_seed(6))  # other views -> other loss
    assert not torch.equal(out1["loss_total"], other["loss_total"])


def test_vicreg_step_terms_add_up_and_use_config_weights():
    cfg = profile_config("quick", arch="RES-1-8", proj_hidden=16, proj_out=8, vicreg_mu=5.0)
    torch.manual_seed(0)
    m = build_method(cfg)
    assert isinstance(m.head, ProjectionHead)
    out = m.step(*_batch(), torch.Generator().manual_seed(0))
    assert float(out["loss_total"]) == pytest.approx(float(out["loss_invariance"] + out["loss_regularization"]), rel=1e-6)
    assert float(out["loss_regularization"]) == pytest.approx(float(out["loss_variance"] + out["loss_covariance"]), rel=1e-6)
    assert float(out["loss_variance"]) <= 2 * 5.0  # mu * (v + v'), v in [0, 1]


def test_supervised_needs_num_classes_and_bad_batches():
    cfg = profile_config("quick", method="supervised", arch="RES-1-4")
    with pytest.raises(ConfigError, match="num_classes"):
        build_method(cfg)
    m = build_method(profile_config("quick", arch="RES-1-4", proj_hidden=8, proj_out=4))
    with pytest.raises(ValueError, match="uint8"):
        m.step(torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long), torch.Generator())


@pytest.mark.parametrize("kind,kw", [("resnet18", {"width": 8}), ("vit", {"depth": 1, "heads": 2, "dim": 8}),
                                     ("reslh", {})])
def test_build_classifier(kind, kw):
    net = build_classifier(kind, 6, arch="RES-1-4" if kind == "reslh" else None, **kw).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 6)


def test_build_classifier_errors():
    with pytest.raises(ConfigError, match="allowed: resnet18, vit, reslh"):
        build_classifier("mlp", 3)
    with pytest.raises(ConfigError, match="needs arch"):
        build_classifier("reslh", 3)
