"""Augmentations: the App. A.1 reference, and BatchSSLAugment's agreement with it in distribution."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image
from scipy.stats import binomtest, ks_2samp

from sslre.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchSSLAugment,
    batch_supervised_augment,
    normalize,
    ssl_view_transform,
    supervised_transform,
)
from sslre.data.synthetic import make_synthetic

N = 4000  # samples per distribution comparison


@pytest.fixture(scope="module")
def images():
    return make_synthetic(16, seed=0).images


# ---------------------------------------------------------------- reference transform
def test_reference_transform_has_the_paper_parameters():
    from lightly.transforms import GaussianBlur, RandomSolarization

    ops = ssl_view_transform(32).transforms
    crop, flip, jitter_apply, gray, blur, sol = ops[:6]
    assert isinstance(crop, T.RandomResizedCrop) and crop.size == (32, 32)
    assert crop.scale == (0.08, 1.0) and crop.ratio == pytest.approx((3 / 4, 4 / 3))
    assert isinstance(flip, T.RandomHorizontalFlip) and flip.p == 0.5
    assert isinstance(jitter_apply, T.RandomApply) and jitter_apply.p == 0.8
    cj = jitter_apply.transforms[0]
    assert cj.brightness == pytest.approx((0.6, 1.4)) and cj.contrast == pytest.approx((0.6, 1.4))
    assert cj.saturation == pytest.approx((0.8, 1.2)) and cj.hue == pytest.approx((-0.1, 0.1))
    assert isinstance(gray, T.RandomGrayscale) and gray.p == 0.2
    assert isinstance(blur, GaussianBlur) and blur.prob == 0.5 and blur.sigmas == (0.1, 2.0)
    assert isinstance(sol, RandomSolarization) and sol.prob == 0.1 and sol.threshold == 128
    norm = ops[-1]
    assert isinstance(norm, T.Normalize) and tuple(norm.mean) == IMAGENET_MEAN and tuple(norm.std) == IMAGENET_STD


def test_reference_output_shape(images):
    pil = Image.fromarray(images[0].permute(1, 2, 0).numpy())
    out = ssl_view_transform(32)(pil)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32


# ---------------------------------------------------------------- normalize
def test_normalize_values_and_errors():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    y = normalize(x)
    assert y.dtype == torch.float32
    assert y[0, :, 0, 0].tolist() == pytest.approx([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    with pytest.raises(TypeError, match="uint8"):
        normalize(x.float())
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        normalize(x[:, :2])


# ---------------------------------------------------------------- batched: parameter distributions
def _reference_params(n, size=32, seed=0):
    """Parameters drawn by torchvision's own samplers (the reference)."""
    torch.manual_seed(seed)
    img = torch.zeros(3, size, size)
    crop = T.RandomResizedCrop(size, scale=(0.08, 1.0))
    cj = T.ColorJitter(0.4, 0.4, 0.2, 0.1)
    area, ratio, b, c, s, h, first_op, offset = [], [], [], [], [], [], [], []
    for _ in range(n):
        i, j, hh, ww = crop.get_params(img, crop.scale, crop.ratio)
        area.append(hh * ww / size**2)
        ratio.append(ww / hh)
        if hh < size:
            offset.append(i / (size - hh))
        order, bb, cc, ss, hu = cj.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)
        b.append(bb), c.append(cc), s.append(ss), h.append(hu), first_op.append(int(order[0]))
    return dict(area=area, ratio=ratio, brightness=b, contrast=c, saturation=s, hue=h, first_op=first_op, offset=offset)


@pytest.fixture(scope="module")
def batch_params():
    aug = BatchSSLAugment(32)
    g = torch.Generator().manual_seed(0)
    return aug.sample_params(N, 32, 32, g)


@pytest.fixture(scope="module")
def ref_params():
    return _reference_params(N)


