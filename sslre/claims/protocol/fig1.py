"""Protocol of the Fig. 1 claim (``claims/test_fig1_umap.py``): UMAP of the embedding at three hierarchy levels."""
from sslre.claims.protocol import BELOW_FULL, ClaimSpec, PartSpec  # noqa: F401  (BELOW_FULL: shared import)

CLAIMS = (
    ClaimSpec("umap-hierarchy", (
        PartSpec("silhouette-gain", "after training the embedding is clustered at the sample, class and superclass "
                                    "levels, and before training it is not",
                 "silhouette of the 2-D UMAP of raw final-layer train embeddings w.r.t. the level's labels "
                 "(table rows umap_silhouette), last epoch - epoch 0, per training seed",
                 runs=("vicreg",), cells="every level: sample, class, superclass",
                 control="labels permuted across the same UMAP points (permutation seeded by the training seed), "
                         "silhouette after - before, same family test",
                 source="Sec. 4 / Fig. 1: not clustered before training; clustered after at every level"),
    ), notes="Needs the UMAP (umap.npz and its umap_silhouette rows) for >= 3 training seeds; where it is computed "
             "for fewer seeds the part is inconclusive."),
)
