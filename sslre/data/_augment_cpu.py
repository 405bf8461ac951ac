"""The CPU fast path of :class:`~sslre.data.augment.BatchSSLAugment` (private).

The App. A.1 protocol of ``sslre/data/augment.py`` on a CPU batch, computing the same maths as the
shape-static path there (``tests/data/test_augment.py`` pins the two together) with fewer,
cheaper passes: samples sorted so that each op runs on a contiguous slice of the samples that need
it, images laid out ``(n, H, C, W)`` so every separable resize or blur is a plain batched matmul,
resize matrices gathered from a table, pixels on the 0..255 scale until the output copy.
"""
from __future__ import annotations

import torch

from .augment import _LUMA, IMAGENET_MEAN, IMAGENET_STD, _blur_matrix, _resize_matrix


def apply_cpu(aug, images: torch.Tensor, prm: dict[str, torch.Tensor], out: torch.Tensor) -> None:
    """``aug``'s protocol on one CPU block of parameters ``prm``, written into ``out`` (n, 3, S, S).

    The same ops as :meth:`BatchSSLAugment._apply_static` (the shape-static path), reordered for the CPU.

    Why it is laid out this way (one thread; at 32 px every op is a short memory-bound pass, so
    the number of passes and of torch calls is the cost):

    1. the samples are sorted so that the samples an op touches are contiguous slices: hue at
       each jitter step, jitter at all, blur; small subsets (gray, solarize) are gathered;
    2. between the input copy and the output copy the images live as ``(n, H, C, W)``, which
       makes both passes of a separable resize or blur one plain batched matmul (no transposes);
    3. crop+resize+flip matrices come from a table (a 32-px axis has only 32*32*2 distinct ones);
    4. pixels stay on the 0..255 scale until the output copy, so no division by 255 pass at the
       input (every op is positively homogeneous; clamps, threshold and inversion use 255).
    """
    n, C, H, W = images.shape
    S, dt, V = aug.image_size, torch.float32, 255.0
    # Sort key: primary the jitter step at which hue runs (4 = no jitter), then blur on/off.
    # Stable, so the order is a deterministic function of the parameters.
    hue_pos = torch.where(prm["jitter"], (prm["order"] == 3).to(torch.uint8).argmax(1), 4)  # (n,)
    key = hue_pos * 2 + prm["blur"].long()  # (n,) in 0..9
    perm = torch.argsort(key, stable=True)
    counts = torch.bincount(key, minlength=10).tolist()  # one host sync per block (CPU: free)
    starts = [0]
    for c in counts:
        starts.append(starts[-1] + c)
    p = {k: v.index_select(0, perm) for k, v in prm.items()}  # parameters in sorted order

    # uint8 -> float 0..255, written as (n, H, C, W).
    x0 = torch.empty(n, H, C, W, dtype=dt)
    x0.copy_(images.index_select(0, perm).permute(0, 2, 1, 3))
    # Crop + resize + flip: X' = Rv X Rh^T per sample and channel.
    i, j, h, w = p["crop"].unbind(1)
    rv = _resize_matrices(i, h, p["flip"].new_zeros(n), H, S, dt)  # (n, S, H)
    rh = _resize_matrices(j, w, p["flip"], W, S, dt)  # (n, S, W), rows reversed where flipped
    y = torch.bmm(x0.view(n, H * C, W), rh.transpose(1, 2))  # (n, H*C, W) @ (n, W, S) -> (n, H*C, S)
    x = torch.bmm(rv, y.view(n, H, C * S)).view(n, S, C, S)  # (n, S, H) @ (n, H, C*S) -> (n, S, C, S)

    nj = starts[8]  # samples with jitter: hue_pos 0..3 come first
    if nj:
        _jitter(x, p, nj, [(starts[2 * k], starts[2 * k + 2]) for k in range(4)], V)

    gray = torch.nonzero(p["gray"]).flatten()
    if gray.numel():
        xs = x.index_select(0, gray)  # (g, S, C, S)
        x.index_copy_(0, gray, _luma_nhcw(xs).expand_as(xs))

    # Blur: the blur samples are the second part of each hue_pos group.
    runs = [(starts[2 * k + 1], starts[2 * k + 2]) for k in range(5) if starts[2 * k + 2] > starts[2 * k + 1]]
    if runs:
        on = torch.cat([torch.arange(a, b) for a, b in runs])
        kb = _blur_matrix(p["sigma"].index_select(0, on), None, S, aug.blur_radius, dt)  # (nb, S, S)
        o = 0
        for a, b in runs:
            m = b - a
            k = kb[o:o + m]
            o += m
            yb = torch.bmm(x[a:b].view(m, S * C, S), k.transpose(1, 2))  # (m, S*C, S) @ (m, S, S): along rows
            torch.bmm(k, yb.view(m, S, C * S), out=x[a:b].view(m, S, C * S))  # (m, S, S) @ (m, S, C*S): columns

    sol = torch.nonzero(p["solarize"]).flatten()
    if sol.numel():
        xs = x.index_select(0, sol)
        hit = torch.ge(xs, float(aug.protocol["solarize_threshold"]), out=torch.empty_like(xs))  # 0/1
        x.index_copy_(0, sol, torch.lerp(xs, V - xs, hit))  # lerp with weight 0/1 selects exactly

    # Back to the caller's order and to (n, C, S, S) in one copy, then to [0, 1] / normalized.
    inv = torch.empty_like(perm).index_copy_(0, perm, torch.arange(n))
    torch.index_select(x.permute(0, 2, 1, 3), 0, inv, out=out)
    if aug.normalize:
        # (x / 255 - mean) / std as one scale and one shift per channel.
        std = torch.tensor(IMAGENET_STD, dtype=dt).view(1, 3, 1, 1)
        out.mul_(1.0 / (V * std)).add_(-torch.tensor(IMAGENET_MEAN, dtype=dt).view(1, 3, 1, 1) / std)
    else:
        out.div_(V)  # bitwise images.float() / 255 where no op changed a pixel

