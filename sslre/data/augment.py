"""Augmentations: the SimCLR view protocol of App. A.1, per image and batched.

Two implementations of the same protocol (paper App. A.1, in this order):

1. random resized crop, area fraction ~ U(0.08, 1), log aspect ratio ~ U(log 3/4, log 4/3),
   resized to ``image_size`` (``RandomResizedCrop(32, scale=(0.08, 1.0))``);
2. horizontal flip, p = 0.5;
3. colour jitter ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` with p = 0.8: brightness, contrast and
   saturation factors ~ U(0.6, 1.4), U(0.6, 1.4), U(0.8, 1.2), hue shift ~ U(-0.1, 0.1), the
   four ops applied in a random order;
4. grayscale, p = 0.2;
5. Gaussian blur, p = 0.5. The paper says "kernel size 23", which is the ImageNet (224 px)
   setting of SimCLR/BYOL: 23 px is ~10% of the image side. At 32 px a 23-px kernel would span
   70% of the image. We follow lightly's SimCLR transform instead: the standard deviation sigma is
   drawn from U(0.1, 2.0) px and the kernel is cut at ``ceil(3 * sigma_max) = 6`` px on each side
   (a 13-tap kernel), which holds > 99.7% of the Gaussian's mass for every sigma in the range;
6. solarization (pixels >= 128/255 are inverted), p = 0.1;
7. ImageNet normalization (``IMAGENET_MEAN``, ``IMAGENET_STD``).

:func:`ssl_view_transform` is the per-image PIL reference built from torchvision/lightly with
every argument written out. :class:`BatchSSLAugment` applies the same protocol to a whole
``uint8`` batch in torch, with independent random parameters per sample, on the batch's device
(CPU or CUDA; on CUDA every step is shape-static, with no host synchronisation at all; on CPU
the samples are sorted so that every op runs on only the samples that need it, see
:func:`sslre.data._augment_cpu.apply_cpu`; both paths compute the same maths), deterministically for a given
``torch.Generator``. Its parameter sampler :meth:`BatchSSLAugment.sample_params` follows
torchvision's rules (incl. RandomResizedCrop's 10 attempts and centre-crop fallback);
``tests/data/test_augment.py`` checks the distributions against torchvision's own samplers.

Known, documented differences of the batched path from the PIL reference: it works in float32
between the ops (PIL rounds to uint8 after each); crop+resize uses PIL's bilinear filter (triangle,
widened when shrinking) as per-sample matrices; blur is an exact Gaussian with reflect boundary
(PIL uses an extended box-blur approximation), with taps below 1e-12 set to zero.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torchvision import transforms as T

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SSL_PROTOCOL",
    "normalize",
    "ssl_view_transform",
    "BatchSSLAugment",
    "supervised_transform",
    "batch_supervised_augment",
    "to_uint8",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# App. A.1, one place for both implementations and for the tests that inspect them.
SSL_PROTOCOL = dict(
    crop_scale=(0.08, 1.0),
    crop_ratio=(3.0 / 4.0, 4.0 / 3.0),
    hflip_p=0.5,
    jitter_p=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.2,
    hue=0.1,
    grayscale_p=0.2,
    blur_p=0.5,
    blur_sigma=(0.1, 2.0),
    solarize_p=0.1,
    solarize_threshold=128,
)

# ITU-R 601-2 luma as torchvision's rgb_to_grayscale writes it (PIL: 0.299; the 1e-4 difference is below 8 bits).
_LUMA = (0.2989, 0.587, 0.114)


def _check_uint8_batch(images: torch.Tensor, who: str) -> None:
    from sslre.data.base import uint8_images_problem

    problem = uint8_images_problem(images, "B")
    if problem:
        raise (TypeError if problem[0] == "type" else ValueError)(f"{who}: images {problem[1]}")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8 (B, 3, H, W)`` -> ``float32 (B, 3, H, W)``: ``(x / 255 - mean) / std`` (ImageNet stats, App. A.1).

    Runs on the input's device. Example: a pixel of value 255 in the red channel becomes
    ``(1 - 0.485) / 0.229 = 2.2489``.
    """
    _check_uint8_batch(images, "normalize")
    return _normalize_float(images.float().div_(255.0))


