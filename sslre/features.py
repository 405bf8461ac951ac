"""Per-layer features of a backbone, and an on-disk cache of them.

The paper measures every metric on the output of every layer (Sec. 2.2, Sec. 6):
the stem and each residual block of RES-L-H, globally average-pooled. This module
turns a model with ``forward_layers`` plus a split of ``uint8`` images into
``depth + 1`` feature matrices ``(N, C)``, and caches them per (checkpoint, split)
so the measurement stage computes each set of features exactly once.

Extraction protocol (what every number downstream assumes):

* the model runs in **eval mode** -- BatchNorm uses its running statistics, so a
  sample's features do not depend on the other images in its batch; the caller's
  train/eval mode is restored afterwards;
* no augmentation; ImageNet mean/std normalization (the data module's ``normalize``),
  the same normalization the training views get (App. A.1);
* ``torch.inference_mode``; results are ``float32`` on the CPU whatever the device.

Example::

    >>> feats = extract_layer_features(backbone, test.images)       # doctest: +SKIP
    >>> [f.shape for f in feats]                                      # doctest: +SKIP
    [torch.Size([10000, 64]), torch.Size([10000, 64]), ...]           # stem, block 1..L
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from sslre import io

__all__ = [
    "FeatureError",
    "FeatureCache",
    "extract_layer_features",
    "l2_normalize",
    "checkpoint_fingerprint",
    "images_fingerprint",
    "CACHE_FORMAT",
]

CACHE_FORMAT = "sslre-features/1"

# Extractions with more batches than this show a tqdm bar when ``progress`` is left to ``None``.
_AUTO_PROGRESS_BATCHES = 20


class FeatureError(ValueError):
    """Input given to feature extraction is malformed; the message names the argument and the problem."""


def _normalize(images_uint8: Tensor) -> Tensor:
    """ImageNet normalization from the data module: the one definition shared with training (App. A.1)."""
    from sslre.data.augment import normalize  # late import keeps `import sslre.features` light

    return normalize(images_uint8)  # (B, 3, H, W) float32


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _check_images(images: Any, what: str = "images") -> None:
    if not isinstance(images, Tensor):
        raise FeatureError(f"{what} must be a torch.Tensor (N, 3, H, W) uint8, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise FeatureError(
            f"{what} must be torch.uint8 (0..255, not normalized; normalization happens here), got {images.dtype}"
        )
    if images.ndim != 4 or images.shape[1] != 3:
        raise FeatureError(f"{what} must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise FeatureError(f"{what} is empty (N = 0): there is nothing to extract features from")


def l2_normalize(features: Tensor, eps: float = 1e-12) -> Tensor:
    """Rows scaled to unit Euclidean norm: ``f_i / max(||f_i||_2, eps)``.

    The ``l2`` feature variant of the measurements table (``features="l2"``); the
    paper's default is raw features (Sec. 2.2), L2 is a robustness check that removes
    the per-sample scale. Shape ``(N, D) -> (N, D)``, dtype kept; an all-zero row stays
    zero (``eps`` avoids 0/0).

    >>> l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    if not isinstance(features, Tensor) or features.ndim != 2:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise FeatureError(f"features must be a 2-D tensor (N, D), got {shape}")
    if not features.is_floating_point():
        raise FeatureError(f"features must be floating point, got {features.dtype}")
    norms = features.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, 1) row norms
    return features / norms


