"""Per-layer feature extraction and the feature cache (sslre/features.py)."""
from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch import nn

from sslre.features import (
    CACHE_FORMAT,
    FeatureCache,
    FeatureError,
    checkpoint_fingerprint,
    extract_layer_features,
    images_fingerprint,
    l2_normalize,
)


class TinyBackbone(nn.Module):
    """A 2-block stand-in for ResLH with BatchNorm (so train vs eval mode changes the output)."""

    def __init__(self, width: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 4, stride=4), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            for _ in range(depth)
        )
        self.calls = 0
        self.modes_seen: list[bool] = []

    def forward_layers(self, x):
        self.calls += 1
        self.modes_seen.append(self.training)
        h = self.stem(x)
        outs = [h.mean(dim=(2, 3))]
        for b in self.blocks:
            h = b(h)
            outs.append(h.mean(dim=(2, 3)))
        return outs


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models: intra-op threads only add synchronisation cost (and contend on a shared 2-core box).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(seed: int = 0) -> TinyBackbone:
    torch.manual_seed(seed)
    m = TinyBackbone()
    # Running stats far from the batch stats, so eval mode and train mode give clearly different features.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.fill_(-0.3)
                mod.running_var.fill_(3.0)
    return m


def _images(n: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)


def _train_mode_features(model, images):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (images.float() / 255 - mean) / std
    model.train()
    with torch.no_grad():
        return model.forward_layers(x)


# ------------------------------------------------------------------------------------------------
# extract_layer_features
# ------------------------------------------------------------------------------------------------
def test_shapes_dtype_and_layer_count():
    m = _model()
    feats = extract_layer_features(m, _images(37), batch_size=10)
    assert len(feats) == 3  # stem + 2 blocks
    for f in feats:
        assert f.shape == (37, 8)
        assert f.dtype == torch.float32
        assert f.device.type == "cpu"
    assert m.calls == 4  # ceil(37 / 10) batches


def test_eval_mode_used_and_training_mode_restored():
    m = _model()
    m.train()
    imgs = _images(32)
    feats = extract_layer_features(m, imgs, batch_size=16)
    assert m.modes_seen and not any(m.modes_seen), "forward_layers must run in eval mode"
    assert m.training, "the caller's train mode must be restored"
    # BN in train mode (batch statistics) would give different features: prove eval stats were used.
    train_feats = _train_mode_features(_model(), imgs)
    assert not torch.allclose(feats[1], train_feats[1], atol=1e-3)

    m.eval()
    extract_layer_features(m, imgs)
    assert not m.training, "an eval-mode model stays in eval mode"


def test_mode_restored_when_forward_fails():
    class Broken(TinyBackbone):
        def forward_layers(self, x):
            raise RuntimeError("boom")

    m = Broken()
    m.train()
    with pytest.raises(RuntimeError, match="boom"):
        extract_layer_features(m, _images(4))
    assert m.training


def test_features_independent_of_batch_size_and_deterministic():
    m = _model()
    imgs = _images(30)
    a = extract_layer_features(m, imgs, batch_size=30)
    b = extract_layer_features(m, imgs, batch_size=7)
    c = extract_layer_features(m, imgs, batch_size=30)
    for x, y, z in zip(a, b, c):
        assert torch.allclose(x, y, atol=1e-5)
        assert torch.equal(x, z)


def test_matches_manual_eval_forward():
    m = _model()
    imgs = _images(12)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    m.eval()
    with torch.no_grad():
        ref = m.forward_layers((imgs.float() / 255 - mean) / std)
    got = extract_layer_features(m, imgs)
    for r, g in zip(ref, got):
        assert torch.allclose(r, g, atol=1e-5)


def test_l2_option_and_helper():
    m = _model()
    imgs = _images(10)
    raw = extract_layer_features(m, imgs)
    l2 = extract_layer_features(m, imgs, l2=True)
    for r, n in zip(raw, l2):
        assert n.norm(dim=1) == pytest.approx(torch.ones(10), abs=1e-5)
        assert torch.allclose(n, r / r.norm(dim=1, keepdim=True), atol=1e-6)
    z = l2_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert z.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]
    with pytest.raises(FeatureError, match="2-D"):
        l2_normalize(torch.zeros(3))


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.zeros(4, 3, 8, 8), "uint8"),
        (torch.zeros(4, 8, 8, dtype=torch.uint8), r"\(N, 3, H, W\)"),
        (torch.zeros(0, 3, 8, 8, dtype=torch.uint8), "empty"),
        ([1, 2, 3], "torch.Tensor"),
    ],
)
def test_bad_images_rejected(bad, match):
    with pytest.raises(FeatureError, match=match):
        extract_layer_features(_model(), bad)