def _jitter(x: torch.Tensor, p: dict[str, torch.Tensor], nj: int, hue_runs: list, v: float) -> None:
    """Colour jitter in place on the first ``nj`` samples of ``x`` (n, S, C, S), sorted by hue step.

    Same maths as :meth:`BatchSSLAugment._jitter` on the 0..v scale: at each step one affine blend
    ``clamp(f x + beta luma + t, 0, v)`` for all jittered samples (identity for the samples whose
    op at this step is hue), then hue on this step's contiguous slice ``hue_runs[step]``. The
    affine result goes to a second buffer (one pass instead of three in place); four steps end
    in ``x`` again.
    """
    dt = x.dtype
    order = p["order"][:nj]  # (nj, 4)
    factors = torch.stack([p["brightness"][:nj].to(dt), p["contrast"][:nj].to(dt),
                           p["saturation"][:nj].to(dt), torch.ones(nj, dtype=dt)], 1)  # (nj, 4) by op id
    f = factors.gather(1, order)  # (nj, 4) factor of each step's op
    beta = torch.where(order == 2, 1.0 - f, 0.0)  # saturation: blend towards the pixel's luma
    cmul = torch.where(order == 1, 1.0 - f, 0.0)  # contrast: towards the current image's mean luma
    f4, beta4 = f.view(nj, 4, 1, 1, 1), beta.view(nj, 4, 1, 1, 1)
    src, dst = x[:nj], torch.empty_like(x[:nj])
    for step in range(4):
        luma = _luma_nhcw(src)  # (nj, S, 1, S)
        t = (cmul[:, step] * luma.mean((1, 2, 3))).view(nj, 1, 1, 1)
        base = luma.mul_(beta4[:, step]).add_(t)  # (nj, S, 1, S)
        torch.addcmul(base, f4[:, step], src, out=dst).clamp_(0.0, v)  # (nj, S, C, S)
        a, b = hue_runs[step]
        if b > a:
            _adjust_hue_nhcw(dst[a:b], p["hue"][a:b], v)
        src, dst = dst, src
    # After an even number of steps the result is back in x[:nj].


def _luma_nhcw(x: torch.Tensor) -> torch.Tensor:
    """(n, S, 3, T) -> (n, S, 1, T) luma (torchvision's weights), for the CPU path's channel-in-the-middle layout."""
    r, g, b = x[:, :, 0:1], x[:, :, 1:2], x[:, :, 2:3]
    luma = r * _LUMA[0]
    return luma.add_(g, alpha=_LUMA[1]).add_(b, alpha=_LUMA[2])


