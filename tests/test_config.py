import pytest

from sslre.config import PAPER_EPOCHS, PROFILES, Config, ConfigError, parse_arch, profile_config
from sslre.schedule import checkpoint_schedule


def test_full_profile_is_the_paper():
    c = PROFILES["full"]
    assert (c.arch, c.batch_size, c.epochs, c.lr, c.momentum, c.weight_decay, c.optimizer) == \
        ("RES-5-250", 256, 1000, 0.002, 0.9, 1e-6, "sgd")
    assert (c.vicreg_lambda, c.vicreg_mu, c.vicreg_nu) == (25.0, 25.0, 1.0)
    assert c.checkpoint_epochs == PAPER_EPOCHS


def test_quick_profile_is_small_and_checkpoints_start_at_init():
    c = PROFILES["quick"]
    assert c.dataset == "synthetic" and c.num_threads == 1
    assert c.checkpoint_epochs[0] == 0 and c.checkpoint_epochs[-1] == c.epochs
    assert len(c.checkpoint_epochs) >= 3
    assert c.train_subset // c.batch_size >= 10  # enough steps per epoch to learn anything


def test_profile_overrides_rescale_checkpoints():
    c = profile_config("quick", epochs=12, warmup_epochs=2)
    assert c.checkpoint_epochs == checkpoint_schedule(12, 2)
    assert all(e == 0 or e > 2 for e in c.checkpoint_epochs)      # warm-up epochs are never checkpoints
    assert profile_config("quick", epochs=4, checkpoint_epochs=(0, 2)).checkpoint_epochs == (0, 2)


def test_roundtrip_dict():
    c = profile_config("small", seed=3, vicreg_mu=5.0)
    assert Config.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kw,match", [
    ({"method": "dino"}, "allowed values: vicreg, simclr, supervised, barlowtwins, byol"),
    ({"arch": "RES-5"}, "RES-L-H"),
    ({"optimizer": "lamb"}, "allowed values: sgd, adam"),
    ({"dataset": "mnist"}, "imagefolder"),
    ({"batch_size": 1}, "batch_size must be >= 2"),
    ({"checkpoint_epochs": (0, 30)}, "outside 0..epochs"),
])
def test_bad_values_name_the_problem(kw, match):
    with pytest.raises(ConfigError, match=match):
        profile_config("quick", **kw)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['lr_max'\]"):
        profile_config("quick", lr_max=1.0)
    with pytest.raises(ConfigError, match="quick, small, medium, full"):
        profile_config("tiny")


def test_parse_arch():
    assert parse_arch("RES-10-250") == (10, 250)


@pytest.mark.parametrize("kw, match", [
    ({"lr": 0.0}, "lr must be > 0"), ({"lr": -1.0}, "lr must be > 0"), ({"num_threads": -3}, "num_threads must be >= 0"),
    ({"warmup_epochs": -4}, "warmup_epochs must be >= 0"), ({"vicreg_mu": -5.0}, "vicreg_mu must be >= 0"),
    ({"momentum": 1.0}, "momentum must be < 1"), ({"simclr_temperature": 0.0}, "simclr_temperature must be > 0"),
    ({"weight_decay": -1e-6}, "weight_decay must be >= 0"), ({"train_subset": -1}, "train_subset must be >= 0"),
    ({"seed": -1}, "seed must be >= 0"), ({"lr": float("inf")}, "lr must be a finite number"),
    ({"amp": "yes"}, "amp must be true or false"), ({"batch_size": "abc"}, "batch_size must be an integer"),
    ({"batch_size": True}, "batch_size must be an integer"), ({"vicreg_mu": "25"}, "vicreg_mu must be a finite number"),
    ({"checkpoint_epochs": 5}, "checkpoint_epochs must be a list of integers"),
    ({"checkpoint_epochs": ("0", "5")}, "checkpoint_epochs must be a list of integers"),
    ({"dataset": 3}, "dataset must be a string"),
])
def test_every_field_is_type_and_range_checked(kw, match):
    # Were accepted (num_threads=-3, warmup_epochs=-4, mu=-5, amp="yes") or crashed later in training.
    with pytest.raises(ConfigError, match=match):
        profile_config("quick", **kw)


def test_int_for_a_float_field_becomes_a_float():
    c = profile_config("quick", lr=1, vicreg_mu=5)
    assert type(c.lr) is float and c.vicreg_mu == pytest.approx(5.0)