@pytest.mark.parametrize("key", ["area", "ratio", "brightness", "contrast", "saturation", "hue"])
def test_parameter_distributions_match_torchvision(key, batch_params, ref_params):
    crop = batch_params["crop"].double()
    ours = {
        "area": (crop[:, 2] * crop[:, 3] / 32**2),
        "ratio": crop[:, 3] / crop[:, 2],
    }.get(key, batch_params.get(key))
    p = ks_2samp(ours.numpy(), np.asarray(ref_params[key])).pvalue
    assert p > 0.001, f"{key}: KS p = {p:.2g}"


def test_crop_offsets_are_inside_and_distributed_like_torchvision(batch_params, ref_params):
    i, j, h, w = batch_params["crop"].unbind(1)
    assert (i >= 0).all() and (j >= 0).all() and (i + h <= 32).all() and (j + w <= 32).all()
    assert (h >= 1).all() and (w >= 1).all()
    # Relative offset i / (32 - h) where the box has room to move, compared with torchvision's.
    room = h < 32
    rel = i[room].double() / (32 - h[room].double())
    assert ks_2samp(rel.numpy(), np.asarray(ref_params["offset"])).pvalue > 0.001


def test_jitter_order_is_a_uniform_permutation(batch_params, ref_params):
    order = batch_params["order"]
    assert torch.equal(order.sort(1).values, torch.arange(4).expand_as(order))
    counts = torch.bincount(order[:, 0], minlength=4)
    for k in range(4):
        assert binomtest(int(counts[k]), N, 0.25).pvalue > 0.001


@pytest.mark.parametrize("key, p", [("flip", 0.5), ("jitter", 0.8), ("gray", 0.2), ("blur", 0.5), ("solarize", 0.1)])
def test_coin_flip_rates(key, p, batch_params):
    k = int(batch_params[key].sum())
    assert binomtest(k, N, p).pvalue > 0.001, f"{key}: {k}/{N} vs p={p}"


def test_blur_sigma_range(batch_params):
    sig = batch_params["sigma"]
    assert sig.min() >= 0.1 and sig.max() <= 2.0
    assert ks_2samp(sig.numpy(), np.random.default_rng(1).uniform(0.1, 2.0, N)).pvalue > 0.001


def test_crop_fallback_equals_torchvision_when_no_attempt_fits():
    # A 1x64 image: every attempt needs h >= 2, so all 10 fail and torchvision centre-crops.
    aug = BatchSSLAugment(8)
    prm = aug.sample_params(50, 1, 64, torch.Generator().manual_seed(0))
    ref = T.RandomResizedCrop.get_params(torch.zeros(3, 1, 64), [0.08, 1.0], [3 / 4, 4 / 3])
    assert prm["crop"].tolist() == [list(ref)] * 50


# ---------------------------------------------------------------- batched: outputs
def test_output_shape_dtype_range_and_determinism(images):
    aug = BatchSSLAugment(24, normalize=False)
    a = aug(images, torch.Generator().manual_seed(3))
    b = aug(images, torch.Generator().manual_seed(3))
    c = aug(images, torch.Generator().manual_seed(4))
    assert a.shape == (16, 3, 24, 24) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    assert torch.equal(a, b) and not torch.equal(a, c)
    n = BatchSSLAugment(24)(images, torch.Generator().manual_seed(3))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(n, (a - mean) / std, atol=1e-5)


def test_bad_inputs_raise(images):
    aug = BatchSSLAugment()
    with pytest.raises(TypeError, match="uint8"):
        aug(images.float(), torch.Generator())
    with pytest.raises(TypeError, match="Generator"):
        aug(images, 0)


def _apply_only(aug, images, params, keep):
    q = dict(params)
    for k in ("flip", "jitter", "gray", "blur", "solarize"):
        if k not in keep:
            q[k] = torch.zeros_like(q[k])
    return aug.apply(images, q)


