"""The claim catalogue, embedded so that the package never needs ``../shared`` at run time.

A copy of the ID table of ``claims-catalogue.md`` (shared folder beside the paper): ID, paper
reference, the sentence a claim test checks, and what is measured. :func:`parse_catalogue` reads
the markdown table, so a unit test can check that this copy still matches the source.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    paper: str
    statement: str
    measured: str


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        'sample-clusters-first',
        'Sec. 4, Fig. 2 left',
        'Clustering w.r.t. augmentations (sample level) happens mostly early and then plateaus, while clustering w.r.t. semantic classes keeps improving through training.',
        'normalized NCC train accuracy, sample vs class level, over epochs',
    ),
    CatalogueEntry(
        'sample-neural-collapse',
        'Sec. 4',
        'At the end of training the representation shows neural collapse at sample level (NCC train accuracy near 1.0) while class-level clustering is significant (about 0.41 on CIFAR-100 with RES-10-250).',
        'NCC train accuracy at last epoch, both levels',
    ),
    CatalogueEntry(
        'ncc-linear-ratio',
        'Sec. 4, Fig. 2 middle',
        'The ratio NCC test accuracy / linear test accuracy rises during training; at sample level it is >= 0.9 by epoch 100 and then saturates; at class level it keeps growing, to about 0.75.',
        'NCC/linear ratio over epochs, sample and class level',
    ),
    CatalogueEntry(
        'semantic-gains-not-sample',
        'Sec. 6, Fig. 2 right',
        'Normalized linear test accuracy rises substantially during training for classes and superclasses, and far less for sample-level targets.',
        'normalized linear test accuracy over epochs at three levels',
    ),
    CatalogueEntry(
        'regularization-drives-learning',
        'Sec. 4, Fig. 3 left',
        'The invariance loss does not significantly improve during training; the improvement of the total loss, and of semantic linear accuracy, comes from minimizing the regularization loss.',
        'per-epoch invariance and regularization loss terms, linear accuracy',
    ),
    CatalogueEntry(
        'mine-compression',
        'Sec. 4, Fig. 3 middle',
        'Mutual information between input and representation decreases during training (average of 5 MINE seeds).',
        'MINE estimate of I(X;Z) over epochs',
    ),
    CatalogueEntry(
        'ssl-vs-supervised-ncc',
        'Sec. 4, Fig. 3 right',
        "Supervised NCC train accuracy is 1.0, well above SSL's; SSL's NCC test accuracy is slightly higher than supervised-without-augmentation; augmentation lowers supervised NCC train accuracy slightly and raises its NCC test accuracy markedly.",
        'NCC train/test accuracy for SSL, supervised, supervised+AutoAugment',
    ),
    CatalogueEntry(
        'randomness-ordering',
        'Sec. 5, Fig. 4 left and middle',
        'Linear test accuracy falls as target randomness rises, at every epoch and every layer; training improves accuracy on near-semantic targets much more than on highly random ones; deeper layers do better at all randomness levels, with the gap widening toward semantic targets.',
        'linear accuracy over (randomness level x epoch) and (randomness level x layer)',
    ),
    CatalogueEntry(
        'semantic-vs-random-ratios',
        'Sec. 5, Fig. 4 right',
        'The semantic/random ratios of clustering metrics move toward semantic clustering during training (NCC ratio and CDNV ratio improve); the CDNV improvement comes from larger distances between class means, while the within-class variance ratio stays roughly constant.',
        'ratios of NCC, CDNV, average within-class variance, average squared distance between class means',
    ),
    CatalogueEntry(
        'depth-ordering',
        'Sec. 6, Fig. 5',
        'Clustering and linear accuracy improve from earlier to deeper layers, more so as training proceeds; every layer improves during training; for the original classes the final layer is not necessarily the best; the superclass/class accuracy ratio grows with depth.',
        'linear accuracy per (layer x epoch) for class and superclass, their ratio',
    ),
    CatalogueEntry(
        'mu-ablation',
        'App. B.3, Fig. 10',
        'With VICReg, mu=5 gives significantly lower linear accuracy than mu=25; mu=100 matches mu=25 despite a considerably higher invariance loss.',
        'final linear accuracy and loss terms for mu in {5, 25, 100} (lambda=25, nu=1)',
    ),
    CatalogueEntry(
        'simclr-like-vicreg',
        'App. B.4, Fig. 11',
        'SimCLR shows the same layer/epoch clustering behaviour and the same randomness ordering as VICReg, with VICReg consistently somewhat better, including on random targets.',
        'the depth and randomness measurements repeated for SimCLR',
    ),
    CatalogueEntry(
        'cnn-targets-aligned',
        'App. B.5, Fig. 12',
        'The SSL representation aligns better with ResNet-18 random targets than with ViT random targets at every randomness level above 0, at every epoch and layer.',
        'linear accuracy for ResNet-18 vs ViT targets over randomness levels',
    ),
    CatalogueEntry(
        'width-and-depth',
        'App. B.1, Fig. 7',
        'Width strongly helps at all layers and epochs (RES-5-50 < RES-5-250 < RES-5-1000); a deeper net (RES-10-250) helps at later epochs, while the shallower one clusters better in its initial layers.',
        'linear accuracy per layer and epoch across architectures',
    ),
    CatalogueEntry(
        'other-datasets',
        'App. B.2, Figs. 8-9',
        'On CIFAR-10 and Food-101 the same holds: samples cluster by augmentation early, by semantic class through most of training; NCC test accuracy of every intermediate layer improves during training.',
        'the clustering measurements on CIFAR-10 (and Food-101 where available)',
    ),
    CatalogueEntry(
        'umap-hierarchy',
        'Sec. 4, Fig. 1',
        'Before training the embedding is not clustered at any level; after training it clusters samples, classes and superclasses. A figure, plus a number that can be tested (e.g. silhouette or NCC in the UMAP plane before vs after).',
        'UMAP of embeddings at 3 levels, before and after training',
    ),
)

CLAIM_IDS: tuple[str, ...] = tuple(e.id for e in CATALOGUE)
BY_ID: dict[str, CatalogueEntry] = {e.id: e for e in CATALOGUE}

#: Claims about one method's own ablation, by that method (their sentences name it: "With VICReg, mu=5 ...",
#: "SimCLR shows ... with VICReg consistently somewhat better"). In the generality matrix (``sslre reproduce
#: --methods``) they are decided in that method's column only; every other claim is method-generic.
CLAIM_METHOD: dict[str, str] = {"mu-ablation": "vicreg", "simclr-like-vicreg": "vicreg"}

_ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|([^|]*)\|([^|]*)\|([^|]*)\|\s*$")


def parse_catalogue(markdown: str) -> tuple[CatalogueEntry, ...]:
    """Entries of the ID table in the catalogue's markdown (rows ``| `id` | paper | claim | measured |``)."""
    entries = []
    for line in markdown.splitlines():
        m = _ROW.match(line)
        if m:
            entries.append(CatalogueEntry(m.group(1), m.group(2).strip(), m.group(3).strip(), m.group(4).strip()))
    if not entries:
        raise ValueError("no claim rows (| `id` | paper | claim | measured |) found in the catalogue text")
    return tuple(entries)


def entry(claim_id: str) -> CatalogueEntry:
    """The catalogue entry for ``claim_id``; an unknown ID raises ``KeyError`` listing the known ones."""
    try:
        return BY_ID[claim_id]
    except KeyError:
        raise KeyError(f"claim id {claim_id!r} is not in the catalogue; known ids: {', '.join(CLAIM_IDS)}") from None