def extract_layer_features(  # long mostly by its docstring (shapes, devices, batching contract)
    model: nn.Module,
    images_uint8: Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    amp: bool = False,
    l2: bool = False,
    progress: bool | None = None,
) -> list[Tensor]:
    """Pooled features of every layer for a split of images (Sec. 2.2, Sec. 6).

    Args:
        model: a backbone with ``forward_layers(x) -> list[Tensor]`` returning ``depth + 1``
            pooled tensors ``(B, C_l)`` (stem, block 1..L), e.g. :class:`sslre.models.ResLH`.
        images_uint8: ``(N, 3, H, W)`` ``uint8`` images, not normalized.
        batch_size: images per forward pass (memory only; results do not depend on it
            beyond float rounding, because BatchNorm runs on its running statistics).
        device: where to run; ``None`` = the model's device. If it differs from the model's
            device the model is moved there for the extraction and moved back afterwards.
        channels_last: run convolutions in ``channels_last`` memory format (CUDA speed-up).
        amp: bf16 autocast on CUDA. Off by default because it changes the numbers; ignored on CPU
            so the CPU path is always exact float32.
        l2: return L2-normalized rows (see :func:`l2_normalize`) instead of raw features.
        progress: tqdm bar; ``None`` = only for long extractions (> 20 batches).

    Returns:
        ``depth + 1`` tensors, ``(N, C_l)`` ``float32`` on the CPU, in layer order
        (index 0 = stem, index i = block i).

    The model runs in eval mode under ``torch.inference_mode``; its previous train/eval
    mode (and device) is restored even if the extraction fails.
    """
    _check_images(images_uint8, "images_uint8")
    if not callable(getattr(model, "forward_layers", None)):
        raise FeatureError(
            f"model {type(model).__name__} has no forward_layers(x) method; per-layer features need a backbone "
            "such as sslre.models.ResLH (pass checkpoint.model, not the SSL method wrapper)"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise FeatureError(f"batch_size must be a positive int, got {batch_size!r}")

    home = _model_device(model)
    dev = torch.device(device) if device is not None else home
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FeatureError(f"device {dev} requested but torch.cuda.is_available() is False")
    use_amp = bool(amp) and dev.type == "cuda"
    n = images_uint8.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    show = progress if progress is not None else n_batches > _AUTO_PROGRESS_BATCHES

    was_training = model.training
    moved = dev != home
    chunks: list[list[Tensor]] | None = None
    try:
        if moved:
            model.to(dev)
        model.eval()
        from tqdm.auto import tqdm

        with torch.inference_mode():
            for start in tqdm(range(0, n, batch_size), total=n_batches, disable=not show,
                              desc="features", unit="batch", leave=False):
                x = images_uint8[start:start + batch_size].to(dev, non_blocking=True)
                x = _normalize(x)  # (B, 3, H, W) float32, ImageNet mean/std
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                ctx = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
                with ctx:
                    outs = model.forward_layers(x)
                if chunks is None:
                    chunks = [[] for _ in outs]
                if len(outs) != len(chunks):
                    raise FeatureError(
                        f"forward_layers returned {len(outs)} tensors for one batch and {len(chunks)} for another"
                    )
                for i, o in enumerate(outs):
                    if o.ndim != 2 or o.shape[0] != x.shape[0]:
                        raise FeatureError(
                            f"forward_layers output {i} has shape {tuple(o.shape)}; expected pooled (B={x.shape[0]}, C)"
                        )
                    chunks[i].append(o.detach().float().cpu())
    finally:
        model.train(was_training)
        if moved:
            model.to(home)
    assert chunks is not None  # n >= 1 was checked above
    feats = [torch.cat(c, 0) for c in chunks]  # each (N, C_l)
    if l2:
        feats = [l2_normalize(f) for f in feats]
    return feats


# ------------------------------------------------------------------------------------------------
# Fingerprints: what makes a cached feature file valid
# ------------------------------------------------------------------------------------------------
_HEAD_BYTES = 1 << 20  # 1 MiB from each end of a checkpoint: catches re-saved weights without reading GBs


def checkpoint_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Identity of a checkpoint file: size, mtime (ns) and a blake2b hash of its first and last MiB.

    Size + mtime catch a re-written file; the hash catches a same-size replacement whose
    mtime was preserved (e.g. ``cp -p``). Raises :class:`FileNotFoundError` naming the path.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist (or is not a file)")
    st = p.stat()
    h = hashlib.blake2b(digest_size=16)
    with open(p, "rb") as f:
        h.update(f.read(_HEAD_BYTES))
        if st.st_size > 2 * _HEAD_BYTES:
            f.seek(-_HEAD_BYTES, os.SEEK_END)
            h.update(f.read(_HEAD_BYTES))
        elif st.st_size > _HEAD_BYTES:
            h.update(f.read())
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "hash": h.hexdigest()}


def images_fingerprint(images: Tensor) -> dict[str, Any]:
    """Identity of an image split: shape, dtype and a blake2b hash of all its bytes.

    Hashing every byte costs ~0.1 s per 50k CIFAR images and rules out serving features of
    a different subset with the same shape.
    """
    t = images.detach().cpu().contiguous()
    h = hashlib.blake2b(t.view(torch.uint8).reshape(-1).numpy().tobytes() if t.numel() else b"", digest_size=16)
    return {"shape": list(t.shape), "dtype": str(t.dtype), "hash": h.hexdigest()}


