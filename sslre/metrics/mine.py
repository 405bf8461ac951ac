"""Mutual information I(X; Z) between input images and their embeddings: MINE (Sec. 4, Fig. 3 middle).

The paper tracks the information a representation keeps about its input over SSL training
("implicit information compression", Sec. 4, Fig. 3 middle) with the Mutual Information Neural
Estimator of Belghazi et al. (2018), averaged over 5 MINE seeds. This module is that estimator as
a pure tensor-in / tensor-out kernel.

Estimator
---------
A statistics network ``T(x, z) -> R`` is trained to maximise the Donsker-Varadhan (DV) lower bound

    I(X; Z)  >=  E_{P_XZ}[T(x, z)]  -  log E_{P_X (x) P_Z}[exp T(x, z')]          (nats)

The joint expectation uses the aligned pairs ``(x_i, z_i)``; the product of marginals uses the same
batch with the z side shuffled (a random fixed-point-free permutation, so no aligned pair leaks into
the marginal term).

Gradient bias correction (Belghazi et al. 2018, Sec. 3.2): the gradient of the log term of a
mini-batch estimate, ``grad E_B[e^T] / E_B[e^T]``, is biased because the denominator is a noisy
batch mean. MINE replaces that denominator by an exponential moving average ``m`` of E_B[e^T]
(``m <- (1 - ema_rate) m + ema_rate E_B[e^T]``, kept in log space for stability), i.e. it
minimises the surrogate ``-(E_B[T_joint] - E_B[e^T_marg] / stopgrad(m))``, whose gradient is the
bias-corrected one. The reported numbers are always the plain DV bound, never the surrogate.

Final estimate
--------------
``eval_fraction`` of the pairs (20 % by default) are held out from training. Every ``eval_every``
steps the DV bound is evaluated on the whole held-out set: the joint term on its ``n`` aligned
pairs, the marginal term as one log-mean-exp over ``n * marginal_shifts`` mismatched pairs (a fixed
random order of the held-out set, z rolled by 1..K). The estimate is the mean of the last
``final_evals`` of these held-out bounds. Each read-out uses the critic ``a * T`` with ``a`` in
[0, 1] chosen on one half of the held-out set and applied to the other (cross-fitted both ways):
a network that memorised its training pairs is over-confident on new pairs, and without this the
shuffled-pairs null drifts to about -2 nats at the quick size (``eval_curve_raw`` keeps the plain
read-out). A held-out bound is a conservative (lower-bound) estimate:
``T`` cannot score well on pairs it memorised. ``eval_fraction=0`` evaluates on the training pairs
instead (the classic in-sample MINE read-out; optimistic for small N, because T can memorise pairs).

Bias note (read before interpreting numbers)
--------------------------------------------
For a deterministic encoder ``z = f(x)`` on a finite set of N distinct images, the true I(X; Z)
is at most ``log N`` (about 7.6 nats for 2,000 images, 10.8 for 50,000), and MINE is a biased,
noisy *lower* bound of it whose value depends on the statistics network, the steps and N.
MINE values are therefore **relative**: compare them across checkpoints of one run, measured with
the same N, network and settings. The paper's claim (mine-compression) concerns the *trend* over
epochs. Always report the spread over MINE seeds (:func:`mine_multi_seed`) and a shuffled-pairs
null (:func:`mine_shuffled_null`, which should be about 0).

Statistics networks
-------------------
* images ``x: (N, C, H, W)`` -- a patchify conv trunk (a 4x4 stride-4 conv to 32 channels, a 2x2
  stride-2 conv to 64 channels, each with ReLU, so every pixel is seen once; average-pooled to a 4x4
  grid, flattened and mapped to a ``hidden``-vector; no BatchNorm), an MLP maps ``z`` to a
  ``hidden``-vector, the concatenation goes through an MLP head to a scalar. The trunk is computed
  **once per batch** and shared by the joint and the marginal term (only the z side is permuted),
  which is what makes MINE on images affordable.
* vectors ``x: (N, Dx)`` -- an MLP on the concatenation ``(x, z)``; its first layer is split into
  an x part and a z part so the marginal term also reuses the x side.
No layer mixes samples (no BatchNorm), so a pair's score depends on that pair only.

Inputs are standardised before training (per channel for images, per dimension for vectors and
for z); MI is invariant to such invertible affine maps and the optimisation is not sensitive to
the embedding's scale, which changes a lot over SSL training.

Defaults
--------
``steps=400, batch_size=256, Adam with lr 5e-4 (images) / 1e-3 (vectors) annealed to 0 by a cosine
schedule, ema_rate=0.01, hidden=128, eval_fraction=0.2, final_evals=3, marginal_shifts=8``.
The cosine schedule settles the held-out curve between read-outs; the estimate has not saturated
at 400 steps (values are relative, see the bias note). Timings, seed spreads and the noise
ablation at the quick claim size: docs/PERFORMANCE.md (``tests/metrics/test_mine_bench.py``).
Low-dimensional Gaussian tests (tests/metrics/test_mine.py) recover -(d/2) log(1 - rho^2)
within max(0.1 nats, 15 %) with N=5,000 and 500 steps.

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(2000, 1, generator=g)
>>> z = 0.8 * x + 0.6 * torch.randn(2000, 1, generator=g)   # true MI = -0.5 log(1 - 0.64) = 0.51 nats
>>> r = mine_estimate(x, z, seed=0, steps=600, batch_size=256)
>>> 0.3 < r.mi < 0.6
True
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from .validation import MetricInputError

__all__ = [
    "MineInputError",
    "MineResult",
    "MineSettings",
    "StatisticsNetwork",
    "make_statistics_network",
    "mine_estimate",
    "mine_multi_seed",
    "mine_shuffled_null",
    "gaussian_mi",
]

DEFAULT_STEPS = 400
DEFAULT_BATCH_SIZE = 256
DEFAULT_LR = {"vector": 1e-3, "image": 5e-4}  # Adam peak lr per variant (lr=None picks it)
DEFAULT_EMA_RATE = 0.01
DEFAULT_HIDDEN = 128


class MineInputError(MetricInputError):
    """Inputs or settings of a MINE estimate are invalid; the message names the argument and the problem.

    A :class:`~sslre.metrics.validation.MetricInputError`, hence a ``ValueError``.
    """


# ----------------------------------------------------------------------------------------------
# Statistics networks
# ----------------------------------------------------------------------------------------------
class StatisticsNetwork(nn.Module):
    """``T(x, z) = head(join(x_encoder(x), z_encoder(z)))``, scored per pair.

    Split into encoders so that a batch's x side (the conv trunk for images) and z side are each
    computed once and reused for the joint and the marginal term: ``score(hx, hz[perm])``.

    Args:
        x_encoder: ``(B, *x_shape) -> (B, Hx)``.
        z_encoder: ``(B, Dz) -> (B, Hz)``.
        head: ``(B, J) -> (B, 1)`` where ``J = Hx + Hz`` (join ``"concat"``) or ``Hx`` (join ``"add"``).
        join: ``"concat"`` or ``"add"``.
    """

    def __init__(self, x_encoder: nn.Module, z_encoder: nn.Module, head: nn.Module, join: str) -> None:
        super().__init__()
        if join not in ("concat", "add"):
            raise MineInputError(f"join must be 'concat' or 'add', got {join!r}")
        self.x_encoder = x_encoder
        self.z_encoder = z_encoder
        self.head = head
        self.join = join

    @property
    def trunk(self) -> nn.Module:
        """The x side (the conv trunk for images): run once per batch."""
        return self.x_encoder

    def encode_x(self, x: Tensor) -> Tensor:
        return self.x_encoder(x)

    def encode_z(self, z: Tensor) -> Tensor:
        return self.z_encoder(z)

    def score(self, hx: Tensor, hz: Tensor) -> Tensor:
        """Scores of the pairs ``(hx[i], hz[i])``: ``(B, Hx), (B, Hz) -> (B,)``."""
        if self.join == "concat":
            h = torch.cat([hx, hz], dim=1)  # (B, Hx + Hz)
        else:
            h = hx + hz  # (B, H): split first layer of an MLP on concat(x, z)
        return self.head(h).squeeze(1)  # (B, 1) -> (B,)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.score(self.encode_x(x), self.encode_z(z))


def make_statistics_network(
    x_shape: Sequence[int], z_dim: int, *, hidden: int = DEFAULT_HIDDEN, seed: int = 0
) -> StatisticsNetwork:
    """Build the statistics network for per-sample shapes ``x_shape`` and ``z_dim`` (CPU, float32).

    ``x_shape`` of length 1 ``(Dx,)`` gives the vector variant (MLP on ``concat(x, z)``, 2 hidden
    layers of ``hidden`` ELU units); length 3 ``(C, H, W)`` with ``H, W >= 8`` gives the image variant
    (conv trunk + z MLP + head). The weights are drawn from ``seed`` without touching the global RNG.
    """
    x_shape = tuple(int(s) for s in x_shape)
    if hidden < 1:
        raise MineInputError(f"hidden must be >= 1, got {hidden}")
    if z_dim < 1:
        raise MineInputError(f"z_dim must be >= 1, got {z_dim}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if len(x_shape) == 1:
            x_enc = nn.Linear(x_shape[0], hidden)  # (B, Dx) -> (B, H)
            z_enc = nn.Linear(z_dim, hidden, bias=False)  # (B, Dz) -> (B, H); bias lives in x_enc
            head = nn.Sequential(nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, 1))
            return StatisticsNetwork(x_enc, z_enc, head, join="add")
        if len(x_shape) == 3:
            c, h, w = x_shape
            if h < 8 or w < 8:
                raise MineInputError(f"images must be at least 8x8 for the conv trunk, got {h}x{w}")
            # Patchify trunk: 4x4/stride-4 then 2x2/stride-2 convs see every pixel once, at a fraction of
            # the cost of a stack of stride-2 convs on CPU (docs/PERFORMANCE.md).
            trunk = nn.Sequential(
                nn.Conv2d(c, 32, 4, stride=4), nn.ReLU(),  # (B, 32, H/4, W/4)
                nn.Conv2d(32, 64, 2, stride=2), nn.ReLU(),  # (B, 64, H/8, W/8)
                nn.AdaptiveAvgPool2d(4),  # (B, 64, 4, 4); the identity at 32x32
                nn.Flatten(),  # (B, 1024): keep spatial layout, embeddings depend on where things are
                nn.Linear(64 * 16, hidden), nn.ELU(),  # (B, H)
            )
            z_enc = nn.Sequential(nn.Linear(z_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU())
            head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ELU(), nn.Linear(hidden, 1))
            return StatisticsNetwork(trunk, z_enc, head, join="concat")
    raise MineInputError(
        f"x must be vectors (N, D) or images (N, C, H, W); per-sample shape {x_shape} is neither"
    )


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MineResult:
    """One MINE estimate (nats).

    Attributes:
        mi: the estimate: mean of the last ``final_evals`` held-out DV bounds (nats).
        eval_std: std over batch-sized chunks of the held-out set of the final DV bound (sampling noise).
        train_curve: ``(steps,)`` DV bound of each training batch (noisy, in-sample).
        eval_steps: ``(E,)`` step after which each held-out evaluation ran.
        eval_curve: ``(E,)`` held-out DV bound at those steps (with the cross-fitted shrinkage if on).
        eval_curve_raw: ``(E,)`` the same without shrinkage (the plain network's held-out bound).
        seed, steps, batch_size, lr (peak), ema_rate, hidden: settings used (batch clipped to the train set).
        n_train, n_eval: pairs used for training and for the read-out.
        variant: ``"image"`` or ``"vector"``.
        seconds: wall-clock time of the estimate (not part of equality).
    """

    mi: float
    eval_std: float
    train_curve: Tensor = field(compare=False, repr=False)
    eval_steps: Tensor = field(compare=False, repr=False)
    eval_curve: Tensor = field(compare=False, repr=False)
    eval_curve_raw: Tensor = field(compare=False, repr=False)
    seed: int = 0
    steps: int = 0
    batch_size: int = 0
    lr: float = 0.0
    ema_rate: float = 0.0
    hidden: int = 0
    n_train: int = 0
    n_eval: int = 0
    variant: str = ""
    seconds: float = field(default=0.0, compare=False)

    def __float__(self) -> float:
        return self.mi

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (curves as lists)."""
        return {
            "mi": self.mi, "eval_std": self.eval_std,
            "train_curve": self.train_curve.tolist(), "eval_steps": self.eval_steps.tolist(),
            "eval_curve": self.eval_curve.tolist(), "eval_curve_raw": self.eval_curve_raw.tolist(),
            "seed": self.seed, "steps": self.steps,
            "batch_size": self.batch_size, "lr": self.lr, "ema_rate": self.ema_rate, "hidden": self.hidden,
            "n_train": self.n_train, "n_eval": self.n_eval, "variant": self.variant, "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MineSettings:
    """Everything of a MINE estimate except the data, the seed and the network (see :func:`mine_estimate`).

    ``mine_estimate(x, z, settings, steps=...)``: keyword arguments override single fields, so
    ``mine_estimate(x, z, steps=200, batch_size=128)`` reads like the fields themselves.
    """

    steps: int = DEFAULT_STEPS  # Adam steps
    batch_size: int = DEFAULT_BATCH_SIZE  # pairs per step (clipped to the training set)
    lr: float | None = None  # Adam peak lr; None = DEFAULT_LR[variant]
    lr_schedule: str = "cosine"  # "cosine" (anneal to 0 over steps) or "constant"
    ema_rate: float = DEFAULT_EMA_RATE  # rate of the moving average of E[e^T] (bias-corrected gradient)
    hidden: int = DEFAULT_HIDDEN  # width of the statistics network
    eval_fraction: float = 0.2  # share of pairs held out for the read-out; 0 = read out on the training pairs
    eval_every: int | None = None  # steps between held-out evaluations; None = max(1, steps // 10)
    final_evals: int = 3  # last evaluations averaged into the estimate
    marginal_shifts: int = 8  # K: the held-out marginal term uses n_eval * K mismatched pairs
    shrink: bool = True  # cross-fitted a * T read-out (guards against a memorising network)
    num_threads: int | None = None  # CPU threads for the call (restored afterwards); None = torch's setting

    def check(self) -> None:
        """Raise :class:`MineInputError` naming the first invalid field."""
        nt = self.num_threads
        if nt is not None and (int(nt) != nt or nt < 1):
            raise MineInputError(f"num_threads must be a positive integer or None, got {nt!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise MineInputError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        lr = 1.0 if self.lr is None else self.lr
        ints = (("steps", self.steps, 1, "a positive integer"), ("batch_size", self.batch_size, 2, "an integer >= 2"))
        for name, value, low, what in ints:
            if int(value) != value or value < low:
                raise MineInputError(f"{name} must be {what}, got {value!r}")
        if not (lr > 0 and math.isfinite(lr)):
            raise MineInputError(f"lr must be a positive finite number, got {lr!r}")
        if not (0 < self.ema_rate <= 1):
            raise MineInputError(f"ema_rate must be in (0, 1], got {self.ema_rate!r}")
        if not (0 <= self.eval_fraction < 1):
            raise MineInputError(f"eval_fraction must be in [0, 1), got {self.eval_fraction!r}")
        if self.eval_every is not None and (int(self.eval_every) != self.eval_every or self.eval_every < 1):
            raise MineInputError(f"eval_every must be a positive integer or None, got {self.eval_every!r}")
        for name in ("final_evals", "marginal_shifts", "hidden"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise MineInputError(f"{name} must be a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------
def _check_tensor(name: str, t: Any) -> Tensor:
    if not isinstance(t, Tensor):
        raise MineInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.is_complex():
        raise MineInputError(f"{name} must be real-valued, got dtype {t.dtype}")
    if t.dtype == torch.bool:
        raise MineInputError(f"{name} must be numeric, got dtype {t.dtype}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise MineInputError(f"{name} contains {n_bad} non-finite values (NaN or Inf)")
    return t


def _prepare(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Validate ``x``/``z`` and return float32 standardised copies on their device."""
    x = _check_tensor("x", x)
    z = _check_tensor("z", z)
    if x.device != z.device:
        raise MineInputError(f"x and z must be on the same device, got x on {x.device} and z on {z.device}")
    if x.ndim == 1:
        x = x[:, None]  # (N,) -> (N, 1)
    if z.ndim == 1:
        z = z[:, None]  # (N,) -> (N, 1)
    if x.ndim not in (2, 4):
        raise MineInputError(f"x must be (N, D) vectors or (N, C, H, W) images, got shape {tuple(x.shape)}")
    if z.ndim != 2:
        raise MineInputError(f"z must be (N, D) embeddings, got shape {tuple(z.shape)}")
    if x.shape[0] != z.shape[0]:
        raise MineInputError(f"x and z must have the same number of samples, got {x.shape[0]} and {z.shape[0]}")
    if x.shape[0] < 8:
        raise MineInputError(f"MINE needs at least 8 (x, z) pairs, got {x.shape[0]}")
    if min(x.shape[1:]) < 1 or z.shape[1] < 1:
        raise MineInputError(f"x and z need at least one feature, got shapes {tuple(x.shape)}, {tuple(z.shape)}")
    x = x.float()
    z = z.float()
    # MI is invariant to invertible per-channel / per-dimension affine maps; standardising makes the
    # statistics network see the same scale whatever the encoder's (changing) output scale is.
    x = _standardize(x, dims=(0, 2, 3) if x.ndim == 4 else (0,))
    z = _standardize(z, dims=(0,))
    return x, z


def _standardize(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    mean = t.mean(dim=dims, keepdim=True)
    std = t.std(dim=dims, keepdim=True)
    # A constant feature carries no information: map it to exactly 0 instead of amplifying round-off.
    constant = std <= 1e-6 * (1.0 + mean.abs())
    out = (t - mean) / torch.where(constant, torch.ones_like(std), std)
    return torch.where(constant, torch.zeros_like(out), out)


def _derangement(n: int, generator: torch.Generator) -> Tensor:
    """A random permutation of ``range(n)`` without fixed points (one random cycle), ``(n,)`` int64."""
    perm = torch.randperm(n, generator=generator)
    out = torch.empty_like(perm)
    out[perm] = perm.roll(1)  # perm[j] is paired with perm[j - 1] != perm[j]
    return out


def _logmeanexp(t: Tensor) -> Tensor:
    return torch.logsumexp(t.reshape(-1), dim=0) - math.log(t.numel())


# ----------------------------------------------------------------------------------------------
# Estimation
# ----------------------------------------------------------------------------------------------
_SHRINK_GRID = torch.linspace(0.0, 1.0, 101)  # candidate scales a for the cross-fitted shrinkage


def _dv(t_joint: Tensor, t_marg: Tensor) -> Tensor:
    """DV bound ``mean(T_joint) - log mean exp(T_marg)`` from scores ``(n,)`` and ``(K, n)``."""
    return t_joint.mean() - _logmeanexp(t_marg)


def _best_shrink(t_joint: Tensor, t_marg: Tensor) -> float:
    """The scale ``a`` in [0, 1] maximising the DV bound of ``a * T`` on these scores (concave in a)."""
    grid = _SHRINK_GRID.to(t_joint.device)[:, None]  # (G, 1)
    joint = grid[:, 0] * t_joint.mean()  # (G,)
    marg = torch.logsumexp(grid * t_marg.reshape(1, -1), dim=1) - math.log(t_marg.numel())  # (G,)
    return float(_SHRINK_GRID[int(torch.argmax(joint - marg))])


@torch.no_grad()
def _heldout_bound(net: StatisticsNetwork, x: Tensor, z: Tensor, order: Tensor, shifts: int,
                   chunk: int, shrink: bool) -> tuple[float, float, Tensor]:
    """DV bound on the held-out pairs ``(x[i], z[i])``: ``(bound, raw_bound, per_chunk (n_chunks,))``.

    ``order`` is a fixed random order of the set; the marginal pairs are ``(x[order[i]], z[order[i-k]])``
    for ``k = 1..shifts``: ``n * shifts`` distinct mismatched pairs.

    Shrinkage (``shrink=True``): a statistics network that has memorised its training pairs is
    over-confident on new pairs and its raw held-out bound drops far below 0 (e.g. -1.9 nats on
    shuffled pairs at the quick size). Any ``a * T`` is also a valid DV critic, so the bound is read
    out with ``a`` in [0, 1] chosen on one half of the held-out set and applied to the other half
    (cross-fitted both ways, then averaged); choosing and reading on disjoint halves keeps the
    read-out free of selection bias, and ``a = 0`` caps the damage of over-confidence at about 0.
    """
    was_training = net.training
    net.eval()
    n = x.shape[0]
    hx = torch.cat([net.encode_x(x[i:i + chunk]) for i in range(0, n, chunk)])[order]  # (n, Hx), trunk once
    hz = net.encode_z(z)[order]  # (n, Hz)
    t_joint = net.score(hx, hz)  # (n,)
    t_marg = torch.stack([net.score(hx, hz.roll(k, dims=0)) for k in range(1, shifts + 1)])  # (K, n)
    raw = float(_dv(t_joint, t_marg))
    if shrink:
        half = n // 2  # positions are already in random order, so the halves are random halves
        a_first = _best_shrink(t_joint[:half], t_marg[:, :half])
        a_second = _best_shrink(t_joint[half:], t_marg[:, half:])
        bound = 0.5 * float(_dv(a_second * t_joint[:half], a_second * t_marg[:, :half])
                            + _dv(a_first * t_joint[half:], a_first * t_marg[:, half:]))
        scale = torch.full((n,), a_first)
        scale[:half] = a_second
        scale = scale.to(t_joint.device)
        t_joint, t_marg = scale * t_joint, scale * t_marg  # (n,), (K, n): the scaled critic per half
    else:
        bound = raw
    per_chunk = torch.stack([
        _dv(t_joint[i:i + chunk], t_marg[:, i:i + chunk]) for i in range(0, n, chunk)
    ]).cpu()  # (n_chunks,)
    net.train(was_training)
    return bound, raw, per_chunk


def mine_estimate(
    x: Tensor, z: Tensor, settings: MineSettings | None = None, *, seed: int = 0,
    network: StatisticsNetwork | None = None, **overrides: Any,
) -> MineResult:
    """MINE estimate of I(X; Z) in nats (Belghazi et al. 2018; paper Sec. 4, Fig. 3 middle).

    ``I(X; Z) >= E_P[T] - log E_{P_X (x) P_Z}[e^T]``, maximised over a statistics network T with
    Adam and the moving-average (``ema_rate``) bias-corrected gradient; the estimate is the mean of
    the last ``final_evals`` DV bounds on the held-out pairs (see the module docstring).

    Args:
        x: ``(N, C, H, W)`` images (uint8 or float; standardised per channel) or ``(N, Dx)`` / ``(N,)``
            vectors. Defines the device: everything runs where ``x`` lives.
        z: ``(N, D)`` or ``(N,)`` embeddings of the same N samples, same device.
        settings: a :class:`MineSettings` (default: its defaults); ``**overrides`` replace single
            fields by name (``steps=``, ``batch_size=``, ``lr=``, ``num_threads=``, ...). ``num_threads``
            sets the CPU threads for this call only: on a CPU shared with other jobs, 1 thread avoids
            oversubscription (docs/PERFORMANCE.md).
        seed: seeds the network init, the train / held-out split and the batch order.
            Same seed and inputs give the same numbers on CPU.
        network: a fresh :class:`StatisticsNetwork` to train instead of the default one (it is moved
            to x's device and trained in place).

    Returns:
        :class:`MineResult` with ``mi`` (nats; relative, see the bias note), the curves and settings.
        Independent x and z give ``mi`` about 0 (slightly negative is possible); larger is more
        information.

    Raises:
        MineInputError: shapes, lengths, non-finite values, devices or settings are invalid.
        TypeError: an override names no :class:`MineSettings` field.
    """
    cfg = replace(MineSettings() if settings is None else settings, **overrides)
    cfg.check()
    with _num_threads(cfg.num_threads):
        return _estimate(x, z, cfg, int(seed), network)


@contextlib.contextmanager
def _num_threads(n: int | None):
    """Within: ``n`` torch CPU threads (``None``: unchanged); the previous count is restored, also on errors."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class _Split:
    """The train / held-out split of one estimate (indices into the N pairs, on the CPU)."""

    train_idx: Tensor  # (n_train,)
    x_eval: Tensor  # (n_eval, ...) held-out x, on x's device
    z_eval: Tensor  # (n_eval, Dz)
    eval_order: Tensor  # (n_eval,) fixed random order of the held-out set (marginal pairs by rolling it)
    shifts: int  # marginal shifts actually used (< n_eval)
    bsz: int  # batch size clipped to the training set


def _split(x: Tensor, z: Tensor, cfg: MineSettings, gen: torch.Generator) -> _Split:
    """Hold out ``eval_fraction`` of the pairs (draws from ``gen``: the split, then the held-out order)."""
    n, device = x.shape[0], x.device
    perm = torch.randperm(n, generator=gen)
    if cfg.eval_fraction > 0:
        n_eval = min(max(2, round(cfg.eval_fraction * n)), n - 2)
        eval_idx, train_idx = perm[:n_eval], perm[n_eval:]
    else:
        eval_idx, train_idx = perm, perm
    n_eval = eval_idx.numel()
    eval_order = torch.randperm(n_eval, generator=gen).to(device)
    return _Split(train_idx=train_idx, x_eval=x[eval_idx.to(device)], z_eval=z[eval_idx.to(device)],
                  eval_order=eval_order, shifts=min(int(cfg.marginal_shifts), n_eval - 1),
                  bsz=min(int(cfg.batch_size), train_idx.numel()))


def _estimate(x: Tensor, z: Tensor, cfg: MineSettings, seed: int, network: StatisticsNetwork | None) -> MineResult:
    """:func:`mine_estimate` with checked settings, under its thread count."""
    t0 = time.perf_counter()
    x, z = _prepare(x, z)
    variant = "image" if x.ndim == 4 else "vector"
    lr = DEFAULT_LR[variant] if cfg.lr is None else float(cfg.lr)
    gen = torch.Generator().manual_seed(seed)  # CPU stream for split, batches and shuffles
    split = _split(x, z, cfg, gen)
    if network is None:
        network = make_statistics_network(x.shape[1:], z.shape[1], hidden=cfg.hidden, seed=seed)
    elif not isinstance(network, StatisticsNetwork):
        raise MineInputError(f"network must be a StatisticsNetwork, got {type(network).__name__}")
    net = network.to(x.device)
    net.train()
    eval_at, train_curve, eval_curve, eval_curve_raw, chunks = _train(net, x, z, split, cfg, lr, gen)
    k = min(int(cfg.final_evals), len(eval_curve))
    mi = float(sum(eval_curve[-k:]) / k)
    eval_std = float(chunks.std()) if chunks is not None and chunks.numel() > 1 else 0.0
    return MineResult(
        mi=mi, eval_std=eval_std, train_curve=train_curve, eval_steps=torch.tensor(eval_at),
        eval_curve=torch.tensor(eval_curve), eval_curve_raw=torch.tensor(eval_curve_raw),
        seed=seed, steps=int(cfg.steps), batch_size=split.bsz, lr=float(lr),
        ema_rate=float(cfg.ema_rate), hidden=int(cfg.hidden), n_train=split.train_idx.numel(),
        n_eval=split.x_eval.shape[0], variant=variant, seconds=time.perf_counter() - t0,
    )


def _train(net: StatisticsNetwork, x: Tensor, z: Tensor, split: _Split, cfg: MineSettings, lr: float,
           gen: torch.Generator):
    """Adam on the bias-corrected DV surrogate, held-out read-outs on the way.

    Returns ``(eval_at, train_curve (steps,), eval_curve, eval_curve_raw, last per-chunk bounds or None)``.
    """
    steps, bsz, device = cfg.steps, split.bsz, x.device
    n_train = split.train_idx.numel()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if cfg.lr_schedule == "cosine" else None
    log_decay, log_rate = math.log1p(-cfg.ema_rate) if cfg.ema_rate < 1 else -math.inf, math.log(cfg.ema_rate)
    every = int(cfg.eval_every) if cfg.eval_every is not None else max(1, steps // 10)
    eval_at = sorted(set(range(every, steps + 1, every)) | {steps})
    eval_at_set = set(eval_at)
    train_curve = torch.empty(steps)
    eval_curve: list[float] = []
    eval_curve_raw: list[float] = []
    chunks: Tensor | None = None
    order = split.train_idx[torch.randperm(n_train, generator=gen)]
    pos = 0
    log_ema: Tensor | None = None
    for step in range(1, steps + 1):
        if pos + bsz > n_train:  # epoch boundary: fresh order, drop the ragged tail
            order = split.train_idx[torch.randperm(n_train, generator=gen)]
            pos = 0
        idx = order[pos:pos + bsz].to(device)
        pos += bsz
        hx = net.encode_x(x[idx])  # (B, Hx): the trunk runs once, shared by both terms
        hz = net.encode_z(z[idx])  # (B, Hz)
        t_joint = net.score(hx, hz)  # (B,) aligned pairs ~ P_XZ
        shuffle = _derangement(bsz, gen).to(device)
        t_marg = net.score(hx, hz[shuffle])  # (B,) z shuffled ~ P_X (x) P_Z
        lme = _logmeanexp(t_marg)  # log E_B[e^T]
        with torch.no_grad():
            d = lme.detach()
            log_ema = d if log_ema is None else torch.logaddexp(log_ema + log_decay, d + log_rate)
        # Surrogate whose gradient is grad E[T_joint] - grad E_B[e^T] / EMA(E[e^T]) (bias-corrected).
        loss = -(t_joint.mean() - torch.exp(lme - log_ema))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        train_curve[step - 1] = float(t_joint.detach().mean() - d)
        if step in eval_at_set:
            bound, raw, chunks = _heldout_bound(net, split.x_eval, split.z_eval, split.eval_order, split.shifts, bsz,
                                                cfg.shrink)
            eval_curve.append(bound)
            eval_curve_raw.append(raw)
    return eval_at, train_curve, eval_curve, eval_curve_raw, chunks


def mine_multi_seed(x: Tensor, z: Tensor, seeds: Sequence[int] = (0, 1, 2, 3, 4), **kwargs: Any) -> dict[str, Any]:
    """Average of :func:`mine_estimate` over MINE seeds (the paper averages 5, Sec. 4, Fig. 3 middle).

    Returns ``{"mean": float, "std": float (sample std, ddof=1; 0 for one seed), "values": list[float],
    "seeds": tuple[int, ...]}`` in nats. ``kwargs`` go to :func:`mine_estimate` (not ``seed``).
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise MineInputError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise MineInputError(f"seeds must be distinct, got {seeds}")
    if "seed" in kwargs:
        raise MineInputError("pass seeds=..., not seed=..., to mine_multi_seed")
    values = [mine_estimate(x, z, seed=s, **kwargs).mi for s in seeds]
    v = torch.tensor(values, dtype=torch.float64)
    std = float(v.std()) if len(values) > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "values": values, "seeds": seeds}


def mine_shuffled_null(x: Tensor, z: Tensor, *, seed: int = 0, shuffle_seed: int | None = None,
                       **kwargs: Any) -> MineResult:
    """MINE on pairs whose z is globally shuffled: X and Z independent, so the true MI is 0.

    The control for :func:`mine_estimate`: with the same settings the estimate should be about 0
    (within a few hundredths of a nat; it may be slightly negative). ``shuffle_seed`` (default
    ``seed + 1``) draws the permutation; the other arguments are those of :func:`mine_estimate`.
    """
    z = _check_tensor("z", z)
    if z.ndim == 0:
        raise MineInputError("z must be (N, D) embeddings, got a scalar")
    g = torch.Generator().manual_seed(int(seed) + 1 if shuffle_seed is None else int(shuffle_seed))
    perm = torch.randperm(z.shape[0], generator=g).to(z.device)
    return mine_estimate(x, z[perm], seed=seed, **kwargs)


def gaussian_mi(rho: float, dim: int) -> float:
    """True MI of ``dim`` independent pairs of unit Gaussians with correlation ``rho``: ``-(d/2) log(1 - rho^2)`` nats."""
    if not (-1 < rho < 1):
        raise MineInputError(f"rho must be in (-1, 1), got {rho!r}")
    if dim < 1:
        raise MineInputError(f"dim must be >= 1, got {dim!r}")
    return -0.5 * dim * math.log1p(-rho * rho)
