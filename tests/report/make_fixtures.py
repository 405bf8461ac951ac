"""Regenerate ``fixtures/reproduction-quick.json`` and ``fixtures/reproduction-partial.json``.

These are *test data for the report renderer*, hand-shaped to look like a quick-profile session
(numbers drawn from a seeded RNG around plausible trends). They are never results: both files carry
``"fixture": true`` and the renderer prints a FIXTURE banner for them.

    python tests/report/make_fixtures.py
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = [0, 1, 2, 4, 10]
PAPER_EPOCHS = [0, 20, 40, 100, 400, 1000]
rng = np.random.default_rng(20231125)


def r(x, n=4):
    return [round(float(v), n) for v in x]


def noisy(values, scale=0.01):
    return r(np.asarray(values, dtype=float) + rng.normal(0, scale, len(values)))


def ckpts(run, epochs=EPOCHS):
    return [f"runs/quick/{run}/checkpoints/epoch_{e:04d}.pt" for e in epochs]


def claim(cid, ref, statement, verdict, reason, stat, thr, paper_value, protocol, figures, control,
          seeds=(0, 1), run="vicreg-RES-3-32-mu25-s0", nodeid_file="test_sec4_clustering.py", duration=2.0):
    return {
        "id": cid, "paper_ref": ref, "statement": statement, "profile": "quick", "dataset": "synthetic",
        "verdict": verdict, "reason": reason, "statistic": stat, "threshold": thr, "paper_value": paper_value,
        "seeds": list(seeds),
        "checkpoints": [c for s in seeds for c in ckpts(run.replace("-s0", f"-s{s}"))] if verdict != "not run" else [],
        "protocol": protocol, "figures": figures, "control": control, "duration_s": duration,
        "nodeid": f"claims/{nodeid_file}::test_{cid.replace('-', '_')}[quick]",
    }


def line(fid, title, xl, yl, series, paper=None):
    f = {"id": fid, "title": title, "kind": "line", "x_label": xl, "y_label": yl, "series": series}
    if paper:
        f["paper"] = paper
    return f


def s(label, y, x=EPOCHS, err=None):
    out = {"label": label, "x": list(x), "y": r(y)}
    if err is not None:
        out["yerr"] = r(err)
    return out


def umap_panels():
    series = []
    for level, k in (("sample", 5), ("class", 5), ("superclass", 2)):
        for panel in ("before", "after"):
            n = 150
            c = rng.integers(0, k, n)
            if panel == "before":
                xy = rng.normal(0, 1.0, (n, 2))
            else:
                centres = np.stack([np.cos(np.arange(k) * 2 * math.pi / k), np.sin(np.arange(k) * 2 * math.pi / k)], 1) * 4
                xy = centres[c] + rng.normal(0, 0.7, (n, 2))
            series.append({"label": level, "panel": panel, "x": r(xy[:, 0], 3), "y": r(xy[:, 1], 3),
                           "c": [int(v) for v in c]})
    return series


def quick():
    E = np.asarray(EPOCHS, float)
    ctrl_perm = "class labels replaced by a random permutation"
    ctrl_untrained = "network never trained (epoch-0 weights at every checkpoint)"
    claims = [
        claim("sample-clusters-first", "Sec. 4, Fig. 2 left",
              "Clustering w.r.t. augmentations (sample level) happens mostly early and then plateaus, while "
              "clustering w.r.t. semantic classes keeps improving through training.",
              "supported", "class-level NCC gain over the second half exceeds the sample-level gain by 5x the seed noise.",
              {"name": "late-gain(class) - late-gain(sample)", "value": 0.21, "noise": 0.04},
              {"op": ">", "value": 0.0, "source": "Sec. 4: 'continues to improve ... then plateaus'"},
              "class NCC train acc 0.41 (RES-10-250, CIFAR-100)",
              "NCC train accuracy, raw features, final layer, eval mode; sample level: 500 images x 100 augmentations.",
              [line("fig2-left", "normalized NCC train accuracy", "epoch", "NCC train acc / value at init",
                    [s("sample", 1 + 1.6 * (1 - np.exp(-E)), err=[0, .08, .07, .06, .06]),
                     s("class", 1 + 0.12 * E, err=[0, .05, .05, .06, .07])],
                    [{"label": "paper, sample", "x": PAPER_EPOCHS, "y": [1, 9.1, 9.6, 9.9, 10.0, 10.0]},
                     {"label": "paper, class", "x": PAPER_EPOCHS, "y": [1, 1.8, 2.1, 2.6, 3.0, 3.2]}])],
              {"description": ctrl_perm, "verdict": "inconclusive",
               "statistic": {"name": "late-gain(perm) - late-gain(sample)", "value": 0.01, "noise": 0.04}}),
        claim("sample-neural-collapse", "Sec. 4",
              "At the end of training the representation shows neural collapse at sample level (NCC train accuracy "
              "near 1.0) while class-level clustering is significant (about 0.41 on CIFAR-100 with RES-10-250).",
              "supported", "sample-level NCC train accuracy 0.97 >= 0.9 and class level 0.52 above chance (0.1) by 8x noise.",
              {"name": "NCC train acc (sample, last epoch)", "value": 0.97, "noise": 0.01},
              {"op": ">=", "value": 0.9, "source": "Sec. 4: 'neural collapse at sample level'"},
              "1.0 (sample), 0.41 (class)", "NCC train accuracy at the last checkpoint, raw features, final layer.",
              [], {"description": ctrl_untrained, "verdict": "refuted",
                   "statistic": {"name": "NCC train acc (sample, untrained)", "value": 0.31, "noise": 0.02}}),
        claim("ncc-linear-ratio", "Sec. 4, Fig. 2 middle",
              "The ratio NCC test accuracy / linear test accuracy rises during training; at sample level it is >= 0.9 "
              "by epoch 100 and then saturates; at class level it keeps growing, to about 0.75.",
              "inconclusive", "class-level ratio rises by 0.03, within seed noise (0.05) at the quick profile.",
              {"name": "ratio(class, last) - ratio(class, first)", "value": 0.03, "noise": 0.05},
              {"op": ">", "value": 0.0, "source": "Sec. 4: 'keeps growing, to about 0.75'"}, "0.75 (class), >= 0.9 (sample)",
              "NCC test / linear test accuracy (linear: LinearSVC-equivalent probe), final layer.",
              [line("fig2-middle", "NCC / linear test accuracy ratio", "epoch", "NCC test / linear test",
                    [s("sample", [0.6, 0.85, 0.9, 0.92, 0.93], err=[.03] * 5), s("class", [0.55, 0.56, 0.6, 0.58, 0.58], err=[.05] * 5)])],
              {"description": ctrl_perm, "verdict": "inconclusive", "statistic": {"name": "ratio gain (perm)", "value": -0.01, "noise": 0.05}}),
        claim("semantic-gains-not-sample", "Sec. 6, Fig. 2 right",
              "Normalized linear test accuracy rises substantially during training for classes and superclasses, and "
              "far less for sample-level targets.",
              "supported", "normalized class gain 1.9 vs sample gain 1.2; difference 0.7 > 3x noise.",
              {"name": "norm. gain(class) - norm. gain(sample)", "value": 0.7, "noise": 0.12},
              {"op": ">", "value": 0.0, "source": "Sec. 6: 'far less for sample-level targets'"}, None,
              "linear test accuracy (probe on frozen features), normalized by the epoch-0 value.",
              [line("fig2-right", "normalized linear test accuracy", "epoch", "linear test acc / value at init",
                    [s("sample", [1, 1.1, 1.15, 1.18, 1.2], err=[0, .04, .04, .05, .05]),
                     s("class", [1, 1.3, 1.5, 1.7, 1.9], err=[0, .06, .06, .07, .08]),
                     s("superclass", [1, 1.2, 1.3, 1.4, 1.45], err=[0, .03, .04, .04, .05])])],
              {"description": ctrl_perm, "verdict": "inconclusive"}, seeds=(0, 1, 2)),
        claim("regularization-drives-learning", "Sec. 4, Fig. 3 left",
              "The invariance loss does not significantly improve during training; the improvement of the total loss, "
              "and of semantic linear accuracy, comes from minimizing the regularization loss.",
              "supported", "regularization loss falls by 62% of the total-loss drop vs invariance by 3%.",
              {"name": "share of total-loss drop from regularization", "value": 0.94, "noise": 0.03},
              {"op": ">", "value": 0.5, "source": "Sec. 4: 'comes from minimizing the regularization loss'"}, None,
              "per-epoch VICReg loss terms from history.jsonl (lambda=25, mu=25, nu=1); linear test accuracy at checkpoints.",
              [line("fig3-left", "regularization and invariance losses, linear accuracy", "epoch", "loss / accuracy",
                    [s("invariance loss", noisy([2.1, 2.0, 2.05, 2.0, 1.98])), s("regularization loss", [24, 14, 11, 9, 8]),
                     s("linear test acc (x10)", [2.0, 2.8, 3.2, 3.6, 3.9])])],
              {"description": ctrl_untrained, "verdict": "inconclusive"}),
        claim("mine-compression", "Sec. 4, Fig. 3 middle",
              "Mutual information between input and representation decreases during training (average of 5 MINE seeds).",
              "inconclusive", "MI falls by 0.3 nats, but the spread over 5 MINE seeds is 0.4 nats.",
              {"name": "I(X;Z) last - first (nats)", "value": -0.3, "noise": 0.4},
              {"op": "<", "value": 0.0, "source": "Sec. 4: 'compression of the mutual information'"}, None,
              "MINE (5 seeds), shuffled-pairs null, final-layer features of 2000 train images.",
              [line("fig3-middle", "mutual information I(X;Z)", "epoch", "MINE estimate (nats)",
                    [s("I(X;Z), mean of 5 MINE seeds", [6.1, 6.0, 5.9, 5.85, 5.8], err=[.4] * 5),
                     s("shuffled-pairs null", [0.05, 0.03, 0.06, 0.04, 0.05], err=[.03] * 5)])],
              {"description": "shuffled (x, z) pairs", "verdict": "inconclusive",
               "statistic": {"name": "I null last - first", "value": 0.0, "noise": 0.05}}, seeds=(0, 1, 2, 3, 4), duration=41.0),
        claim("ssl-vs-supervised-ncc", "Sec. 4, Fig. 3 right",
              "Supervised NCC train accuracy is 1.0, well above SSL's; SSL's NCC test accuracy is slightly higher than "
              "supervised-without-augmentation; augmentation lowers supervised NCC train accuracy slightly and raises "
              "its NCC test accuracy markedly.",
              "refuted", "SSL NCC test accuracy is 0.08 below supervised-without-augmentation, 4x the noise.",
              {"name": "NCC test(SSL) - NCC test(supervised)", "value": -0.08, "noise": 0.02},
              {"op": ">", "value": 0.0, "source": "Sec. 4: 'slightly higher than supervised without augmentation'"},
              "SSL 0.41/0.31; supervised 1.0/0.28; supervised+AA 0.97/0.45 (train/test)",
              "NCC train and test accuracy, final layer; supervised runs with and without AutoAugment.",
              [{"id": "fig3-right", "title": "NCC train and test accuracy", "kind": "bar", "x_label": "model",
                "y_label": "NCC accuracy",
                "series": [{"label": "NCC train", "x": ["SSL", "supervised", "supervised + AA"], "y": [0.55, 1.0, 0.93], "yerr": [.02, 0, .01]},
                           {"label": "NCC test", "x": ["SSL", "supervised", "supervised + AA"], "y": [0.36, 0.44, 0.52], "yerr": [.02, .02, .02]}],
                "paper": [{"label": "paper, NCC test", "x": ["SSL", "supervised", "supervised + AA"], "y": [0.31, 0.28, 0.45]}]}],
              {"description": ctrl_perm, "verdict": "inconclusive"}, run="supervised-RES-3-32-s0"),
        claim("randomness-ordering", "Sec. 5, Fig. 4 left and middle",
              "Linear test accuracy falls as target randomness rises, at every epoch and every layer; training improves "
              "accuracy on near-semantic targets much more than on highly random ones; deeper layers do better at all "
              "randomness levels, with the gap widening toward semantic targets.",
              "supported", "Spearman correlation of accuracy with randomness is -0.96 at every epoch/layer (noise 0.03).",
              {"name": "max Spearman rho(acc, randomness)", "value": -0.96, "noise": 0.03},
              {"op": "<", "value": 0.0, "source": "Sec. 5: 'falls as target randomness rises'"}, None,
              "linear test accuracy for ResNet-18 random targets at randomness 0, .25, .5, .75, 1; all layers and checkpoints.",
              [line("fig4-left", "linear accuracy vs randomness, by epoch", "randomness level", "linear test acc",
                    [s(f"epoch {e}", [0.3 + 0.05 * k - 0.25 * t * (0.5 + 0.1 * k) for t in (0, .25, .5, .75, 1)],
                       x=[0, .25, .5, .75, 1]) for k, e in enumerate(EPOCHS)]),
               line("fig4-middle", "linear accuracy vs randomness, by layer", "randomness level", "linear test acc",
                    [s(f"layer {l}", [0.25 + 0.06 * l - 0.2 * t * (0.5 + 0.15 * l) for t in (0, .25, .5, .75, 1)],
                       x=[0, .25, .5, .75, 1]) for l in range(4)])],
              {"description": "targets from an untrained classifier at every level", "verdict": "inconclusive"},
              nodeid_file="test_sec5_random.py"),
        claim("semantic-vs-random-ratios", "Sec. 5, Fig. 4 right",
              "The semantic/random ratios of clustering metrics move toward semantic clustering during training (NCC "
              "ratio and CDNV ratio improve); the CDNV improvement comes from larger distances between class means, "
              "while the within-class variance ratio stays roughly constant.",
              "inconclusive", "NCC ratio improves beyond noise but the within-variance ratio drifts by 2x noise.",
              {"name": "within-var ratio drift", "value": 0.11, "noise": 0.06},
              {"op": "<", "value": 0.05, "source": "Sec. 5: 'stays roughly constant'"}, None,
              "NCC, CDNV, mean within-class variance and mean squared distance between class means; semantic / randomness-1 targets.",
              [line("fig4-right", "semantic / random ratios of clustering metrics", "epoch", "ratio",
                    [s("NCC acc", [1.1, 1.5, 1.8, 2.0, 2.2]), s("CDNV", [0.95, 0.8, 0.7, 0.6, 0.55]),
                     s("within-class var", [1.0, 1.05, 1.08, 1.1, 1.11]), s("mean dist^2", [1.05, 1.3, 1.5, 1.7, 1.9])])],
              {"description": ctrl_perm, "verdict": "inconclusive"}, nodeid_file="test_sec5_random.py"),
        claim("depth-ordering", "Sec. 6, Fig. 5",
              "Clustering and linear accuracy improve from earlier to deeper layers, more so as training proceeds; every "
              "layer improves during training; for the original classes the final layer is not necessarily the best; "
              "the superclass/class accuracy ratio grows with depth.",
              "supported", "accuracy increases with depth at every checkpoint after init (min slope 0.03, noise 0.01).",
              {"name": "min over epochs of depth slope", "value": 0.03, "noise": 0.01},
              {"op": ">", "value": 0.0, "source": "Sec. 6: 'improve from earlier to deeper layers'"}, None,
              "linear test accuracy per layer (stem, blocks 1-3) and checkpoint, classes and superclasses.",
              [line(f"fig5-{part}", t, "layer", yl,
                    [s(f"epoch {e}", [b + k * g * l for l in range(4)], x=[0, 1, 2, 3]) for k, e in enumerate(EPOCHS)])
               for part, t, yl, b, g in (("left", "linear accuracy per layer, classes", "linear test acc", 0.2, 0.012),
                                         ("middle", "linear accuracy per layer, superclasses", "linear test acc", 0.6, 0.01),
                                         ("right", "superclass / class accuracy ratio", "ratio", 2.5, -0.02))],
              {"description": ctrl_untrained, "verdict": "inconclusive"}, nodeid_file="test_sec6_layers.py"),
        claim("mu-ablation", "App. B.3, Fig. 10",
              "With VICReg, mu=5 gives significantly lower linear accuracy than mu=25; mu=100 matches mu=25 despite a "
              "considerably higher invariance loss.",
              "refuted", "mu=100 is 0.06 below mu=25, 3x the seed noise, so it does not match.",
              {"name": "acc(mu=100) - acc(mu=25)", "value": -0.06, "noise": 0.02},
              {"op": ">=", "value": -0.02, "source": "App. B.3: 'mu=100 matches mu=25'"}, None,
              "final linear test accuracy and loss terms for mu in {5, 25, 100}, lambda=25, nu=1.",
              [{"id": "fig10", "title": "linear accuracy by VICReg mu", "kind": "bar", "x_label": "mu",
                "y_label": "final linear test acc",
                "series": [{"label": "ours", "x": [5, 25, 100], "y": [0.31, 0.42, 0.36], "yerr": [.02, .02, .02]}]}],
              {"description": ctrl_perm, "verdict": "inconclusive"}, run="vicreg-RES-3-32-mu5-s0",
              nodeid_file="test_appb_ablations.py"),
        claim("simclr-like-vicreg", "App. B.4, Fig. 11",
              "SimCLR shows the same layer/epoch clustering behaviour and the same randomness ordering as VICReg, with "
              "VICReg consistently somewhat better, including on random targets.",
              "inconclusive", "same orderings; VICReg minus SimCLR is +0.01, within noise 0.02.",
              {"name": "acc(VICReg) - acc(SimCLR)", "value": 0.01, "noise": 0.02},
              {"op": ">", "value": 0.0, "source": "App. B.4: 'VICReg consistently somewhat better'"}, None,
              "the depth and randomness measurements repeated for SimCLR (temperature 0.5).",
              [line("fig11", "SimCLR vs VICReg, linear accuracy per layer", "layer", "linear test acc",
                    [s("VICReg", [0.2, 0.26, 0.31, 0.35], x=[0, 1, 2, 3], err=[.02] * 4),
                     s("SimCLR", [0.2, 0.25, 0.3, 0.34], x=[0, 1, 2, 3], err=[.02] * 4)])],
              {"description": ctrl_perm, "verdict": "inconclusive"}, run="simclr-RES-3-32-s0", nodeid_file="test_appb_ablations.py"),
        {"id": "cnn-targets-aligned", "paper_ref": "App. B.5, Fig. 12",
         "statement": "The SSL representation aligns better with ResNet-18 random targets than with ViT random targets at "
                      "every randomness level above 0, at every epoch and layer.",
         "profile": "quick", "dataset": "synthetic", "verdict": "not run",
         "reason": "not selected in this session (needs the ViT target generator run).",
         "statistic": None, "threshold": None, "paper_value": None, "seeds": [], "checkpoints": [],
         "protocol": None, "figures": [], "control": None, "duration_s": None, "nodeid": None},
        {**claim("width-and-depth", "App. B.1, Fig. 7",
                 "Width strongly helps at all layers and epochs (RES-5-50 < RES-5-250 < RES-5-1000); a deeper net "
                 "(RES-10-250) helps at later epochs, while the shallower one clusters better in its initial layers.",
                 "error", "CheckpointError: runs/quick/vicreg-RES-3-64-mu25-s0/checkpoints/epoch_0010.pt is truncated.",
                 None, {"op": ">", "value": 0.0, "source": "App. B.1: 'width strongly helps'"}, None,
                 "linear accuracy per layer and epoch across RES-3-16, RES-3-32, RES-3-64, RES-6-32.", [], None,
                 nodeid_file="test_appb_ablations.py"), "figures": None},
        claim("other-datasets", "App. B.2, Figs. 8-9",
              "On CIFAR-10 and Food-101 the same holds: samples cluster by augmentation early, by semantic class through "
              "most of training; NCC test accuracy of every intermediate layer improves during training.",
              "supported", "every layer's NCC test accuracy improves (min gain 0.05, noise 0.01) on cifar10-jpeg.",
              {"name": "min over layers of NCC test gain", "value": 0.05, "noise": 0.01},
              {"op": ">", "value": 0.0, "source": "App. B.2: 'improves during training'"}, None,
              "NCC test accuracy per layer and checkpoint on cifar10-jpeg (2000 train images).",
              [line("fig8-bottom", "NCC test accuracy per layer (CIFAR-10)", "epoch", "NCC test acc",
                    [s(f"layer {l}", [0.2 + 0.02 * l + 0.01 * (l + 1) * e for e in EPOCHS]) for l in range(4)])],
              {"description": ctrl_perm, "verdict": "inconclusive"}, run="vicreg-RES-3-32-cifar10-s0",
              nodeid_file="test_appb_ablations.py"),
        claim("umap-hierarchy", "Sec. 4, Fig. 1",
              "Before training the embedding is not clustered at any level; after training it clusters samples, classes "
              "and superclasses.",
              "supported", "silhouette in the UMAP plane rises at all three levels (min rise 0.31, noise 0.05).",
              {"name": "min over levels of silhouette(after) - silhouette(before)", "value": 0.31, "noise": 0.05},
              {"op": ">", "value": 0.0, "source": "Sec. 4, Fig. 1: 'not clustered ... clusters after training'"}, None,
              "UMAP (n_neighbors=15, min_dist=0.1, seed 0) of final-layer embeddings; 5 samples x 30 augmentations, 5 classes, superclasses.",
              [{"id": "fig1", "title": "UMAP of the representation before and after training", "kind": "scatter",
                "x_label": "UMAP 1", "y_label": "UMAP 2", "series": umap_panels()}],
              {"description": ctrl_untrained, "verdict": "inconclusive"}, seeds=(0,)),
    ]
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("supported", "refuted", "inconclusive", "not run", "error")}
    runs = {}
    for name, method, arch, ds in (("vicreg-RES-3-32-mu25", "vicreg", "RES-3-32", "synthetic"),
                                   ("vicreg-RES-3-32-mu5", "vicreg", "RES-3-32", "synthetic"),
                                   ("simclr-RES-3-32", "simclr", "RES-3-32", "synthetic"),
                                   ("supervised-RES-3-32", "supervised", "RES-3-32", "synthetic"),
                                   ("vicreg-RES-3-32-cifar10", "vicreg", "RES-3-32", "cifar10-jpeg")):
        for seed in (0, 1):
            runs[f"{name}-s{seed}"] = {"method": method, "arch": arch, "dataset": ds, "seed": seed, "epochs": 10,
                                       "train_images": 2000, "run_dir": f"runs/quick/{name}-s{seed}"}
    return {
        "schema_version": 1,
        "fixture": True,
        "fixture_note": "hand-made test data for sslre.report (tests/report/make_fixtures.py); not a result",
        "generated_at": "2026-11-25T12:00:00Z", "profile": "quick", "dataset": "synthetic",
        "command": "FIXTURE (no run): python tests/report/make_fixtures.py",
        "environment": {"python": "3.11.7", "torch": "2.14.1", "torchvision": "0.29.1", "lightly": "1.6.0",
                        "sklearn": "1.9.1", "sslre": "0.1.0", "numpy": "2.1.3", "platform": "Linux-6.1-x86_64",
                        "hardware": {"cpu": "fixture CPU", "cores": 2, "memory_gb": 23.4, "gpu": None},
                        "git_sha": "0000000fixture", "git_dirty": False, "wall_time_s": 812.4},
        "runs": runs, "summary": counts, "claims": claims,
    }


def partial():
    """An 'older' file: no schema_version, sparse environment, no runs, odd and missing keys."""
    return {
        "fixture": True,
        "generated_at": "2026-10-01T09:00:00Z",
        "profile": "quick",
        "environment": {"python": "3.11.2", "hardware": None, "some_future_key": {"x": 1}},
        "summary": {"supported": 1, "refuted": 0, "inconclusive": 0, "not run": 1},
        "claims": [
            {"id": "sample-clusters-first", "verdict": "supported",
             "statistic": {"name": "late-gain(class) - late-gain(sample)", "value": 0.2},
             "figures": [{"id": "fig2-left", "title": "normalized NCC train accuracy", "kind": "line",
                          "series": [{"label": "sample", "x": [0, 1, 2], "y": [1.0, 1.5, 1.6]}]}],
             "unknown_future_field": [1, 2, 3]},
            {"id": "mine-compression", "verdict": "not_run", "statistic": None, "threshold": None},
            {"id": "ncc-linear-ratio", "paper_ref": "Sec. 4, Fig. 2 middle",
             "figures": [{"id": "fig2-middle", "kind": "line",
                          "series": [{"label": "class", "x": [0, 1, 2], "y": [0.5, 0.6]}]},
                         {"id": "fig2-extra", "kind": "heatmap", "series": []}],
             "control": {"description": "class labels permuted"}},
        ],
    }


def _write(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


if __name__ == "__main__":
    (ROOT / "fixtures").mkdir(exist_ok=True)
    _write(ROOT / "fixtures" / "reproduction-quick.json", quick())
    _write(ROOT / "fixtures" / "reproduction-partial.json", partial())
    print("wrote fixtures/reproduction-quick.json and fixtures/reproduction-partial.json")
