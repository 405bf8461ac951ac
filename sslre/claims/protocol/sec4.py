"""Protocol of the Section 4 claims (``claims/test_sec4_clustering.py``)."""
from sslre.claims.protocol import BELOW_FULL, ClaimSpec, PartSpec

EARLY = "the checkpoint of paper epoch 100 by lr-integral share"
DEEP = ("vicreg-deep",)

CLAIMS = (
    ClaimSpec("sample-clusters-first", (
        PartSpec("a", "sample-level clustering happens early",
                 f"early share(sample) - early share(class) of normalized NCC train acc, early = {EARLY}",
                 runs=DEEP, control="class-shuffled labels in place of class",
                 source="Sec. 4: sample clustering 'occurs at the beginning ... and then plateaus'"),
        PartSpec("b", "class-level clustering keeps improving",
                 "class NCC test acc (test images against the train class means) at the last epoch - at the early "
                 "checkpoint (held-out: a permuted-label NCC train accuracy rises by memorisation)", runs=DEEP,
                 control="class-shuffled labels in place of class (held-out accuracy at chance at every epoch)",
                 source="Sec. 4: class clustering 'continues to improve throughout the training process'"),
    )),
)

# ---------------------------------------------------------------------------------------------------------------
# the remaining Section 4 claims (port of claims/test_sec4_clustering.py)
# ---------------------------------------------------------------------------------------------------------------
PERMUTED_TEST = ("labels permuted across images, train and test independently: the NCC / linear accuracy of held-out "
                 "points is at chance at every epoch, and unlike NCC *train* accuracy it cannot rise by "
                 "self-inclusion (memorisation) as the features spread")
SUP = ("vicreg-deep", "supervised", "supervised-aa")
EPOCH0 = "the same statement on the untrained (epoch-0) networks of the same runs and seeds"