def _default_loader(checkpoint_path: Path) -> nn.Module:
    from sslre.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint_path).model


class FeatureCache:
    """Per-layer features computed once per (checkpoint, split), stored under ``root``.

    Layout: ``root/<checkpoint-stem>/<split>.pt`` holding ``{"format", "key", "features"}``
    where ``features`` is the list returned by :func:`extract_layer_features` (raw features;
    apply :func:`l2_normalize` on read for the ``l2`` variant). ``key`` holds the fingerprints
    of the checkpoint file and of the images plus the extraction settings that change numbers;
    a stored file whose key differs is recomputed and overwritten, never served stale. A file
    that cannot be read (truncated, foreign) is recomputed with a :class:`RuntimeWarning`.

    Args:
        root: cache folder, typically ``RUN/features``.
        loader: ``checkpoint_path -> backbone`` (default: ``sslre.load_checkpoint(path).model``).
        batch_size, device, channels_last, amp: passed to :func:`extract_layer_features`.

    Example::

        cache = FeatureCache(run_dir / "features")
        feats = cache.get(run_dir / "checkpoints/epoch_0020.pt", "test", test.images)
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        loader: Callable[[Path], nn.Module] | None = None,
        batch_size: int = 512,
        device: str | torch.device | None = None,
        channels_last: bool = False,
        amp: bool = False,
        progress: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self.loader = loader or _default_loader
        self.batch_size = batch_size
        self.device = device
        self.channels_last = channels_last
        self.amp = amp
        self.progress = progress
        self.hits = 0
        self.misses = 0

    def path_for(self, checkpoint_path: str | os.PathLike, split_name: str) -> Path:
        """Where the features of ``split_name`` under ``checkpoint_path`` are (or will be) stored."""
        if not split_name or any(c in split_name for c in "/\\") or split_name in (".", ".."):
            raise FeatureError(f"split_name must be a plain file name such as 'train' or 'test', got {split_name!r}")
        return self.root / Path(checkpoint_path).stem / f"{split_name}.pt"

    def _key(self, checkpoint_path: Path, split_name: str, images: Tensor) -> dict[str, Any]:
        return {
            "checkpoint": checkpoint_fingerprint(checkpoint_path),
            "split": split_name,
            "images": images_fingerprint(images),
            # bf16 autocast changes the numbers; channels_last / batch size do not (beyond rounding).
            "amp": bool(self.amp),
        }

    def _read(self, path: Path) -> tuple[dict | None, list[Tensor] | None]:
        """(key, features) of a stored file, or (None, None) with a warning if it cannot be used."""
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT:
                raise ValueError(f"not a {CACHE_FORMAT} file")
            feats = obj["features"]
            if not isinstance(feats, list) or not feats or not all(
                isinstance(f, Tensor) and f.ndim == 2 for f in feats
            ):
                raise ValueError("features entry is not a non-empty list of 2-D tensors")
            return obj["key"], feats
        except Exception as exc:  # noqa: BLE001 - any unreadable cache file is recomputed, never fatal
            warnings.warn(
                f"feature cache file {str(path)!r} is unreadable ({type(exc).__name__}: {exc}); recomputing it",
                RuntimeWarning,
                stacklevel=3,
            )
            return None, None

    def get(
        self,
        checkpoint_path: str | os.PathLike,
        split_name: str,
        images: Tensor,
        *,
        model: nn.Module | None = None,
    ) -> list[Tensor]:
        """Per-layer raw features of ``images`` under the checkpoint, from the cache or computed.

        ``model`` (optional) is the already-loaded backbone of ``checkpoint_path``, to avoid
        loading it again on a miss; it is not used on a hit.
        """
        _check_images(images, "images")
        ckpt = Path(checkpoint_path)
        path = self.path_for(ckpt, split_name)
        key = self._key(ckpt, split_name, images)
        if path.exists():
            stored_key, feats = self._read(path)
            if feats is not None and stored_key == key and all(f.shape[0] == images.shape[0] for f in feats):
                self.hits += 1
                return feats
        self.misses += 1
        net = model if model is not None else self.loader(ckpt)
        feats = extract_layer_features(
            net, images, batch_size=self.batch_size, device=self.device,
            channels_last=self.channels_last, amp=self.amp, progress=self.progress,
        )
        io.save_torch({"format": CACHE_FORMAT, "key": key, "features": feats}, path)
        return feats
