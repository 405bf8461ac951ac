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


def _closest_by_scan(paper_epoch: int, epochs: int, warmup: int) -> int:
    """The clear version: scan every epoch (what :func:`paper_epoch_to_run` computes by bisection)."""
    cands = [c for c in range(1, epochs + 1) if c > warmup] or list(range(1, epochs + 1))
    target = paper_share(paper_epoch)
    return min(cands, key=lambda c: (abs(lr_share(c, epochs, warmup) - target), -c))


@given(epochs=st.integers(1, 400), warmup=st.integers(0, 400), paper_epoch=st.integers(1, 1000))
def test_bisection_picks_the_epoch_a_scan_picks(epochs, warmup, paper_epoch):
    warmup = min(warmup, epochs)
    assert paper_epoch_to_run(paper_epoch, epochs, warmup) == _closest_by_scan(paper_epoch, epochs, warmup)


def test_a_huge_epoch_count_maps_without_scanning_every_epoch():
    # Was: a list of every epoch, so `--set epochs=10**20` hung and filled the memory instead of training or erring.
    sched = checkpoint_schedule(10**20, 5)
    assert sched[0] == 0 and sched[-1] == 10**20 and list(sched) == sorted(set(sched))
