"""Runs made from someone else's checkpoints: import them, then measure them like sslre's own runs.

:func:`import_run` (``sslre import-run``) turns a set of checkpoint files of one training run into a run folder::

    RUN/import.json                  the manifest (MANIFEST_FORMAT): backbone spec, layer taps, method label, seed,
                                     the data config (Config.to_dict(): dataset, hierarchy, image_size, subsets),
                                     and per epoch the source file and its sha256
    RUN/checkpoints/epoch_NNNN.pt    a symbolic link to each source file (the files are not copied)

The checkpoints keep their own format; :func:`import_loader` is the ``checkpoint_path -> backbone`` loader that
:func:`sslre.measure.measure_run` and :class:`sslre.features.FeatureCache` take: it checks the file's sha256
against the manifest, builds the backbone, loads the weights and returns a module whose ``forward_layers(x)`` gives
one pooled ``(B, C)`` tensor per tap. sslre's own runs are measured exactly as before.

Epochs: the last integer in a file's name (``epoch_3.pt``, ``ckpt-epoch=0010.ckpt``, ``model_12_final.pth`` -> 3,
10, 12); two files of one epoch, or a name without a number, are an error.

Backbones (``--backbone``): ``torchvision:NAME`` (``torchvision.models.get_model(NAME, weights=None)``, e.g.
``torchvision:resnet18``) or ``package.module:factory`` (a callable returning the backbone ``nn.Module``,
importable from ``sys.path``).

Layer taps (``--layers``): node names of ``torchvision.models.feature_extraction.create_feature_extractor``
(``get_graph_node_names`` lists them; for a ResNet ``layer1``..``layer4``, ``avgpool``). Each tap is pooled to
``(B, C)``: ``(B, C, H, W)`` by a global average over H and W (as sslre's own ``forward_layers``), ``(B, T, C)``
token maps by the mean over tokens, ``(B, C)`` as it is. Table layer ``i`` is the ``i``-th tap; the last tap is
the "last layer" of the claims.

Checkpoint files are loaded with ``torch.load(weights_only=True)`` (never executing code from them) and may hold:
a plain ``state_dict``; a dict with a ``state_dict`` or ``model`` entry holding one (PyTorch Lightning, solo-learn,
many training scripts); keys with a prefix, found automatically among ``backbone.``, ``model.backbone.``,
``encoder.``, ``model.``, ``module.`` (DDP), ``_orig_mod.`` (torch.compile) and none: the prefix that matches the
backbone's keys best wins and keys outside it (projector, predictor, momentum copies) are ignored. Every weight of
the backbone must be found, except those of its classification head (``fc.``, ``head.``, ``heads.``,
``classifier.``), which self-supervised backbones usually drop (a head of another size is not loaded either).
Anything else is a one-line
:class:`sslre.checkpoint.CheckpointError`.
"""
from __future__ import annotations

import glob
import importlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from sslre import io
from sslre.checkpoint import CheckpointError, checkpoint_path, list_checkpoints
from sslre.config import Config, ConfigError, absolute_data_paths

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "import_run", "import_loader", "imported_run_info", "measure_imported",
           "epoch_of", "build_backbone_spec", "backbone_state_dict", "TapBackbone", "claims_without_runs"]

MANIFEST = "import.json"
MANIFEST_FORMAT = "sslre-import/1"
_PREFIXES = ("backbone.", "model.backbone.", "encoder.", "model.", "module.", "_orig_mod.", "")
_HEAD_PREFIXES = ("fc.", "head.", "heads.", "classifier.")
_DEFAULT_NAME = "vicreg"  # = sslre.profiles.Run.MAIN: the claims about "the" SSL run read it


def epoch_of(path: str | os.PathLike) -> int:
    """The epoch of a checkpoint file: the last integer in its name.

    >>> epoch_of("runs/ckpt-epoch=0010.ckpt"), epoch_of("epoch_3.pt")
    (10, 3)
    """
    numbers = re.findall(r"\d+", Path(path).name)
    if not numbers:
        raise ConfigError(f"checkpoint {str(path)!r}: no epoch number in its name (the last integer in the name "
                          "is the epoch, e.g. epoch_3.pt)")
    return int(numbers[-1])


