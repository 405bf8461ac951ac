"""Protocol of the Section 5 claims (``claims/test_sec5_randomness.py``): semantic vs random targets (Fig. 4)."""
import math

from sslre.claims.protocol import BELOW_FULL, ClaimSpec, PartSpec  # noqa: F401  (BELOW_FULL: shared import)

KAPPA = "chance-corrected linear test accuracy κ on ResNet-18 random targets"
SHUFFLED = "random-shuffled: the same random-target labels permuted across images (same test, same cells)"
MAIN = ("vicreg",)
#: "the variance ratio stays fairly constant during training": the semantic/random within-class variance ratio at
#: the end of training lies within a factor 1.25 of its value at initialization (|Δ log ratio| < ln 1.25 ≈ 0.223).
#: Fixed from the paper's words ("fairly constant" = changes by well under the factors by which the NCC and CDNV
#: ratios move; a quarter either way), before looking at any measurement.
VAR_MARGIN = math.log(1.25)

CLAIMS = (
    ClaimSpec("randomness-ordering", (
        PartSpec("every-epoch", "accuracy falls as target randomness rises, at every epoch of training",
                 f"least-squares slope of {KAPPA} over randomness levels, last layer, per epoch > 0",
                 op="<", runs=MAIN, cells="every measured epoch > 0", control=SHUFFLED,
                 source="Sec. 5: the model captures less random classes better 'throughout training'"),
        PartSpec("every-layer", "accuracy falls as target randomness rises, at every layer",
                 f"least-squares slope of {KAPPA} over randomness levels, last epoch, per block 1..L",
                 op="<", runs=MAIN, cells="every block 1..L", control=SHUFFLED,
                 source="Sec. 5: 'accuracy consistently improves at all layers as randomness decreases'"),
        PartSpec("training-gain", "training improves near-semantic targets more than highly random ones",
                 f"training gain (last epoch - init) of {KAPPA} at the least random level minus at the most "
                 "random level, last layer", runs=MAIN, control=SHUFFLED,
                 source="Sec. 5: 'captures classes closer to semantic ones more effectively ... while not showing "
                        "significant performance improvement on highly random targets'"),
        PartSpec("depth", "deeper layers do better at every randomness level",
                 f"{KAPPA} at the last block minus at block 1, last epoch, per randomness level",
                 runs=MAIN, cells="every randomness level", control=SHUFFLED,
                 source="Sec. 5: 'deeper layers outperforming across all class types'"),
        PartSpec("depth-gap", "the depth gap widens toward semantic targets",
                 f"(last block - block 1) {KAPPA} at the least random level minus at the most random level, "
                 "last epoch", runs=MAIN, control=SHUFFLED,
                 source="Sec. 5: 'the performance gap broadening for classes closer to semantic ones'"),
    ), notes="Random targets: ResNet-18 predictions at successive epochs of its own training (randomness 1 = its "
             "initialization, 0 = its end); degenerate target levels are excluded by the fixed rule."),
    ClaimSpec("semantic-vs-random-ratios", (
        PartSpec("ncc-ratio", "the semantic/random NCC ratio increases during training",
                 "NCC train acc(class) / NCC train acc(most random ResNet-18 target), last layer: end - init",
                 runs=MAIN, control="class-shuffled labels in place of class (same ratio, same test)",
                 source="Sec. 5: 'the ratio of the NCC ... increases during training'"),
        PartSpec("cdnv-ratio", "the semantic/random CDNV ratio decreases during training",
                 "CDNV(class) / CDNV(most random target), last layer: init - end",
                 runs=MAIN, control="class-shuffled labels in place of class (same ratio, same test)",
                 source="Sec. 5: 'the decrease in the CDNV' of semantic relative to random targets"),
        PartSpec("distance-ratio", "the semantic/random squared-distance ratio increases during training",
                 "log[mean_dist2(class) / mean_dist2(most random target)], last layer: end - init",
                 runs=MAIN, control="class-shuffled labels in place of class (same ratio, same test)",
                 source="Sec. 5: the CDNV decrease 'is caused solely by the increase in squared distance'"),
        PartSpec("variance-constant", "the semantic/random within-class variance ratio stays roughly constant",
                 "log[within_var(class) / within_var(most random target)], last layer: end - init",
                 test="equivalence", op="~", threshold=0.0, margin=VAR_MARGIN, runs=MAIN,
                 control="sensitivity null: the class within-class variance alone (not divided by the random "
                         "target's), log end - log init, by the same TOST: must not come out constant",
                 source="Sec. 5: 'The variance ratio stays fairly constant during training' -> TOST, margin "
                        "ln 1.25 on the log ratio (within a factor 1.25 of its initial value)"),
    ), notes="Ratios semantic (class level) / random (the most random ResNet-18 target level that the most seeds "
             "kept after the degeneracy rule; ties: the more random), per seed."),
)