def test_model_without_forward_layers_rejected():
    with pytest.raises(FeatureError, match="forward_layers"):
        extract_layer_features(nn.Linear(3, 3), _images(2))


def test_bad_output_shape_rejected():
    class Unpooled(TinyBackbone):
        def forward_layers(self, x):
            return [self.stem(x)]  # (B, C, h, w), not pooled

    with pytest.raises(FeatureError, match="pooled"):
        extract_layer_features(Unpooled(), _images(2))


def test_with_real_reslh_if_available():
    models = pytest.importorskip("sslre.models.resnet_lh")
    torch.manual_seed(0)
    net = models.ResLH(depth=3, width=6)
    feats = extract_layer_features(net, _images(5, seed=1).repeat(1, 1, 2, 2))  # 32 px
    assert [tuple(f.shape) for f in feats] == [(5, 6)] * 4


@pytest.mark.gpu
def test_cuda_matches_cpu():
    m = _model()
    imgs = _images(20)
    cpu = extract_layer_features(m, imgs)
    gpu = extract_layer_features(m, imgs, device="cuda", channels_last=True)
    assert next(m.parameters()).device.type == "cpu", "model moved back to its own device"
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cpu" and b.dtype == torch.float32
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)
    bf16 = extract_layer_features(m, imgs, device="cuda", amp=True)
    for a, b in zip(cpu, bf16):
        assert torch.allclose(a, b, atol=5e-2, rtol=5e-2)


# ------------------------------------------------------------------------------------------------
# FeatureCache
# ------------------------------------------------------------------------------------------------
class CountingLoader:
    """Stand-in for load_checkpoint(path).model: builds the model from the seed stored in the file."""

    def __init__(self):
        self.loads = 0
        self.models: list[TinyBackbone] = []

    def __call__(self, path):
        self.loads += 1
        seed = int(torch.load(path, weights_only=True)["seed"])
        m = _model(seed)
        self.models.append(m)
        return m

    @property
    def forward_calls(self) -> int:
        return sum(m.calls for m in self.models)


def _write_ckpt(path, seed, pad=0):
    torch.save({"seed": seed, "pad": torch.zeros(pad)}, path)
    return path