def build_backbone_spec(spec: str) -> nn.Module:
    """The untrained backbone of ``spec``: ``torchvision:NAME`` or ``package.module:factory``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"backbone {spec!r} is not torchvision:NAME (e.g. torchvision:resnet18) or "
                          "package.module:factory")
    where, name = spec.split(":", 1)
    if where == "torchvision":
        import torchvision

        try:
            return torchvision.models.get_model(name, weights=None)
        except ValueError:
            raise ConfigError(f"backbone {spec!r}: torchvision has no model {name!r} (e.g. resnet18, resnet50, "
                              "vit_b_16; torchvision.models.list_models() lists them)") from None
    try:
        factory = getattr(importlib.import_module(where), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"backbone {spec!r}: cannot import {name!r} from module {where!r} ({e})") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"backbone {spec!r}: {name}() returned a {type(model).__name__}, not a torch nn.Module")
    return model


def _pool(t: Tensor, tap: str) -> Tensor:
    """A tap's output pooled to ``(B, C)``: (B, C, H, W) averaged over H, W; (B, T, C) over tokens; (B, C) kept."""
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:
        return t.mean(dim=1)
    if t.ndim == 2:
        return t
    raise CheckpointError(f"layer tap {tap!r} gives shape {tuple(t.shape)}; a tap must give (B, C), (B, T, C) or "
                          "(B, C, H, W)")


class TapBackbone(nn.Module):
    """A backbone seen through layer taps: ``forward_layers(x)`` -> one pooled ``(B, C_l)`` per tap, in tap order.

    ``x``: ``(B, 3, H, W)`` normalized images (what :func:`sslre.features.extract_layer_features` passes).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

        self.layers = tuple(layers)
        model.eval()
        nodes = get_graph_node_names(model)[1]
        # A tap is a node or a module (its last node), as create_feature_extractor reads return_nodes.
        unknown = [tap for tap in self.layers if tap not in nodes and not any(n.startswith(tap + ".") for n in nodes)]
        if unknown:
            tops = ", ".join(dict.fromkeys(n.split(".")[0] for n in nodes))[:300]
            raise ConfigError(f"layer tap {unknown[0]!r} is not a node or module of the backbone; its top-level "
                              f"nodes: {tops} (torchvision.models.feature_extraction.get_graph_node_names lists all)")
        self.extractor = create_feature_extractor(model, return_nodes={tap: tap for tap in self.layers})

    def forward_layers(self, x: Tensor) -> list[Tensor]:
        out = self.extractor(x)
        return [_pool(out[tap], tap) for tap in self.layers]


def _read_weights(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one line naming it
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded as weights ({first}); if it holds Python objects beyond "
            "tensors (e.g. Lightning hyper-parameters), save its state dict alone: "
            "torch.save(torch.load(F, weights_only=False)['state_dict'], 'epoch_N.pt')") from None


def backbone_state_dict(raw: Any, model: nn.Module, where: str = "checkpoint") -> dict[str, Tensor]:
    """The weights of ``model`` inside a loaded checkpoint ``raw`` (accepted forms: module docstring)."""
    sd = raw
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not any(isinstance(v, Tensor) for v in sd.values()):
        what = f"a dict with keys {sorted(map(str, sd))[:6]}" if isinstance(sd, dict) else f"a {type(sd).__name__}"
        raise CheckpointError(f"{where} holds {what}, not a state dict (a dict of tensors, or one under "
                              "'state_dict' or 'model')")
    want = model.state_dict()
    best, found = "", {}
    for prefix in _PREFIXES:
        got = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix) and k[len(prefix):] in want}
        if len(got) > len(found):
            best, found = prefix, got
    missing = [k for k in want if k not in found and not k.startswith(_HEAD_PREFIXES)]
    if not found or missing:
        raise CheckpointError(f"{where}: the backbone's weights are not in it (best prefix {best!r} matches "
                              f"{len(found)} of {len(want)} keys; missing e.g. {missing[:3]}; its keys start "
                              f"{sorted(sd)[:3]})")
    tops = {k.split(".")[0] for k in want}
    extra = [k[len(best):] for k in sd if k.startswith(best) and k[len(best):] not in want
             and k[len(best):].split(".")[0] in tops and not k[len(best):].startswith(_HEAD_PREFIXES)]
    if extra:
        raise CheckpointError(f"{where}: weight {best + extra[0]!r} belongs to no module of the backbone "
                              f"({len(extra)} such; another architecture, e.g. a deeper net?)")
    # A classification head of another size (10 classes, not ImageNet's 1000) is left at its initialization.
    found = {k: v for k, v in found.items() if not k.startswith(_HEAD_PREFIXES) or v.shape == want[k].shape}
    bad = [k for k, v in found.items() if tuple(v.shape) != tuple(want[k].shape)]
    if bad:
        raise CheckpointError(f"{where}: weight {best + bad[0]!r} has shape {tuple(found[bad[0]].shape)}, the "
                              f"backbone's is {tuple(want[bad[0]].shape)} (another architecture?)")
    return found



def _load_tapped(path: Path, backbone: str, layers: Sequence[str]) -> TapBackbone:
    model = build_backbone_spec(backbone)
    model.load_state_dict(backbone_state_dict(_read_weights(path), model, f"checkpoint {str(path)!r}"), strict=False)
    return TapBackbone(model, layers)


def import_run(checkpoints: str | Iterable[str | os.PathLike], backbone: str, layers: Sequence[str], dataset: str,
               run_dir: str | os.PathLike, *, method: str = "imported", seed: int = 0,
               profile: str = "quick", **data: Any) -> Path:
    """Make ``run_dir`` from the checkpoint files of one training run (layout in the module docstring).

    Args:
        checkpoints: a glob pattern (``"DIR/epoch_*.pt"``) or the files.
        backbone: ``torchvision:NAME`` or ``package.module:factory``.
        layers: the taps, shallow to deep.
        dataset: what the run is measured on (``imagefolder:<path>``, ``cifar10``, ...).
        method: the label of the table's ``method`` column.
        seed: the training seed of these checkpoints (import each seed into its own folder, ``NAME-s<seed>``).
        profile: whose measurement sizes apply by default.
        data: other data fields of :class:`sslre.config.Config` (``hierarchy``, ``image_size``, ``data_root``,
            ``train_subset``, ``test_subset``).

    Every checkpoint is loaded once and the taps run on one image, so a bad file, key or tap fails here.
    Returns ``run_dir``.
    """
    files = sorted(glob.glob(os.path.expanduser(checkpoints))) if isinstance(checkpoints, str) else list(checkpoints)
    if not files:
        raise CheckpointError(f"no checkpoint file matches {checkpoints!r}")
    layers = tuple(t.strip() for t in layers if t.strip())
    if not layers:
        raise ConfigError("--layers needs at least one layer tap, e.g. layer1,layer2,layer3,layer4")
    allowed = {"hierarchy", "image_size", "data_root", "train_subset", "test_subset"}
    if set(data) - allowed:
        raise ConfigError(f"import_run: unknown data field(s) {sorted(set(data) - allowed)}; allowed: {sorted(allowed)}")
    config = Config(profile=profile, seed=seed, **absolute_data_paths({"dataset": dataset, **data}))
    by_epoch: dict[int, Path] = {}
    for f in map(Path, files):
        e = epoch_of(f)
        if e in by_epoch:
            raise ConfigError(f"checkpoints {by_epoch[e].name!r} and {f.name!r} both have epoch {e} (the last "
                              "integer in the name)")
        by_epoch[e] = f.expanduser().resolve()
    probe = torch.zeros(1, 3, config.image_size, config.image_size)
    for e, f in sorted(by_epoch.items()):
        tapped = _load_tapped(f, backbone, layers)
        with torch.inference_mode():
            tapped.forward_layers(probe)
    run = Path(run_dir)
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    for old in list_checkpoints(run).values():
        old.unlink()
    for e, f in by_epoch.items():
        checkpoint_path(run, e).symlink_to(f)
    manifest = {"format": MANIFEST_FORMAT, "backbone": backbone, "layers": list(layers), "method": method,
                "seed": int(seed), "config": config.to_dict(),
                "epochs": {str(e): {"source": str(f), "sha256": io.file_sha256(f)} for e, f in sorted(by_epoch.items())}}
    io.write_json(manifest, run / MANIFEST, indent=1)
    return run


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of an imported run; :class:`CheckpointError` if ``run_dir`` is not one."""
    path = Path(run_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{str(run_dir)!r} is not an imported run: {path.name} unreadable ({e}); make it "
                              "with sslre import-run") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an sslre import manifest (format {MANIFEST_FORMAT})")
    return manifest


