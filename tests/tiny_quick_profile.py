"""The quick profile shrunk to seconds, for tests that run the real ``sslre reproduce`` end to end.

``sslre reproduce`` trains in its own process and decides the claims in a pytest subprocess; a test applies
:func:`tiny_profile` in its own process (``monkeypatch.setattr(sslre.profiles.quick, "PROFILE", tiny_profile())``)
and loads this module as a pytest plugin in the subprocess (``sslre reproduce ... -- -p tiny_quick_profile``, with
this folder on ``PYTHONPATH``), where :func:`pytest_configure` installs the same profile before the claims collect.

What stays: the run registry (38 runs, the same names, seeds 0-4 / 0-2, claims and relations between runs), the
protocol, every measurement and claim. What shrinks: the nets (RES-1-8 and friends), 6 epochs of batch 32, 96 / 48
images at most per split, lr 0.005, 20 MINE steps, 6 sample-level images, 2-epoch generators; App. B.2's other-dataset run
uses the embedded synthetic data (no CIFAR-10 archive needed).
"""
from __future__ import annotations

import dataclasses

import sslre.profiles.quick as quick
from sslre.profiles import MeasureSettings, Profile, SampleLevelSettings, generators
from sslre.schedule import checkpoint_schedule

#: The real quick profile, as imported.
QUICK = quick.PROFILE


def tiny_profile() -> Profile:
    config = QUICK.config.replace(arch="RES-1-8", proj_hidden=16, proj_out=16, train_subset=96, test_subset=48,
                                  epochs=6, warmup_epochs=1, checkpoint_epochs=checkpoint_schedule(6, 1),
                                  batch_size=32, lr=0.005)  # 0.025 diverges at mu=100 with 2 steps per epoch
    return dataclasses.replace(
        QUICK, config=config, deep="RES-2-8", narrow="RES-1-4", wide="RES-1-16", other_dataset="synthetic",
        sample_level=SampleLevelSettings(6, 4, 2),
        measure=MeasureSettings(mine_seeds=(0, 1, 2), mine_null_seeds=(0,), mine_images=64, mine_run_seeds=(0, 1, 2),
                                mine_kwargs=(("steps", 20), ("batch_size", 32)), umap_points_per_group=10,
                                umap_neighbors=5),
        targets=generators(2, (0, 1, 2), 32, 0.001, width=4, vit_dim=16, vit_depth=1, vit_heads=2),
    )


def pytest_configure(config) -> None:  # noqa: ARG001 - pytest's hook signature
    quick.PROFILE = tiny_profile()
