"""The lr-integral mapping of paper epochs to run checkpoints (claims/PROTOCOL.md, "Checkpoints")."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sslre.schedule import checkpoint_schedule, lr_share, paper_epoch_to_run, paper_share
from sslre.train import lr_factor


def test_paper_epoch_100_is_a_fifth_of_the_integral():
    assert paper_share(100) == pytest.approx(0.1 + math.sin(math.pi / 10) / math.pi)
    assert paper_share(0) == 0.0 and paper_share(1000) == pytest.approx(1.0)


@pytest.mark.parametrize("epochs,warmup", [(20, 0), (15, 4), (20, 5), (60, 4)])
def test_share_matches_the_per_step_schedule(epochs, warmup):
    """The continuous share equals the trainer's per-step lr factors summed, to within a step's worth."""
    steps = 200                                            # steps per epoch
    f = [lr_factor(i, epochs * steps, warmup * steps) for i in range(epochs * steps)]
    total = sum(f)
    for e in range(epochs + 1):
        assert lr_share(e, epochs, warmup) == pytest.approx(sum(f[:e * steps]) / total, abs=2e-3)


@given(st.integers(2, 400), st.integers(0, 50))
def test_mapped_epochs_never_fall_in_the_warm_up(epochs, warmup):
    warmup = min(warmup, epochs - 1)
    sched = checkpoint_schedule(epochs, warmup)
    assert sched[0] == 0 and sched[-1] == epochs and list(sched) == sorted(set(sched))
    assert all(e == 0 or e > warmup for e in sched)
    shares = [lr_share(e, epochs, warmup) for e in sched]
    assert shares == sorted(shares)


def test_full_profile_keeps_the_paper_epochs_and_short_runs_map_by_share():
    assert checkpoint_schedule(1000) == (0, 20, 40, 100, 400, 1000)
    # 15 epochs with 4 warm-up: paper epoch 100 (20% of the integral) is the first epoch after the warm-up
    assert paper_epoch_to_run(100, 15, 4) == 5
    assert paper_epoch_to_run(400, 15, 4) == 8