def import_loader(run_dir: str | os.PathLike) -> Callable[[Path], nn.Module]:
    """``checkpoint_path -> TapBackbone`` for the checkpoints of imported run ``run_dir`` (the ``loader`` of
    :func:`sslre.measure.measure_run`); a file whose sha256 is not the manifest's is refused."""
    manifest = read_manifest(run_dir)

    def load(path: Path) -> nn.Module:
        entry = manifest["epochs"].get(str(epoch_of(path)))
        if entry is None or io.file_sha256(Path(path)) != entry["sha256"]:
            raise CheckpointError(f"checkpoint {str(path)!r} is not the file imported into {str(run_dir)!r} (its "
                                  "sha256 differs from import.json); import the run again")
        return _load_tapped(Path(path), manifest["backbone"], manifest["layers"])

    return load


def imported_run_info(run_dir: str | os.PathLike, name: str = _DEFAULT_NAME):
    """The :class:`sslre.measure.RunInfo` of an imported run, under the registry name ``name``."""
    from sslre.measure import RunInfo

    m = read_manifest(run_dir)
    return RunInfo(name, int(m["seed"]), Config.from_dict(m["config"]), Path(run_dir),
                   dict(list_checkpoints(run_dir)), layers=tuple(m["layers"]), arch=m["backbone"],
                   method=m["method"])


