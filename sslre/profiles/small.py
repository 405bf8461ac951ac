"""small: real CIFAR-10 (JPEG copy, App. B.2's second dataset), sized so that the whole claim matrix (3 seeds of
every run) trains and is measured on a 2-core CPU, two one-thread runs at a time."""
from sslre.profiles import MeasureSettings, Profile, SampleLevelSettings, generators, preset

PROFILE = Profile(
    name="small",
    config=preset(
        profile="small", dataset="cifar10-jpeg",
        arch="RES-3-32",                           # paper RES-5-250; sized for one CPU core per run
        proj_hidden=512, proj_out=512,
        train_subset=10000, test_subset=2000,      # class-balanced (paper 50,000 / 10,000)
        epochs=15, batch_size=256,                 # ~600 SGD steps: the class probe rises clearly above init
        lr=0.05, warmup_epochs=4,                  # paper 0.002 barely moves in 15 epochs; mu=100 needs the warm-up
        num_threads=1,                             # two one-thread runs side by side (SSLRE_JOBS)
        channels_last=True,                        # NHWC (mkldnn): ~20% faster on one thread, same maths to round-off
    ),                                             # checkpoints 0, 5, 8, 15 (lr integral)
    main_seeds=(0, 1, 2),
    seeds=(0, 1, 2),
    # Twice the blocks, width / 4, width x 2 (not the paper's x 4: x 4 costs 16x the compute, more than the rest).
    deep="RES-6-32", narrow="RES-3-8", wide="RES-3-64",
    literal_no_augment=False,                      # crop + flip, as the committed report was made
    other_dataset=None,                            # already CIFAR-10: App. B.2's run is the main run
    sample_level=SampleLevelSettings(200, 50, 10),
    # 5 MINE seeds (the paper's count) + 2 null on 5,000 images, on each of 3 training seeds.
    measure=MeasureSettings(mine_images=5000, mine_run_seeds=(0, 1, 2), mine_null_seeds=(0, 1),
                            umap_points_per_group=100),
    # Narrow generators (ResNet-18 width 16, ViT 64-d x 4), affordable on one core; Adam 0.05 diverges or stalls
    # on one class below full (sslre.targets): lr 1e-3.
    targets=generators(10, (0, 1, 2, 4, 10), 256, 0.001, width=16, vit_dim=64, vit_depth=4, vit_heads=4),
)