def test_crop_resize_matches_pil_resized_crop(images):
    import torchvision.transforms.functional as TF

    aug = BatchSSLAugment(32, normalize=False)
    prm = aug.sample_params(len(images), 32, 32, torch.Generator().manual_seed(0))
    out = _apply_only(aug, images, prm, keep=())
    for b in range(len(images)):
        i, j, h, w = prm["crop"][b].tolist()
        ref = TF.to_tensor(TF.resized_crop(Image.fromarray(images[b].permute(1, 2, 0).numpy()), i, j, h, w, [32, 32]))
        # PIL works in 8-bit fixed point: within one grey level.
        assert (ref - out[b]).abs().max() <= 1.5 / 255


def test_each_op_matches_torchvision_functional(images):
    """With one op enabled at a time, the batched result equals torchvision's tensor functional."""
    import torchvision.transforms.functional as TF

    aug = BatchSSLAugment(32, normalize=False)
    prm = aug.sample_params(len(images), 32, 32, torch.Generator().manual_seed(1))
    prm["crop"] = torch.tensor([[0, 0, 32, 32]]).repeat(len(images), 1)  # identity crop
    x = images.float() / 255
    flip = _apply_only(aug, images, prm, keep=("flip",))
    gray = _apply_only(aug, images, prm, keep=("gray",))
    sol = _apply_only(aug, images, prm, keep=("solarize",))
    jit = _apply_only(aug, images, prm, keep=("jitter",))
    for b in range(len(images)):
        ref = TF.hflip(x[b]) if prm["flip"][b] else x[b]
        assert torch.allclose(flip[b], ref, atol=1e-5)
        ref = TF.rgb_to_grayscale(x[b], 3) if prm["gray"][b] else x[b]
        assert torch.allclose(gray[b], ref, atol=1e-5)
        ref = TF.solarize(x[b], 128 / 255) if prm["solarize"][b] else x[b]
        assert torch.allclose(sol[b], ref, atol=1e-5)
        ref = x[b]
        if prm["jitter"][b]:
            fns = [
                lambda t: TF.adjust_brightness(t, float(prm["brightness"][b])),
                lambda t: TF.adjust_contrast(t, float(prm["contrast"][b])),
                lambda t: TF.adjust_saturation(t, float(prm["saturation"][b])),
                lambda t: TF.adjust_hue(t, float(prm["hue"][b])),
            ]
            for k in prm["order"][b].tolist():
                ref = fns[k](ref)
        assert torch.allclose(jit[b], ref, atol=1e-4), f"sample {b}, order {prm['order'][b].tolist()}"


def test_blur_matches_gaussian_blur_and_is_identity_when_off(images):
    import torchvision.transforms.functional as TF

    aug = BatchSSLAugment(32, normalize=False)
    prm = aug.sample_params(len(images), 32, 32, torch.Generator().manual_seed(2))
    prm["crop"] = torch.tensor([[0, 0, 32, 32]]).repeat(len(images), 1)
    out = _apply_only(aug, images, prm, keep=("blur",))
    x = images.float() / 255
    for b in range(len(images)):
        if prm["blur"][b]:
            s = float(prm["sigma"][b])
            ref = TF.gaussian_blur(x[b], kernel_size=[13, 13], sigma=[s, s])  # 13 taps = 2 * ceil(3 * 2.0) + 1
            assert torch.allclose(out[b], ref, atol=1e-5)
        else:
            assert torch.equal(out[b], x[b])


def test_views_differ_but_keep_statistics(images):
    aug = BatchSSLAugment(32, normalize=False)
    g = torch.Generator().manual_seed(0)
    v1, v2 = aug(images, g), aug(images, g)
    assert not torch.equal(v1, v2)


