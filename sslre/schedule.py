"""Learning-rate schedule maths: how far a run is through its training, measured by the lr integral.

The paper trains with SGD and cosine annealing from epoch 0 to 1000, without warm-up (App. A.3). Our runs are
shorter and may warm up linearly first (:func:`sslre.train.lr_factor`). "Paper epoch e of 1000" is mapped to
the checkpoint at which the run has spent the same **share of its learning-rate integral** as the paper's
schedule at e (claims/PROTOCOL.md, "Checkpoints"): epoch 100 of 1000 is about 20% of the paper's integral, not
10%. Warm-up epochs never count as early: a mapped epoch other than 0 lies after the warm-up.

Shares use the continuous schedule (many steps per epoch): linear warm-up over ``W`` epochs, then
``0.5 * (1 + cos(pi * t))`` over the remaining ``E - W``.
"""
from __future__ import annotations

import math

#: The paper's checkpoint epochs (Figs. 5, 7, 11, 12: 20, 40, 100, 400, 1000), plus initialization.
PAPER_EPOCHS = (0, 20, 40, 100, 400, 1000)
PAPER_LAST_EPOCH = 1000


def lr_share(epoch: float, epochs: int, warmup_epochs: int = 0) -> float:
    """Share in [0, 1] of the run's total lr integral spent by the end of ``epoch``.

    >>> round(lr_share(100, 1000), 4)            # the paper's epoch 100: about a fifth of its integral
    0.1984
    >>> lr_share(2, 20, 4) < lr_share(5, 20, 4) < 1.0 == lr_share(20, 20, 4)
    True
    """
    if epochs < 1 or not 0 <= warmup_epochs <= epochs:
        raise ValueError(f"need epochs >= 1 and 0 <= warmup_epochs <= epochs, got {epochs}, {warmup_epochs}")
    e = min(max(float(epoch), 0.0), float(epochs))
    w, span = float(warmup_epochs), float(epochs - warmup_epochs)
    total = w / 2.0 + span / 2.0
    if e <= w:
        return (e * e / (2.0 * w)) / total if w > 0 else 0.0
    t = e - w
    done = w / 2.0 + 0.5 * (t + span / math.pi * math.sin(math.pi * t / span))
    return min(1.0, done / total)


def paper_share(paper_epoch: float, paper_last: int = PAPER_LAST_EPOCH) -> float:
    """Share of the paper's lr integral (cosine, no warm-up) at ``paper_epoch`` of ``paper_last``."""
    return lr_share(paper_epoch, paper_last, 0)


def paper_epoch_to_run(paper_epoch: float, epochs: int, warmup_epochs: int = 0,
                       candidates: "list[int] | tuple[int, ...] | None" = None) -> int:
    """The run epoch (from ``candidates``, default every epoch) whose lr share is closest to the paper's at
    ``paper_epoch`` (ties: the later one). Paper epoch 0 maps to 0; any other never to a warm-up epoch.

    >>> paper_epoch_to_run(100, 1000)
    100
    >>> paper_epoch_to_run(100, 20, 4)              # inside the warm-up by share: the first epoch after it
    5
    """
    if paper_epoch <= 0:
        return 0
    target = paper_share(paper_epoch)
    if candidates is None:   # every epoch: bisect (the share rises with the epoch), so any epochs count is instant
        return _closest_epoch(target, epochs, warmup_epochs)
    cands = sorted(int(c) for c in candidates)
    cands = [c for c in cands if warmup_epochs < c <= epochs] or [c for c in cands if c > 0]
    if not cands:
        raise ValueError(f"no run epoch after the warm-up ({warmup_epochs}) among {candidates}")
    return min(cands, key=lambda c: (abs(lr_share(c, epochs, warmup_epochs) - target), -c))


def _closest_epoch(target: float, epochs: int, warmup_epochs: int) -> int:
    """:func:`paper_epoch_to_run` over every epoch: the run epoch after the warm-up (any epoch >= 1 if the warm-up
    is the whole run) whose lr share is closest to ``target``, ties to the later one; O(log epochs)."""
    lo = warmup_epochs + 1 if warmup_epochs < epochs else 1
    hi = epochs
    if epochs < 1:
        raise ValueError(f"no run epoch after the warm-up ({warmup_epochs}) among 0..{epochs}")
    share = lambda c: lr_share(c, epochs, warmup_epochs)  # noqa: E731 - non-decreasing in c
    a, b = lo, hi                                          # the first epoch in [lo, hi] whose share >= target
    while a < b:
        mid = (a + b) // 2
        if share(mid) >= target:
            b = mid
        else:
            a = mid + 1
    best = max((c for c in range(a - 1, a + 2) if lo <= c <= hi), key=lambda c: (-abs(share(c) - target), c))
    return best


def checkpoint_schedule(epochs: int, warmup_epochs: int = 0, paper_epochs: tuple[int, ...] = PAPER_EPOCHS
                        ) -> tuple[int, ...]:
    """Checkpoint epochs of a run: 0, the last, and each paper epoch mapped by :func:`paper_epoch_to_run`.

    >>> checkpoint_schedule(1000)
    (0, 20, 40, 100, 400, 1000)
    """
    w = min(int(warmup_epochs), int(epochs))     # a warm-up longer than the run is the whole run
    out = {0, int(epochs)} | {paper_epoch_to_run(p, epochs, w) for p in paper_epochs}
    return tuple(sorted(out))