def test_cache_hit_does_not_run_model(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0003.pt", seed=1)
    loader = CountingLoader()
    cache = FeatureCache(tmp_path / "features", loader=loader, batch_size=8)
    imgs = _images(20)
    first = cache.get(ckpt, "test", imgs)
    calls = loader.forward_calls
    assert calls == 3 and loader.loads == 1
    assert (tmp_path / "features" / "epoch_0003" / "test.pt").is_file()

    second = cache.get(ckpt, "test", imgs)
    assert loader.forward_calls == calls and loader.loads == 1, "a cache hit must not load or run the model"
    assert (cache.hits, cache.misses) == (1, 1)
    for a, b in zip(first, second):
        assert torch.equal(a, b)

    # A fresh cache object over the same folder (another process) also hits.
    loader2 = CountingLoader()
    third = FeatureCache(tmp_path / "features", loader=loader2).get(ckpt, "test", imgs)
    assert loader2.loads == 0
    assert torch.equal(third[-1], first[-1])


def test_cached_features_equal_direct_extraction(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0000.pt", seed=4)
    imgs = _images(9)
    got = FeatureCache(tmp_path / "f", loader=CountingLoader()).get(ckpt, "train", imgs)
    ref = extract_layer_features(_model(4), imgs)
    for a, b in zip(got, ref):
        assert torch.equal(a, b)


def test_splits_are_cached_separately(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0001.pt", seed=0)
    loader = CountingLoader()
    cache = FeatureCache(tmp_path / "f", loader=loader)
    a = cache.get(ckpt, "train", _images(6, seed=1))
    b = cache.get(ckpt, "test", _images(5, seed=2))
    assert a[0].shape[0] == 6 and b[0].shape[0] == 5
    assert cache.misses == 2
    cache.get(ckpt, "train", _images(6, seed=1))
    assert cache.hits == 1


def test_changed_checkpoint_invalidates(tmp_path):
    ckpt = tmp_path / "epoch_0005.pt"
    _write_ckpt(ckpt, seed=1)
    loader = CountingLoader()
    cache = FeatureCache(tmp_path / "f", loader=loader)
    imgs = _images(10)
    old = cache.get(ckpt, "test", imgs)

    # Re-save the checkpoint with other weights but the same size and the old mtime: only the hash can tell.
    st = os.stat(ckpt)
    _write_ckpt(ckpt, seed=2)
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(ckpt).st_size == st.st_size
    new = cache.get(ckpt, "test", imgs)
    assert loader.loads == 2, "a changed checkpoint must be recomputed"
    assert not torch.allclose(old[-1], new[-1])
    assert torch.allclose(new[-1], extract_layer_features(_model(2), imgs)[-1])
    # and the refreshed file is now a hit
    cache.get(ckpt, "test", imgs)
    assert loader.loads == 2


def test_changed_images_invalidate(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0005.pt", seed=1)
    loader = CountingLoader()
    cache = FeatureCache(tmp_path / "f", loader=loader)
    imgs = _images(10)
    cache.get(ckpt, "test", imgs)
    other = imgs.clone()
    other[3, 0, 0, 0] ^= 1  # one pixel differs, same shape
    cache.get(ckpt, "test", other)
    assert loader.loads == 2
    assert images_fingerprint(imgs) != images_fingerprint(other)


def test_corrupt_cache_file_recomputed_with_warning(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0002.pt", seed=3)
    loader = CountingLoader()
    cache = FeatureCache(tmp_path / "f", loader=loader)
    imgs = _images(8)
    good = cache.get(ckpt, "test", imgs)
    path = cache.path_for(ckpt, "test")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as after a crash without atomic writes
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = cache.get(ckpt, "test", imgs)
    assert loader.loads == 2
    for a, b in zip(good, again):
        assert torch.equal(a, b)
    # The rewritten file is valid again: no warning, no recompute.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.get(ckpt, "test", imgs)
    assert loader.loads == 2

    torch.save({"format": "something-else"}, path)  # foreign file
    with pytest.warns(RuntimeWarning, match=CACHE_FORMAT):
        cache.get(ckpt, "test", imgs)
    assert loader.loads == 3


def test_atomic_write_leaves_no_temp_files(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0002.pt", seed=3)
    cache = FeatureCache(tmp_path / "f", loader=CountingLoader())
    cache.get(ckpt, "test", _images(4))
    assert sorted(p.name for p in (tmp_path / "f" / "epoch_0002").iterdir()) == ["test.pt"]


def test_preloaded_model_used_on_miss(tmp_path):
    ckpt = _write_ckpt(tmp_path / "epoch_0002.pt", seed=3)
    loader = CountingLoader()
    m = _model(3)
    FeatureCache(tmp_path / "f", loader=loader).get(ckpt, "test", _images(4), model=m)
    assert loader.loads == 0 and m.calls == 1


def test_cache_errors(tmp_path):
    cache = FeatureCache(tmp_path / "f", loader=CountingLoader())
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        cache.get(tmp_path / "missing.pt", "test", _images(2))
    ckpt = _write_ckpt(tmp_path / "epoch_0002.pt", seed=3)
    with pytest.raises(FeatureError, match="split_name"):
        cache.get(ckpt, "../evil", _images(2))


def test_checkpoint_fingerprint_reads_both_ends(tmp_path):
    big = tmp_path / "big.pt"
    big.write_bytes(b"a" * (3 << 20))
    fp = checkpoint_fingerprint(big)
    data = bytearray(big.read_bytes())
    data[-1] = ord("b")  # only the tail changes
    st = os.stat(big)
    big.write_bytes(bytes(data))
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert checkpoint_fingerprint(big)["hash"] != fp["hash"]


@pytest.mark.benchmark
def test_benchmark_cache_hit_vs_extraction(tmp_path, benchmark):
    """A cache hit must be much cheaper than recomputing (ratio against extraction timed in the same run)."""
    import time

    if benchmark.disabled:
        pytest.skip("timing only: run with -m benchmark --benchmark-enable")
    models = pytest.importorskip("sslre.models.resnet_lh")
    torch.manual_seed(0)
    net = models.ResLH(depth=3, width=32)
    imgs = torch.randint(0, 256, (1000, 3, 32, 32), dtype=torch.uint8)
    ckpt = _write_ckpt(tmp_path / "epoch_0001.pt", seed=0)
    cache = FeatureCache(tmp_path / "f", loader=lambda p: net, batch_size=250)
    t0 = time.perf_counter()
    cache.get(ckpt, "test", imgs)  # miss: extraction + write
    extract_s = time.perf_counter() - t0
    feats = benchmark(cache.get, ckpt, "test", imgs)
    assert cache.misses == 1 and len(feats) == 4
    hit_s = benchmark.stats.stats.mean
    benchmark.extra_info["extract_s"] = extract_s
    benchmark.extra_info["speedup"] = extract_s / hit_s
    assert extract_s / hit_s > 5, f"cache hit {hit_s:.4f}s vs extraction {extract_s:.4f}s"