def _normalize_float(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> uint8 0..255 (rounded to nearest, clamped)."""
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Per-image reference
# ---------------------------------------------------------------------------------------------
def ssl_view_transform(image_size: int = 32, normalize: bool = True) -> Callable:
    """The App. A.1 view transform for one PIL image, every argument explicit.

    torchvision ops plus lightly's ``GaussianBlur`` (sigma ~ U(0.1, 2.0), PIL radius = sigma) and
    ``RandomSolarization`` (threshold 128). Lightly's ``SimCLRTransform`` has no solarization and
    defaults to 224 px, so the pipeline is composed here rather than taken from it.
    Returns ``(3, S, S)`` float32; normalized unless ``normalize=False`` (then in [0, 1]).
    """
    from lightly.transforms import GaussianBlur, RandomSolarization

    p = SSL_PROTOCOL
    ops = [
        T.RandomResizedCrop(
            size=image_size, scale=p["crop_scale"], ratio=p["crop_ratio"],
            interpolation=T.InterpolationMode.BILINEAR, antialias=True,
        ),
        T.RandomHorizontalFlip(p=p["hflip_p"]),
        T.RandomApply(
            [T.ColorJitter(brightness=p["brightness"], contrast=p["contrast"],
                           saturation=p["saturation"], hue=p["hue"])],
            p=p["jitter_p"],
        ),
        T.RandomGrayscale(p=p["grayscale_p"]),
        GaussianBlur(prob=p["blur_p"], sigmas=p["blur_sigma"]),
        RandomSolarization(prob=p["solarize_p"], threshold=p["solarize_threshold"]),
        T.ToTensor(),
    ]
    if normalize:
        ops.append(T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD))
    return T.Compose(ops)


# ---------------------------------------------------------------------------------------------
# Batched implementation
# ---------------------------------------------------------------------------------------------
def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=gen, device=gen.device)


def _uniform(gen: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * _rand(gen, *shape)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma (three 1-channel multiply-adds, no 3-channel temporary)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.addcmul(torch.addcmul(r * _LUMA[0], g, torch.tensor(_LUMA[1], dtype=x.dtype, device=x.device)),
                         b, torch.tensor(_LUMA[2], dtype=x.dtype, device=x.device))


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's ``_blend`` with a per-sample factor (B,): clamp(f * a + (1 - f) * b, 0, 1)."""
    f = factor.view(-1, 1, 1, 1)
    return (f * a + (1.0 - f) * b).clamp_(0.0, 1.0)


def _adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``shift`` (B,) turns; same result as torchvision's HSV round trip.

    A hue rotation keeps each pixel's max and min channel (HSV value and saturation), so only the
    hue angle is computed: ``h6 = 2k + (x[k+1] - x[k+2]) / (max - min)`` with ``k`` the argmax
    channel (indices mod 3), and HSV -> RGB in closed form: channel ``n`` in (R, G, B) is
    ``max - (max - min) * clamp(min(q, 4 - q), 0, 1)`` with ``q = (5, 3, 1)[n] + h6' mod 6``.
    """
    B = x.shape[0]
    mx, k = x.max(1, keepdim=True)  # (B, 1, H, W) value and index of the largest channel
    cr = mx - x.amin(1, keepdim=True)  # (B, 1, H, W) chroma
    # Channel difference picked by the argmax channel (r: g-b, g: b-r, b: r-g), on 1-channel slices.
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    d = torch.where(k == 0, g - b, torch.where(k == 1, b - r, r - g))  # (B, 1, H, W)
    # Gray pixels (cr == 0) have d == 0 too; any positive divisor keeps them at max.
    h6 = d / cr.clamp_min(1e-12) + 2.0 * k + 6.0 * shift.view(B, 1, 1, 1)  # hue in sixths, shifted
    n = torch.tensor((5.0, 3.0, 1.0), device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    q = torch.remainder(n + h6, 6.0)  # (B, 3, H, W)
    ramp = torch.minimum(q, 4.0 - q).clamp_(0.0, 1.0)
    return (mx - cr * ramp).clamp_(0.0, 1.0)


class BatchSSLAugment:
    """App. A.1 SimCLR views for a whole ``uint8`` batch at once, per-sample random parameters.

    ``aug(images_uint8 (B, 3, H, W), generator) -> (B, 3, S, S) float32`` with ``S = image_size``,
    ImageNet-normalized when ``normalize=True``, else in [0, 1]. All work happens on
    ``images.device``; random numbers come from ``generator`` (on its own device: a CPU generator
    with a CUDA batch costs one small parameter copy per batch, never one per sample).
    Same generator state + same input -> bitwise the same output on CPU.

    Example::

        aug = BatchSSLAugment(32)
        g = torch.Generator().manual_seed(0)
        v1, v2 = aug(x, g), aug(x, g)   # two views of the batch x (uint8)
    """

    def __init__(self, image_size: int = 32, normalize: bool = True) -> None:
        if int(image_size) < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        self.image_size = int(image_size)
        self.normalize = bool(normalize)
        self.protocol = dict(SSL_PROTOCOL)
        # Kernel half-width covering 3 sigma of the widest blur (module docstring, item 5).
        self.blur_radius = int(math.ceil(3 * self.protocol["blur_sigma"][1]))
        self.cpu_chunk = 256  # samples per block on CPU (bounds the temporaries); GPU: whole batch

    def __repr__(self) -> str:
        return f"BatchSSLAugment(image_size={self.image_size}, normalize={self.normalize})"

    # -- parameters ------------------------------------------------------------------------
    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Random parameters for ``batch`` views of ``height x width`` images (all on ``generator.device``).

        Keys: ``crop`` (B, 4) int64 rows ``(i, j, h, w)`` like ``RandomResizedCrop.get_params``;
        ``flip``, ``jitter``, ``gray``, ``blur``, ``solarize`` (B,) bool; ``brightness``,
        ``contrast``, ``saturation`` (B,) factors, ``hue`` (B,) shift; ``order`` (B, 4) int64, a
        permutation of the jitter ops (0 brightness, 1 contrast, 2 saturation, 3 hue) per sample,
        like ``ColorJitter.get_params``; ``sigma`` (B,) blur std in px.
        """
        p, g, B = self.protocol, generator, int(batch)
        area = float(height * width)
        attempts = 10
        # RandomResizedCrop.get_params, vectorized over the batch and its 10 attempts.
        target = area * _uniform(g, p["crop_scale"][0], p["crop_scale"][1], B, attempts)  # (B, 10)
        log_r = _uniform(g, math.log(p["crop_ratio"][0]), math.log(p["crop_ratio"][1]), B, attempts)
        aspect = torch.exp(log_r)
        # torch.round rounds half to even, like Python's round() in torchvision.
        w = torch.round(torch.sqrt(target * aspect))
        h = torch.round(torch.sqrt(target / aspect))
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)  # (B, 10)
        # First successful attempt per sample: argmax over a 0/1 key with earlier attempts preferred.
        key = ok.float() * torch.arange(attempts, 0, -1, device=ok.device, dtype=torch.float32)
        first = key.argmax(1, keepdim=True)  # (B, 1)
        any_ok = ok.any(1)
        w = w.gather(1, first).squeeze(1)
        h = h.gather(1, first).squeeze(1)
        # Fallback: centre crop of the whole image clipped to the allowed ratio range.
        in_ratio = width / height
        if in_ratio < p["crop_ratio"][0]:
            fw, fh = width, int(round(width / p["crop_ratio"][0]))
        elif in_ratio > p["crop_ratio"][1]:
            fw, fh = int(round(height * p["crop_ratio"][1])), height
        else:
            fw, fh = width, height
        w = torch.where(any_ok, w, torch.full_like(w, fw))
        h = torch.where(any_ok, h, torch.full_like(h, fh))
        # Uniform integer offsets in 0..H-h (torch.randint's high differs per sample, so floor(u * n)).
        u_i, u_j = _rand(g, B), _rand(g, B)
        i = torch.floor(u_i * (height - h + 1)).clamp_max(height - h)
        j = torch.floor(u_j * (width - w + 1)).clamp_max(width - w)
        i = torch.where(any_ok, i, torch.div(height - h, 2, rounding_mode="floor"))
        j = torch.where(any_ok, j, torch.div(width - w, 2, rounding_mode="floor"))
        crop = torch.stack([i, j, h, w], 1).long()  # (B, 4)

        b, c, s, hue = p["brightness"], p["contrast"], p["saturation"], p["hue"]
        return dict(
            crop=crop,
            flip=_rand(g, B) < p["hflip_p"],
            jitter=_rand(g, B) < p["jitter_p"],
            order=torch.argsort(_rand(g, B, 4), dim=1),  # a uniform random permutation per row
            brightness=_uniform(g, max(0.0, 1 - b), 1 + b, B),
            contrast=_uniform(g, max(0.0, 1 - c), 1 + c, B),
            saturation=_uniform(g, max(0.0, 1 - s), 1 + s, B),
            hue=_uniform(g, -hue, hue, B),
            gray=_rand(g, B) < p["grayscale_p"],
            blur=_rand(g, B) < p["blur_p"],
            sigma=_uniform(g, p["blur_sigma"][0], p["blur_sigma"][1], B),
            solarize=_rand(g, B) < p["solarize_p"],
        )

    # -- application -----------------------------------------------------------------------
    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check_uint8_batch(images, "BatchSSLAugment")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"BatchSSLAugment: generator must be a torch.Generator, got {type(generator).__name__}")
        with torch.autocast(images.device.type, enabled=False):  # the views are float32 under any autocast
            return self._views(images, generator)

    def _views(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        B, _, H, W = images.shape
        params = self.sample_params(B, H, W, generator)
        params = {k: v.to(images.device, non_blocking=True) for k, v in params.items()}
        if images.device.type != "cpu":
            return self._apply_static(images, params)
        # On CPU, large batches run in blocks of ``cpu_chunk`` samples: bounded temporaries, and few
        # enough torch calls per sample (block sizes timed in docs/PERFORMANCE.md).
        # Every sample's parameters were drawn above, so the blocking changes no random number;
        # each block writes its rows of ``out`` directly.
        S = self.image_size
        out = torch.empty(B, 3, S, S, dtype=torch.float32)
        for s in range(0, B, self.cpu_chunk):
            e = min(B, s + self.cpu_chunk)
            _augment_cpu.apply_cpu(self, images[s:e], {k: v[s:e] for k, v in params.items()}, out[s:e])
        return out

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Apply given parameters (from :meth:`sample_params`) to a uint8 batch (one block, any size)."""
        with torch.autocast(images.device.type, enabled=False):  # float32 matmuls under any autocast
            return self._apply_block(images, params)

    def _apply_block(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        if images.device.type != "cpu":
            return self._apply_static(images, params)
        S = self.image_size
        out = torch.empty(images.shape[0], 3, S, S, dtype=torch.float32)
        _augment_cpu.apply_cpu(self, images, params, out)
        return out

    def _apply_static(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Shape-static path (CUDA): every op on every sample, identity parameters where an op is off."""
        B = images.shape[0]
        H, W = images.shape[-2:]
        S = self.image_size
        x = images.float().div_(255.0)  # (B, 3, H, W) in [0, 1]
        # Crop + resize + flip as two per-sample interpolation matrices: X' = Rv X Rh^T.
        i, j, h, w = params["crop"].unbind(1)
        rv = _resize_matrix(i, h, H, S, x.dtype)  # (B, S, H)
        rh = _resize_matrix(j, w, W, S, x.dtype, reverse=params["flip"])  # (B, S, W), rows reversed if flipped
        x = _separable(x, rv, rh)  # (B, 3, S, S)
        x = self._jitter(x, params)
        luma = _grayscale(x)  # (B, 1, S, S)
        x = torch.where(params["gray"].view(-1, 1, 1, 1), luma.expand_as(x), x)
        kb = _blur_matrix(params["sigma"], params["blur"], S, self.blur_radius, x.dtype)  # (B, S, S)
        x = _separable(x, kb, kb)  # blur = Kb X Kb^T; identity matrices for samples without blur
        thr = self.protocol["solarize_threshold"] / 255.0
        # Solarize: x -> 1 - x where x >= thr, i.e. x + sol * (1 - 2x) with sol in {0, 1}.
        sol = (x >= thr) & params["solarize"].view(-1, 1, 1, 1)
        x = torch.addcmul(x, sol, 1.0 - 2.0 * x)
        if not self.normalize:
            return x
        # (x - mean) / std as one multiply-add.
        inv = 1.0 / torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        shift = -torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1) * inv
        return torch.addcmul(shift, x, inv)

    def _jitter(self, x: torch.Tensor, prm: dict[str, torch.Tensor]) -> torch.Tensor:
        """Colour jitter, ops in each sample's own random order, clamped to [0, 1] after every op.

        Brightness, contrast and saturation are all ``clamp(f * x + (1 - f) * base)`` with base 0,
        the image's mean luma, or the pixel's luma. One step therefore computes, for every sample,
        ``clamp(f x + beta * luma(x) + t)`` with per-sample scalars chosen by that sample's op at
        this step; samples whose op is something else get ``f = 1, beta = t = 0`` (exact identity).
        Hue (nonlinear) runs on the samples whose op at this step is hue.
        """
        B = x.shape[0]
        apply = prm["jitter"]
        dt = x.dtype
        one = torch.ones(B, device=x.device, dtype=dt)
        zero = torch.zeros(B, device=x.device, dtype=dt)
        for step in range(4):
            op = torch.where(apply, prm["order"][:, step], torch.full_like(prm["order"][:, step], -1))
            f = torch.where(op == 0, prm["brightness"].to(dt),
                            torch.where(op == 1, prm["contrast"].to(dt),
                                        torch.where(op == 2, prm["saturation"].to(dt), one)))
            luma = _grayscale(x)  # (B, 1, S, S)
            beta = torch.where(op == 2, 1.0 - f, zero)  # saturation: blend towards the pixel's luma
            # contrast: blend towards the mean luma of the *current* image.
            t = torch.where(op == 1, (1.0 - f) * luma.mean((1, 2, 3)), zero)
            base = torch.addcmul(t.view(B, 1, 1, 1), beta.view(B, 1, 1, 1), luma)  # (B, 1, S, S)
            x = torch.addcmul(base, f.view(B, 1, 1, 1), x).clamp_(0.0, 1.0)  # (B, 3, S, S)
            is_hue = op == 3
            if x.is_cuda:
                # No data-dependent shapes on the GPU: hue for all, keep it where selected.
                x = torch.where(is_hue.view(B, 1, 1, 1), _adjust_hue(x, prm["hue"]), x)
            else:
                idx = torch.nonzero(is_hue).flatten()
                if idx.numel():
                    # In place: x is this step's fresh clamp output, no one else holds it.
                    x.index_copy_(0, idx, _adjust_hue(x.index_select(0, idx), prm["hue"].index_select(0, idx)))
        return x