def _adjust_hue_nhcw(x: torch.Tensor, shift: torch.Tensor, v: float) -> None:
    """:func:`~sslre.data.augment._adjust_hue` in place on a contiguous (m, S, 3, T) block on the 0..v scale.

    Built from fast elementwise calls only: max/min as elementwise ``maximum``/``minimum``, the
    argmax-channel choice as exact 0/1 ``lerp`` selects (``where`` and ``remainder`` are several
    times slower on CPU), and HSV -> RGB for ``h`` in [0, 6) without a modulo:
    ``R = min + chroma E(3)``, ``G = max - chroma E(2)``, ``B = max - chroma E(4)`` with
    ``E(c) = clamp(|h - c| - 1, 0, 1)`` (the standard hexcone ramps).
    """
    m = x.shape[0]
    r, g, b = x[:, :, 0:1], x[:, :, 1:2], x[:, :, 2:3]  # (m, S, 1, T) views
    mx = torch.maximum(r, g)
    torch.maximum(mx, b, out=mx)
    mn = torch.minimum(r, g)
    torch.minimum(mn, b, out=mn)
    cr = mx - mn  # chroma
    # One-hot of the max channel with torchvision's tie rule (red, then green), as 0/1 floats.
    is_r = torch.eq(mx, r, out=torch.empty_like(mx))
    is_g = torch.eq(mx, g, out=torch.empty_like(mx))
    # Hue in sixths times chroma: red max g - b, green max 2 cr + b - r, blue max 4 cr + r - g.
    num = torch.lerp(torch.add(r - g, cr, alpha=4.0), torch.add(b - r, cr, alpha=2.0), is_g)
    num = torch.lerp(num, g - b, is_r)
    # Gray pixels (cr == 0) have num == 0; any positive divisor keeps them at max.
    h6 = num.div_(cr.clamp_min(1e-12)).add_(6.0 * shift.view(m, 1, 1, 1))
    h6.sub_(torch.floor(h6 * (1.0 / 6.0)), alpha=6.0)  # wrap into [0, 6); the ramps below agree at 0 and 6
    centre = torch.tensor((3.0, 2.0, 4.0), dtype=x.dtype).view(1, 1, 3, 1)
    e = (h6 - centre).abs_().sub_(1.0).clamp_(0.0, 1.0)  # (m, S, 3, T)
    torch.addcmul(mn, cr, e[:, :, 0:1], out=r)
    torch.addcmul(mx, cr, e[:, :, 1:2], value=-1.0, out=g)
    torch.addcmul(mx, cr, e[:, :, 2:3], value=-1.0, out=b)
    x.clamp_(0.0, v)  # rounding can leave max - chroma an ulp outside


_RESIZE_TABLES: dict = {}
_RESIZE_TABLE_MAX = 4 * 2**20  # floats (16 MB): a table for 32-px inputs is 2.1M floats


def _resize_matrices(
    start: torch.Tensor, length: torch.Tensor, flip: torch.Tensor, size: int, out: int, dtype: torch.dtype,
) -> torch.Tensor:
    """:func:`~sslre.data.augment._resize_matrix` for a CPU batch, gathered from a table of every ``(start, length, flip)``.

    An axis of ``size`` pixels has ``size * size * 2`` possible matrices, so for small images one
    ``index_select`` replaces ~15 elementwise passes over (n, out, size). The table holds the
    same function's output (entries with ``start + length > size`` are never selected).
    """
    key = (size, out, dtype)
    if size * size * 2 * out * size > _RESIZE_TABLE_MAX:
        return _resize_matrix(start, length, size, out, dtype, reverse=flip)
    table = _RESIZE_TABLES.get(key)
    if table is None:
        s, ln, f = torch.meshgrid(torch.arange(size), torch.arange(1, size + 1), torch.arange(2), indexing="ij")
        table = _resize_matrix(s.flatten(), ln.flatten(), size, out, dtype, reverse=f.flatten().bool())  # (size*size*2, out, size)
        _RESIZE_TABLES[key] = table
    idx = (start * size + (length - 1)) * 2 + flip.long()  # row of (start, length, flip) in the table
    return table.index_select(0, idx)
