"""Protocol of the Appendix B claims (``claims/test_appendix_b.py``): width/depth (B.1), other datasets (B.2),
mu (B.3), SimCLR (B.4), ViT random targets (B.5).

Every run a part reads has its own >= 3 seeds; comparisons between runs are paired by seed (seed k of two runs
shares initialization, data order and subset draw). Linear accuracy is the class linear test accuracy on raw
features unless a part says otherwise.
"""
from sslre.claims.protocol import BELOW_FULL, ClaimSpec, PartSpec  # noqa: F401  (BELOW_FULL: shared import)

EARLY = "the checkpoint of paper epoch 100 by lr-integral share"
KAPPA = "chance-corrected linear test accuracy κ"
CLASS_SHUFFLED = "class-shuffled labels in place of class (same statistic, same test)"
RANDOM_SHUFFLED = "random-shuffled: the same random-target labels permuted across images (same statistic, same test)"
UNTRAINED = "the untrained networks (epoch 0, same initialization seed) in place of the trained ones (same test)"

#: "μ = 100 achieves performance comparable to the default": |log(acc(μ=100) / acc(μ=25))| < 0.05, i.e. within
#: about 5 % of the default's accuracy. Fixed from the paper's word "comparable" (set against the μ = 5 run's
#: "significantly lower") before looking at any measurement; a relative margin keeps one meaning across profiles
#: whose accuracies differ several-fold.
MU_MARGIN = 0.05
MU = ("vicreg-mu5", "vicreg", "vicreg-mu100")