def measure_imported(run_dirs: str | os.PathLike | Sequence[str | os.PathLike], profile: str = "quick", *,
                     name: str = _DEFAULT_NAME, settings=None, sample_settings=None, force: bool = False,
                     progress: bool = True):
    """Measure imported runs (one folder per seed) into :class:`sslre.measure.Measurements` under run ``name``.

    The table (``RUN/measurements.csv`` per folder, cached like sslre's runs) has the ``sample``, ``class`` and
    ``superclass`` levels and their ``*-shuffled`` controls, metrics ``ncc_train_acc``, ``ncc_test_acc``, ``cdnv``
    (and its parts), ``linear_test_acc`` / ``linear_test_kappa``, at every tap (``layer`` 0..T-1) and epoch.
    No random-target levels, MINE or UMAP (the registry's main run has them; an imported run does not).
    ``settings`` / ``sample_settings``: the profile's (:class:`sslre.profiles.MeasureSettings`) unless given.
    """
    from sslre.experiments import Coverage, RunSpec
    from sslre.measure import Measurements, measure_run
    from sslre.profiles import profile as get_profile

    dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike)) else list(run_dirs)
    infos = [imported_run_info(d, name) for d in dirs]
    seeds = [i.seed for i in infos]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"imported runs of {name!r} share a seed ({seeds}); import each seed with its own --seed")
    prof = get_profile(profile)
    spec = RunSpec(name, tuple(i.config for i in infos), tuple(seeds), (), "imported checkpoints",
                   coverage=Coverage(all_layers=True, random=False, controls=True, sample=True))
    frames = [measure_run(spec, info, settings=settings or prof.measure,
                          sample_settings=sample_settings or prof.sample_level, loader=import_loader(info.run_dir),
                          force=force, progress=progress) for info in infos]
    import pandas as pd

    table = pd.concat(frames, ignore_index=True)
    return Measurements(profile, infos[0].config.dataset, table, {name: infos})


def claims_without_runs(profile: str, available: Iterable[str]) -> dict[str, list[str]]:
    """``{claim id: [runs it reads that are not in available]}`` for every claim that cannot run on ``available``
    runs alone (e.g. the deeper net, the supervised baselines, the random-target generators)."""
    from sslre.experiments import claims_served

    have = set(available)
    return {c: sorted(set(runs) - have) for c, runs in claims_served(profile).items() if set(runs) - have}


#: Run folders of imported checkpoints (one per seed, ``os.pathsep``-separated) that ``pytest claims`` measures and
#: decides as the profile's main run instead of the registry's runs (``sslre measure-run --claims`` sets it).
ENV = "SSLRE_IMPORTED"


def imported_measurements(run_dirs: Sequence[str | os.PathLike], profile: str, *, settings=None,
                          sample_settings=None, progress: bool = False):
    """The imported runs measured as the profile's main run, with every other run of the registry listed as missing
    (:class:`sslre.experiments.PartialRuns`), so each claim that reads only the main run gets a verdict and the
    others are recorded as not run, with the commands that would make their runs."""
    from sslre.experiments import default_runs_dir, lacking, runs_for

    m = measure_imported(run_dirs, profile, settings=settings, sample_settings=sample_settings, progress=progress)
    specs = runs_for(profile)
    missing = [(spec.name, s) for spec in specs.values() if spec.kind != "alias" and spec.name != _DEFAULT_NAME
               for s in spec.seeds]
    m.partial = lacking(profile, specs, missing, default_runs_dir(profile))
    return m


def decide_imported(run_dirs: Sequence[str | os.PathLike], profile: str, out: str | os.PathLike) -> int:
    """``pytest claims -m <profile>`` on imported runs (as the main run), writing ``out/reproduction.{json,html}``;
    returns the gate's code (:mod:`sslre.claims.check`: 3 = some claims not run for want of runs)."""
    import subprocess

    from sslre.claims.check import main as check_main
    from sslre.reproduce import _REPO_ROOT, claims_command

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, ENV: os.pathsep.join(str(Path(d).resolve()) for d in run_dirs), "SSLRE_REPORT_DIR": str(out)}
    rc = subprocess.call(claims_command(profile), cwd=_REPO_ROOT, env=env)
    if rc >= 2:
        return rc                   # pytest could not run the claims
    return check_main([str(out / "reproduction.json"), "--profile", profile])
