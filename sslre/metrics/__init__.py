"""Metric kernels: pure functions ``f(features (N, D), labels (N,)) -> Tensor`` (paper Sec. 2.2, 3).

Usable standalone::

    from sslre.metrics import ncc_accuracy, cdnv, linear_probe_accuracy

No I/O and no global state: every kernel reads tensors and returns tensors on the same device.
Bad input raises :class:`MetricInputError` (a ``ValueError``) naming the problem.
"""
from pathlib import Path as _Path

from .cdnv import cdnv, cdnv_matrix, cdnv_parts, class_mean_distance, within_class_variance
from .curves import chance_corrected, majority_accuracy, normalize_by_init, ratio
from .ncc import class_means, ncc_accuracy, ncc_predict
from .validation import MetricInputError

__all__ = [
    "MetricInputError",
    "class_means",
    "ncc_accuracy",
    "ncc_predict",
    "within_class_variance",
    "class_mean_distance",
    "cdnv_matrix",
    "cdnv",
    "cdnv_parts",
    "normalize_by_init",
    "ratio",
    "majority_accuracy",
    "chance_corrected",
]

if (_Path(__file__).parent / "probe.py").exists():
    from .probe import PROBE_METHODS, linear_probe_accuracy, linear_probe_predict

    __all__ += ["linear_probe_accuracy", "linear_probe_predict", "PROBE_METHODS"]

# MINE is written separately (sslre/metrics/mine.py); export it once the file exists.
if (_Path(__file__).parent / "mine.py").exists():
    from .mine import MineResult, mine_estimate, mine_multi_seed, mine_shuffled_null

    __all__ += ["mine_estimate", "mine_multi_seed", "mine_shuffled_null", "MineResult"]