CLAIMS = (
    ClaimSpec("mu-ablation", (
        PartSpec("mu5-lower", "μ = 5 gives significantly lower linear accuracy than μ = 25",
                 "linear acc(μ=25) - linear acc(μ=5), last layer, last epoch (paired by seed)",
                 runs=("vicreg", "vicreg-mu5"), control=UNTRAINED,
                 source="App. B.3: 'μ = 5 exhibits significantly lower performance compared to the default "
                        "setting (μ = 25)'"),
        PartSpec("mu100-comparable", "μ = 100 matches μ = 25 in linear accuracy",
                 "log(linear acc(μ=100) / linear acc(μ=25)), last layer, last epoch (paired by seed)",
                 test="equivalence", op="~", threshold=0.0, margin=MU_MARGIN, runs=("vicreg", "vicreg-mu100"),
                 control="sensitivity null: log(acc(μ=100) at the last epoch / acc(μ=100) at epoch 0), trained vs "
                         "untrained on the same statistic, by the same TOST: must not come out equivalent",
                 source="App. B.3: μ = 100 'achieves performance comparable to the default' -> TOST, margin 0.05 "
                        "on the log ratio (within about 5 % of μ = 25's accuracy)"),
        PartSpec("mu100-invariance", "μ = 100 has a considerably higher invariance loss than μ = 25",
                 "invariance loss (λ·MSE of the two views' embeddings, mean over the epoch) μ=100 - μ=25, last epoch "
                 "(paired by seed)", runs=("vicreg", "vicreg-mu100"),
                 control="the untrained networks: the same difference at epoch 0 (history row of the untrained "
                         "model, computed without updates; same initialization seed), same test",
                 source="App. B.3: 'despite the network having a considerably higher invariance loss term'"),
    ), notes="VICReg λ = 25, ν = 1, μ ∈ {5, 25, 100}; the μ runs are measured at the last layer only."),
    ClaimSpec("simclr-like-vicreg", (
        PartSpec("simclr-depth", "SimCLR's linear accuracy grows with depth, as VICReg's",
                 "least-squares slope of SimCLR class linear test acc over blocks 1..L, last epoch",
                 runs=("simclr",), control=CLASS_SHUFFLED,
                 source="App. B.4: 'similar clustering behavior across different layers and epochs' (Fig. 11 top; "
                        "Sec. 6: accuracy improves with depth)"),
        PartSpec("simclr-every-layer", "SimCLR's linear accuracy improves with training at every layer",
                 "SimCLR class linear test acc, last epoch - epoch 0, per block", runs=("simclr",),
                 cells="every block 1..L",
                 control="class-shuffled labels in place of class (same statistic, same test), at the blocks where "
                         "the shuffled level is measured at epoch 0 and at the last epoch (the last layer)",
                 source="App. B.4: 'similar clustering behavior across different layers and epochs' (Sec. 6: "
                        "'improves in each layer')"),
        PartSpec("simclr-randomness", "SimCLR shows the same randomness ordering at every epoch and layer",
                 f"least-squares slope of SimCLR {KAPPA} on ResNet-18 targets over randomness levels, per epoch > 0 "
                 "(last layer) and per block (last epoch)", op="<", runs=("simclr",),
                 cells="every epoch > 0 at the last layer and every block 1..L at the last epoch",
                 control=RANDOM_SHUFFLED,
                 source="App. B.4: 'Across various layers and epochs, we observe similar behavior between the "
                        "algorithms' (Fig. 11 bottom, as Fig. 4)"),
        PartSpec("vicreg-better", "VICReg is consistently better than SimCLR at every layer and epoch",
                 "class linear test acc VICReg - SimCLR, per block x epoch > 0 (paired by seed)",
                 runs=("vicreg", "simclr"), cells="every block 1..L x every epoch > 0",
                 control="class-shuffled labels in place of class (same statistic, same test), in the cells where "
                         "the shuffled level is measured: last layer x every epoch, every block x epoch 0 and the last "
                         "epoch",
                 source="App. B.4: 'with VICReg consistently achieving better performance'"),
        PartSpec("vicreg-better-random", "VICReg is slightly better than SimCLR on random targets",
                 f"{KAPPA} on ResNet-18 targets, VICReg - SimCLR, mean over randomness levels, last layer, last "
                 "epoch (paired by seed)", runs=("vicreg", "simclr"), control=RANDOM_SHUFFLED,
                 source="App. B.4: 'VICReg demonstrates a slightly higher performance in extracting the random "
                        "targets'"),
    ), notes="SimCLR and VICReg on the same architecture; random targets from the ResNet-18 generator; degenerate "
             "target levels are excluded by the fixed rule."),
    ClaimSpec("cnn-targets-aligned", (
        PartSpec("resnet-over-vit", "ResNet-18 random targets are captured better than ViT ones at every randomness "
                                    "level above 0, at every epoch and layer",
                 f"{KAPPA}(ResNet-18 target) - {KAPPA}(ViT target) at the same randomness level (run vicreg)",
                 runs=("vicreg",),
                 cells="every randomness > 0 x (every epoch > 0 at the last layer, every block 1..L at the last "
                       "epoch)",
                 control=RANDOM_SHUFFLED,
                 source="App. B.5: ResNet-18 targets 'consistently outperform' ViT targets 'at all training "
                        "stages, except for the end of the supervised training phase (0 randomness)'"),
    ), notes="Randomness 0 (the generators' end of training) is the paper's stated exception and is not a cell."),
    ClaimSpec("width-and-depth", (
        PartSpec("width", "width helps at every layer and epoch: narrow < middle < wide",
                 "linear test acc, wider - narrower net (middle - narrow, wide - middle), per comparison x level "
                 "{class, superclass} x block x epoch > 0 (paired by seed)",
                 runs=("vicreg-narrow", "vicreg", "vicreg-wide"),
                 cells="every width step x {class, superclass} x every block 1..L x every epoch > 0",
                 control="class-/superclass-shuffled labels in place of class/superclass (same statistic, same "
                         "test), in the cells where all three runs measure them",
                 source="App. B.1: 'the network's width has a significant impact on the results for all "
                        "intermediate layers and at all training epochs'"),
        PartSpec("depth-late", "the deeper net is better at the end of training",
                 "class linear test acc, deep - shallow net, last layer, last epoch (paired by seed)",
                 runs=("vicreg-deep", "vicreg"), control=CLASS_SHUFFLED,
                 source="App. B.1: 'in the later epochs of training, the additional layers benefit the linear test "
                        "performance'"),
        PartSpec("shallow-early-layers", "the shallow net clusters better at its initial layer, for classes and "
                                         "superclasses",
                 "linear test acc, shallow - deep net, block 1, last epoch, per level (paired by seed)",
                 runs=("vicreg", "vicreg-deep"), cells="{class, superclass}",
                 control="class-/superclass-shuffled labels in place of class/superclass (same statistic, same test)",
                 source="App. B.1: 'for the initial layers of the network, the shallow RES-5-250 model gets more "
                        "clustered representations both for the original classes and for the superclasses'"),
    ), notes="Width series narrow / middle / wide (paper x4 steps; x2 below full) and shallow / deep nets of the "
             "profile."),
    ClaimSpec("other-datasets", (
        PartSpec("sample-early", "samples cluster by augmentation early in training",
                 f"early share(sample) - early share(class) of NCC test acc, early = {EARLY}",
                 runs=("vicreg-other",), control="class-shuffled labels in place of class",
                 source="App. B.2: samples 'progressively cluster around their augmentation class means early in "
                        "training'"),
        PartSpec("class-later", "samples cluster by semantic class through most of training",
                 f"class NCC test acc at the last epoch - at {EARLY}", runs=("vicreg-other",),
                 control="class-shuffled labels in place of class",
                 source="App. B.2: 'during the majoring of the training process, the augmented samples tend to "
                        "cluster with respect to the semantic labels'"),
        PartSpec("every-layer", "NCC test accuracy of every layer improves during training",
                 "class NCC test acc, last epoch - epoch 0, per block", runs=("vicreg-other",),
                 cells="every block 1..L",
                 control="class-shuffled labels in place of class (blocks where the shuffled level is measured at "
                         "epoch 0 and at the last epoch: the last layer)",
                 source="App. B.2: 'the degree of clustering monotonically improves at all layers during the course "
                        "of training'"),
    ), notes="vicreg-other: CIFAR-10 (full: its own run; small: the main run, which is CIFAR-10; quick: a tiny slice "
             "of the real CIFAR-10 JPEGs, present only if the archive exists). Food-101 is not run."),
)