def test_visual_grid(images, tmp_path):
    """Saves a grid (row 0: originals, rows 1-6: views) for a human look; path is printed."""
    from torchvision.utils import save_image

    aug = BatchSSLAugment(32, normalize=False)
    g = torch.Generator().manual_seed(0)
    src = images[:12]
    rows = [src.float() / 255] + [aug(src, g) for _ in range(6)]
    out_dir = Path(os.environ.get("SSLRE_FIGURES", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "augment-grid.png"
    save_image(torch.cat(rows), path, nrow=12, padding=1)
    print(f"augmentation grid: {path}")
    assert path.stat().st_size > 1000


# ---------------------------------------------------------------- supervised
def test_supervised_transform_ops():
    ops = supervised_transform(autoaugment=True).transforms
    assert isinstance(ops[0], T.RandomCrop) and ops[0].padding == 4
    assert isinstance(ops[1], T.RandomHorizontalFlip) and ops[1].p == 0.5
    assert isinstance(ops[2], T.AutoAugment) and ops[2].policy == T.AutoAugmentPolicy.CIFAR10
    assert not any(isinstance(o, T.AutoAugment) for o in supervised_transform(autoaugment=False).transforms)


@pytest.mark.parametrize("autoaugment", [False, True])
def test_batch_supervised_augment(images, autoaugment):
    a = batch_supervised_augment(images, torch.Generator().manual_seed(0), autoaugment)
    b = batch_supervised_augment(images, torch.Generator().manual_seed(0), autoaugment)
    assert a.shape == images.shape and a.dtype == torch.float32 and torch.equal(a, b)


def test_batch_supervised_crop_is_a_shift_of_the_padded_image(images):
    out = batch_supervised_augment(images, torch.Generator().manual_seed(5), False)
    # Undo normalization -> uint8; each output must equal some 32x32 window of the padded (maybe flipped) image.
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    u8 = ((out * std + mean) * 255).round().to(torch.uint8)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for b in range(len(images)):
        found = any(
            torch.equal(u8[b], win) or torch.equal(u8[b], win.flip(-1))
            for di in range(9) for dj in range(9)
            for win in [padded[b, :, di:di + 32, dj:dj + 32]]
        )
        assert found, f"sample {b} is not a padded crop"


@pytest.mark.gpu
def test_batch_augment_on_cuda_matches_cpu_in_distribution(images):
    aug = BatchSSLAugment(32)
    x = images.cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    out = aug(x, g)
    assert out.device.type == "cuda" and out.shape == (16, 3, 32, 32)
    # Same parameters on both devices give the same images.
    prm = aug.sample_params(len(images), 32, 32, torch.Generator().manual_seed(0))
    cpu = aug.apply(images, prm)
    gpu = aug.apply(x, {k: v.cuda() for k, v in prm.items()})
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-3)


def test_cpu_blocking_does_not_change_the_views():
    x = make_synthetic(20, seed=3).images
    aug = BatchSSLAugment(32)
    aug.cpu_chunk = 7
    blocked = aug(x, torch.Generator().manual_seed(0))
    aug.cpu_chunk = 1000
    whole = aug(x, torch.Generator().manual_seed(0))
    assert torch.allclose(blocked, whole, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("normalize", [False, True])
def test_cpu_path_equals_the_shape_static_path(seed, normalize):
    """The sorted, sliced CPU path computes the same views as the every-op-on-every-sample path."""
    x = make_synthetic(48, seed=seed).images
    aug = BatchSSLAugment(32, normalize=normalize)
    prm = aug.sample_params(len(x), 32, 32, torch.Generator().manual_seed(seed))
    assert torch.allclose(aug.apply(x, prm), aug._apply_static(x, prm), atol=1e-5, rtol=0)


def test_views_are_float32_and_unchanged_under_bf16_autocast():
    """Training may autocast the model to bf16 (``cpu_amp``); the augmentation inside the step stays float32."""
    x = make_synthetic(8, seed=1).images
    aug = BatchSSLAugment(32)
    ref = aug(x, torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = aug(x, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and torch.equal(out, ref)