CLAIMS += (
    ClaimSpec("sample-neural-collapse", (
        PartSpec("a-level", "neural collapse at the sample level: NCC train accuracy near 1.0",
                 "sample NCC train acc at the last epoch", test="level", threshold=0.9, runs=DEEP,
                 profiles=("full",),
                 control="the untrained (epoch-0) networks: their sample NCC train acc must not already be >= 0.9 "
                         "(collapse made by training, not by the architecture)",
                 source="Sec. 4: 'neural collapse at a sample level (with an NCC train accuracy near 1.0)'; "
                        "'near 1.0' -> >= 0.9"),
        PartSpec("a", "training clusters the augmentations of each image (direction of 'near 1.0')",
                 "sample NCC test acc (held-out augmentations of the same images, scored against the train-view "
                 "means) at the last epoch - at epoch 0", runs=DEEP, profiles=BELOW_FULL,
                 control=f"sample-shuffled in place of sample ({PERMUTED_TEST})",
                 source="Sec. 4: sample-level neural collapse; below full only its direction is tested, on held-out "
                        "augmentations (the permuted-label NCC train accuracy can rise by memorisation: no null)"),
        PartSpec("b", "class-level clustering made by training is significant",
                 "class NCC test acc (test images, scored against the train-split class means) at the last epoch - at "
                 "epoch 0", runs=DEEP,
                 control=f"class-shuffled in place of class ({PERMUTED_TEST})",
                 source="Sec. 4: 'the clustering with respect to the semantic classes is also significant (≈ 0.41 "
                        "on the original targets)'; Sec. 4 (Fig. 3 right): clustering is real only if it holds "
                        "for test samples"),
    ), notes="The paper quotes NCC *train* accuracy. On permuted labels NCC train accuracy can rise with training "
             "by memorisation (each point is 1/n of its own class mean, and the own-mean advantage grows as VICReg "
             "spreads the features), so a permuted-label null of a train-accuracy gain does not discriminate. The "
             "direction parts therefore read held-out NCC accuracy, whose permuted null stays at chance at every "
             "epoch; the level part keeps the paper's NCC train accuracy, with the untrained network as its null."),
    ClaimSpec("ncc-linear-ratio", (
        PartSpec("a", "the gap between NCC and linear accuracy narrows at the sample level",
                 "sample NCC test acc / linear test acc: last epoch - epoch 0", runs=DEEP,
                 control="sample-shuffled in place of sample (both accuracies at chance: the ratio has no trend)",
                 source="Sec. 4: 'As SSL training progresses, the gap between NCC accuracy and linear accuracy "
                        "narrows'"),
        PartSpec("b-level", "the sample-level ratio is >= 0.9 at epoch 100",
                 f"sample NCC test / linear test acc at {EARLY}", test="level", threshold=0.9, runs=DEEP,
                 profiles=("full",),
                 control="the untrained (epoch-0) networks: their sample ratio must not already be >= 0.9 (then the "
                         "paper's 'until they converge to centroids' would not be made by training)",
                 source="Sec. 4: 'the ratio between the NCC accuracy and the linear accuracy is >= 0.9 at epoch "
                        "100'"),
        PartSpec("b", "the sample-level ratio saturates before the class-level ratio",
                 f"early share(sample ratio) - early share(class ratio), early = {EARLY}", runs=DEEP,
                 profiles=BELOW_FULL, control="class-shuffled in place of class",
                 source="Sec. 4: 'the sample-level ratio saturates while the class-level ratio continues to grow' "
                        "(direction of '>= 0.9 at epoch 100')"),
        PartSpec("c", "the class-level ratio continues to grow after epoch 100",
                 f"class NCC test / linear test acc: last epoch - {EARLY}", runs=DEEP,
                 control="class-shuffled in place of class (both accuracies at chance: the ratio has no trend)",
                 source="Sec. 4: 'the class-level ratio continues to grow and converges to ≈ 0.75'"),
    ), notes="'converges to ≈ 0.75' is shown in the figure, not tested (a number of RES-10-250 on CIFAR-100 at "
             "1000 epochs; no margin follows from the paper's wording)."),
    ClaimSpec("regularization-drives-learning", (
        PartSpec("a", "the loss improves through the regularization term, not the invariance term",
                 "(regularization loss at epoch 0 - at the last epoch) - (invariance loss at epoch 0 - at the last "
                 "epoch), per-epoch means from history.jsonl",
                 no_null="the loss terms are the training objective as logged; the table holds no version of them "
                         "with the effect removed (no labels or pairs to permute; the untrained network is only "
                         "this statistic's own starting point). A null would need the terms of a frozen (untrained) "
                         "network logged on every epoch's batches",
                 source="Sec. 4: 'the invariance loss does not significantly improve during the training process. "
                        "Instead, the improvement in loss ... is achieved due to minimizing the regularization "
                        "loss'"),
        PartSpec("b", "downstream semantic accuracy improves during training",
                 "class linear test acc at the last epoch - at epoch 0",
                 control="class-shuffled in place of class (a linear probe on permuted labels stays at chance)",
                 source="Sec. 4: 'the improvement in loss (and downstream semantic accuracy)'"),
    )),
    ClaimSpec("mine-compression", (
        PartSpec("a", "training compresses I(X;Z)",
                 "MINE estimate of I(X;Z) at epoch 0 - at the last epoch, each averaged over the MINE "
                 "initialization seeds (nuisance draws, never a noise source); one value per training seed",
                 control="the shuffled-pairs null mine_null (X and Z independent, true MI 0) in place of mine_mi, "
                         "averaged over its seeds: estimator drift with the representation must not look like "
                         "compression",
                 source="Sec. 4: 'the average mutual information computed across 5 different MINE initialization "
                        "seeds ... the training process manifests significant compression'"),
    )),
    ClaimSpec("ssl-vs-supervised-ncc", (
        PartSpec("a-level", "the supervised NCC train accuracy is 1.0",
                 "supervised class NCC train acc at the last epoch", test="level", threshold=0.9,
                 runs=("supervised",), profiles=("full",),
                 control="the untrained (epoch-0) supervised networks must not already be >= 0.9",
                 source="Sec. 4: 'the NCC train accuracy of the supervised classifier is 1.0' -> >= 0.9"),
        PartSpec("a", "supervised NCC train accuracy is significantly higher than SSL's",
                 "supervised - SSL class NCC train acc at the last epoch, paired by seed", runs=SUP[:2],
                 control=EPOCH0,
                 source="Sec. 4: NCC train accuracy of the supervised classifier 'significantly higher than the NCC "
                        "train accuracy of the SSL-trained model'"),
        PartSpec("b", "SSL NCC test accuracy is slightly higher than supervised",
                 "SSL - supervised class NCC test acc at the last epoch, paired by seed", runs=SUP[:2],
                 control=EPOCH0,
                 source="Sec. 4: 'the NCC test accuracy of the SSL model is slightly higher than the NCC test "
                        "accuracy of the supervised model'"),
        PartSpec("c", "augmentation slightly decreases the supervised NCC train accuracy",
                 "supervised+AA - supervised class NCC train acc at the last epoch, paired by seed", op="<",
                 runs=SUP[1:], control=EPOCH0,
                 source="Sec. 4: 'training the supervised model with augmentation slightly decreases the NCC train "
                        "accuracy'"),
        PartSpec("d", "augmentation significantly improves the supervised NCC test accuracy",
                 "supervised+AA - supervised class NCC test acc at the last epoch, paired by seed",
                 runs=SUP[1:], control=EPOCH0,
                 source="Sec. 4: '... yet significantly improves the NCC test accuracy'"),
    ), notes="SSL run: vicreg-deep (the paper's RES-10-250, the supervised runs' arch). Seed k of every run shares "
             "data order and subset; at epoch 0 the runs of one seed start from the same backbone."),
)
