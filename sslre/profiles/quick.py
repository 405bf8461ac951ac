"""quick: the embedded synthetic data (grey shapes, :mod:`sslre.data.synthetic`), tiny models: the whole claim
matrix (38 runs) trains, is measured and decided in minutes on 2 cores. Proves the machinery, tests directions
only. Pilot figures (per seed, per recipe): docs/PERFORMANCE.md."""
from sslre.profiles import MeasureSettings, Profile, Run, SampleLevelSettings, generators, preset

PROFILE = Profile(
    name="quick",
    config=preset(
        profile="quick", dataset="synthetic",
        arch="RES-3-32",                           # paper RES-5-250; the data, not capacity, was what seeds lacked
        proj_hidden=256, proj_out=256,             # not given in the paper
        train_subset=1000, test_subset=500,        # test accuracy's binomial s.e. ~0.02 at 0.8, below the margin
        epochs=15, batch_size=64,                  # 225 SGD steps: every seed learns (8-10 epochs: less)
        lr=0.025,                                  # 0.002 barely moves; 0.05 / 0.1 learned less (0.05: mu=100 diverged)
        warmup_epochs=2,                           # few (warm-up epochs are never "early" checkpoints); mu=100 stable
        num_threads=1,                             # at these sizes a second OpenMP thread costs more than it gives
        channels_last=True,                        # NHWC (mkldnn): ~20% faster per step, same maths to round-off
    ),
    main_seeds=(0, 1, 2, 3, 4),                    # 5: the recipe check "SSL learns for every seed" has teeth
    seeds=(0, 1, 2),
    deep="RES-6-32", narrow="RES-3-8", wide="RES-3-64",  # as small
    literal_no_augment=False,                      # crop + flip, as the committed report was made
    other_dataset="cifar10-jpeg",                  # a 1,000 / 500-image real CIFAR-10 slice, if its archive is here
    # 50 images (1,000 / 500 points, the class level's sizes): a 50-way probe per cell, not 100-way.
    sample_level=SampleLevelSettings(50, 20, 10),
    # MINE 200 steps at batch 128 (defaults 400 x 256): ~3.6x cheaper per estimate; 3 seeds + 1 null. Values
    # are relative. Only at the first and last checkpoints, the two the claim decides on: 2/5 of the cost.
    measure=MeasureSettings(mine_seeds=(0, 1, 2), mine_null_seeds=(0,), mine_images=1000, mine_run_seeds=(0, 1, 2),
                            mine_kwargs=(("steps", 200), ("batch_size", 128)), mine_epochs="ends",
                            umap_points_per_group=40, umap_neighbors=10),
    # Narrow generators, well under a minute each. A snapshot at every epoch: the width-8 ResNet-18 predicts 1-4
    # classes for its first 3-6 epochs, which the degeneracy rule excludes; snapshots at 0, 1, 2, 4, 8 left two
    # of three seeds with fewer than two levels.
    targets=generators(8, tuple(range(9)), 128, 0.001, width=8, vit_dim=64, vit_depth=2, vit_heads=4),
    # The generality matrix: every method-generic claim for each SSL method, in CI (sslre reproduce --methods).
    methods=("vicreg", "simclr", "barlowtwins", "byol"),
    # BYOL's predictor as wide as quick's projector, as solo-learn's CIFAR config ties them (4,096 each there):
    # 35% less CPU per run. Neither this nor the lr / momentum / Barlow variants piloted made BYOL or Barlow Twins
    # learn in quick's 225 steps (docs/PERFORMANCE.md): their columns stay flagged "main run learns? no".
    method_settings={"byol": {"byol_pred_hidden": 256}},
    # The other columns train the main and deep roles (12 of the 14 method-generic claims): the narrow, wide and
    # other-dataset roles would add 27 runs, about 4 of CI's minutes; width-and-depth and other-datasets stay
    # inconclusive there, with that reason (VICReg's column trains every role).
    matrix_roles=(Run.MAIN, Run.DEEP),
)
