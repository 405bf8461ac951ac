"""medium: real CIFAR-10 trained towards the regime the paper describes, within 8 hours on a 2-core CPU.
Pilot figures (per-epoch times, accuracy curves, the budget): docs/PERFORMANCE.md."""
from sslre.profiles import Profile, preset
from sslre.profiles.small import PROFILE as SMALL

PROFILE = Profile(
    name="medium",
    config=preset(
        profile="medium", dataset="cifar10-jpeg",
        arch="RES-3-64",                           # 64 last-layer features; wider and longer both raised sample NCC
        proj_hidden=512, proj_out=512,
        train_subset=10000, test_subset=2000,
        epochs=64, batch_size=256,                 # 2,496 SGD steps, 4.3x small's lr integral: what fits 8 hours
        lr=0.05, warmup_epochs=4,                  # as small; sample NCC still rising at epoch 60 in the pilot
        num_threads=1,                             # two one-thread runs beat one two-thread run by ~10%
        channels_last=True,
    ),                                             # checkpoints 0, 5, 8, 27, 64 (lr integral)
    main_seeds=(0, 1, 2),
    seeds=(0, 1, 2),
    # As small: twice the blocks, width / 4, width x 2 (narrow 16 and wide 128 measure the width the sample
    # level needs; the wide run alone is 29% of the budget).
    deep="RES-6-64", narrow="RES-3-16", wide="RES-3-128",
    literal_no_augment=True,                       # Fig. 3 right literal from medium on: no crop, no flip
    other_dataset=None,                            # already CIFAR-10: App. B.2's run is the main run
    sample_level=SMALL.sample_level,               # what is measured, and the generators: as small
    measure=SMALL.measure,
    targets=SMALL.targets,
)
