"""Protocol of the Section 6 claims (``claims/test_sec6_layers.py``): class hierarchies and layers (Fig. 2 right,
Fig. 5)."""
from sslre.claims.protocol import BELOW_FULL, ClaimSpec, PartSpec  # noqa: F401  (BELOW_FULL: shared import)

MAIN = ("vicreg",)
DEEP = ("vicreg-deep",)          # falls back to vicreg where vicreg-deep is not run
NORM_GAIN = "normalized linear test gain acc(last)/acc(init) - 1, last layer"
SHUF_CLASS = "class-shuffled labels in place of class (same statistic, same test)"
SHUF_SUPER = "superclass-shuffled labels in place of superclass (same statistic, same test)"
SHUF_LAYERS = ("class-shuffled labels in place of class, every block (needs the shuffled level at every block at "
               "init: 'not run' where the control coverage has every block at the last epoch only)")

CLAIMS = (
    ClaimSpec("semantic-gains-not-sample", (
        PartSpec("class-gain", "class-level linear accuracy increases during training", f"{NORM_GAIN} (class)",
                 runs=MAIN, control=SHUF_CLASS,
                 source="Sec. 6: performance for the original classes 'significantly increased during training'"),
        PartSpec("superclass-gain", "superclass-level linear accuracy increases during training",
                 f"{NORM_GAIN} (superclass)", runs=MAIN, control=SHUF_SUPER,
                 source="Sec. 6: performance for the superclasses 'significantly increased during training'"),
        PartSpec("class-vs-sample", "the class-level gain exceeds the sample-level gain",
                 f"{NORM_GAIN}: class - sample", runs=MAIN,
                 control="labels permuted at both levels: class-shuffled - sample-shuffled (same test)",
                 source="Sec. 6: 'in contrast to the sample-level classes'"),
        PartSpec("superclass-vs-sample", "the superclass-level gain exceeds the sample-level gain",
                 f"{NORM_GAIN}: superclass - sample", runs=MAIN,
                 control="labels permuted at both levels: superclass-shuffled - sample-shuffled (same test)",
                 source="Sec. 6: 'in contrast to the sample-level classes'"),
    )),
    ClaimSpec("depth-ordering", (
        PartSpec("layer-slope", "class linear accuracy improves from earlier to deeper layers",
                 "least-squares slope of class linear test accuracy over blocks 1..L, last epoch", runs=DEEP,
                 control="class-shuffled labels in place of class (same slope, same test)",
                 source="Sec. 6: 'a consistent improvement in clustering as we move from earlier to deeper layers'"),
        PartSpec("slope-grows", "the depth improvement becomes more prominent during training",
                 "layer slope of class linear test accuracy at the last epoch - at init", runs=DEEP,
                 control=SHUF_LAYERS,
                 source="Sec. 6: '... becoming more prominent during the course of training'"),
        PartSpec("every-layer-improves", "class linear accuracy improves in each layer during training",
                 "class linear test accuracy at the last epoch - at init, per block", runs=DEEP,
                 cells="every block 1..L", control=SHUF_LAYERS,
                 source="Sec. 6: 'the linear accuracy of the network improves in each layer during SSL training'"),
        PartSpec("superclass-ratio-slope", "superclass accuracy improves more than class accuracy in deeper layers",
                 "least-squares slope over blocks 1..L of superclass / class linear test accuracy, last epoch",
                 runs=DEEP, control="superclass-shuffled / class-shuffled in place of superclass / class",
                 source="Sec. 6: 'the accuracy of the superclasses improves more than that of the original classes "
                        "in the deeper layers'"),
    ), notes="'For the original classes the final layers are not the optimal ones' is a possibility, not a testable "
             "direction: the best layer is recorded as a note. Run vicreg-deep, else vicreg."),
)