def _separable(x: torch.Tensor, mv: torch.Tensor, mh: torch.Tensor) -> torch.Tensor:
    """``Mv X Mh^T`` per sample and channel: x (B, C, H, W), mv (B, S, H), mh (B, T, W) -> (B, C, S, T).

    Two batched matmuls with the channels folded into the matrix rows/columns, which is much
    faster than B*C separate tiny products.
    """
    B, C, H, W = x.shape
    S, T = mv.shape[1], mh.shape[1]
    y = torch.bmm(x.reshape(B, C * H, W), mh.transpose(1, 2))  # (B, C*H, W) @ (B, W, T) -> (B, C*H, T)
    y = y.view(B, C, H, T).transpose(1, 2).reshape(B, H, C * T)  # (B, H, C*T) rows = input rows
    y = torch.bmm(mv, y)  # (B, S, H) @ (B, H, C*T) -> (B, S, C*T)
    return y.view(B, S, C, T).transpose(1, 2).contiguous()  # (B, C, S, T)


def _resize_matrix(
    start: torch.Tensor, length: torch.Tensor, size: int, out: int, dtype: torch.dtype,
    reverse: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample (B, out, size) matrices resizing the window ``[start, start+length)`` to ``out`` pixels.

    PIL's bilinear resample (what torchvision's RandomResizedCrop does to PIL images): output pixel
    ``o`` has centre ``(o + 0.5) * scale`` in the window, ``scale = length / out``; its weights are a
    triangle of half-width ``max(scale, 1)`` (widened when shrinking: antialiasing) over the window's
    pixel centres, renormalized, with pixels outside the window left out. ``reverse`` (B,) bool
    reverses the output order for those samples (a horizontal flip when resizing columns).
    """
    dev = start.device
    scale = (length.to(dtype) / out).view(-1, 1, 1)  # (B, 1, 1)
    support = scale.clamp(min=1.0)
    o = torch.arange(out, device=dev, dtype=dtype).view(1, -1, 1)  # (1, out, 1)
    if reverse is not None:
        o = torch.where(reverse.view(-1, 1, 1), (out - 1) - o, o)  # (B, out, 1)
    centre = (o + 0.5) * scale  # (B, out, 1)
    pos = torch.arange(size, device=dev, dtype=dtype).view(1, 1, -1) - start.to(dtype).view(-1, 1, 1)  # (B, 1, size)
    wgt = (1.0 - ((pos + 0.5 - centre) / support).abs()).clamp_(min=0.0)  # (B, out, size)
    inside = (pos >= 0) & (pos < length.to(dtype).view(-1, 1, 1))
    wgt = wgt * inside
    return wgt / wgt.sum(2, keepdim=True)


def _blur_matrix(sigma: torch.Tensor, on: torch.Tensor | None, size: int, radius: int, dtype: torch.dtype) -> torch.Tensor:
    """Per-sample (B, size, size) 1-D Gaussian blur matrices, reflect boundary, identity where ``on`` is False
    (``on=None``: blur for every sample).

    Row ``o`` holds ``exp(-d^2 / 2 sigma^2)`` for offsets ``d`` in ``-radius..radius`` (normalized),
    placed at the reflected column of ``o + d`` (reflect without repeating the edge, like
    ``F.pad(mode="reflect")``); offsets that fall outside even after reflecting are dropped.
    """
    dev = sigma.device
    B = sigma.shape[0]
    taps = torch.arange(-radius, radius + 1, device=dev, dtype=dtype)  # (K,)
    k = torch.exp(-0.5 * (taps.view(1, -1) / sigma.to(dtype).view(-1, 1)) ** 2)  # (B, K)
    k = k / k.sum(1, keepdim=True)
    # Taps below 1e-12 (a small sigma's far taps: exp(-0.5 (6 / 0.1)^2) underflows through the
    # subnormal range) change no pixel by more than 255e-12, but subnormal floats make a CPU matmul
    # several times slower; they are set to exactly 0.
    k = k.masked_fill(k < 1e-12, 0.0)
    o = torch.arange(size, device=dev).view(-1, 1)  # (size, 1)
    col = o + taps.long().view(1, -1)  # (size, K) source column before reflecting
    col = torch.where(col < 0, -col, col)
    col = torch.where(col >= size, 2 * (size - 1) - col, col)
    valid = (col >= 0) & (col < size)
    col = col.clamp(0, size - 1)
    m = torch.zeros(B, size, size, device=dev, dtype=dtype)
    # (B, size, K) weights scattered (added: reflected taps can land on the same column) into rows.
    m.scatter_add_(2, col.unsqueeze(0).expand(B, -1, -1), k.unsqueeze(1).expand(-1, size, -1) * valid)
    if on is None:
        return m
    eye = torch.eye(size, device=dev, dtype=dtype).expand(B, -1, -1)
    return torch.where(on.view(-1, 1, 1), m, eye)


# ---------------------------------------------------------------------------------------------
# Supervised augmentation (Fig. 3 right, App. A.1 "Supervised learning")
# ---------------------------------------------------------------------------------------------
def supervised_transform(autoaugment: bool, image_size: int = 32) -> Callable:
    """Standard CIFAR supervised augmentation for one PIL image, optionally with AutoAugment.

    RandomCrop(image_size, padding=4) -> horizontal flip p=0.5 -> [AutoAugment(CIFAR10 policy)]
    -> ToTensor -> ImageNet normalization. Returns ``(3, S, S)`` float32.
    """
    ops = [
        T.RandomCrop(image_size, padding=4, fill=0, padding_mode="constant"),
        T.RandomHorizontalFlip(p=0.5),
    ]
    if autoaugment:
        ops.append(T.AutoAugment(policy=T.AutoAugmentPolicy.CIFAR10))
    ops += [T.ToTensor(), T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)]
    return T.Compose(ops)


def batch_supervised_augment(
    images: torch.Tensor, generator: torch.Generator, autoaugment: bool = False
) -> torch.Tensor:
    """Batched :func:`supervised_transform`: uint8 ``(B, 3, H, W)`` -> normalized float32 ``(B, 3, H, W)``.

    Padding-4 random crop and flip are vectorized on the input's device. AutoAugment (torchvision's
    CIFAR10 policy) runs per image on uint8 tensors under a forked global RNG seeded from
    ``generator``, so the result stays a deterministic function of the generator state.
    """
    _check_uint8_batch(images, "batch_supervised_augment")
    B, C, H, W = images.shape
    g, pad = generator, 4
    off = torch.floor(_rand(g, B, 2) * (2 * pad + 1)).long().to(images.device)  # (B, 2) row/col offsets 0..8
    flip = (_rand(g, B) < 0.5).to(images.device)
    padded = F.pad(images, (pad, pad, pad, pad))  # (B, 3, H+8, W+8), zero fill
    rows = off[:, 0].view(B, 1) + torch.arange(H, device=images.device).view(1, H)  # (B, H)
    cols = off[:, 1].view(B, 1) + torch.arange(W, device=images.device).view(1, W)  # (B, W)
    cols = torch.where(flip.view(B, 1), cols.flip(1), cols)  # a flip is just reversed column indices
    bidx = torch.arange(B, device=images.device).view(B, 1, 1)
    # Advanced indexing gathers (B, H, W, C); permute back to channels-first.
    out = padded.permute(0, 2, 3, 1)[bidx, rows.view(B, H, 1), cols.view(B, 1, W)].permute(0, 3, 1, 2)
    if autoaugment:
        seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device).item())
        policy = T.AutoAugment(policy=T.AutoAugmentPolicy.CIFAR10)
        cpu = out.cpu()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            cpu = torch.stack([policy(img) for img in cpu])
        out = cpu.to(images.device)
    return normalize(out.contiguous())


# The CPU fast path builds on this module's matrices and constants, so it is imported last (and looked up at call
# time, so importing either module first works).
from . import _augment_cpu  # noqa: E402
