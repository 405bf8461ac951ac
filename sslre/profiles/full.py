"""full: the paper's scale (App. A): CIFAR-100, RES-5-250, batch 256, SGD lr 0.002 / momentum 0.9 / wd 1e-6,
cosine annealing, 1000 epochs."""
from sslre.profiles import MeasureSettings, Profile, SampleLevelSettings, generators, preset

PROFILE = Profile(
    name="full",
    config=preset(profile="full"),                 # Config's defaults are App. A
    main_seeds=(0, 1, 2),
    seeds=(0, 1, 2),
    # App. B.1: RES-10-250 deep, widths 50 / 250 / 1000.
    deep="RES-10-250", narrow="RES-5-50", wide="RES-5-1000",
    literal_no_augment=True,                       # Fig. 3 right: no crop, no flip (can reach train accuracy 1.0)
    other_dataset="cifar10",                       # App. B.2: VICReg on CIFAR-10
    sample_level=SampleLevelSettings(500, 100, 20),  # Sec. 3: 500 images x 100 train / 20 test augmentations
    measure=MeasureSettings(),                     # MINE: 5 seeds + 5 null (paper), 10,000 images; UMAP 100 / group
    # App. A.3 learning rates (None: ResNet-18 Adam 0.05, ViT Adam 0.001, wd 5e-5) and A.2 sizes; 100 epochs is
    # our choice (the paper does not state it).
    targets=generators(100, (0, 1, 2, 5, 10, 20, 50, 100), 256, None),
)
