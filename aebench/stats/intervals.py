"""Statistics over seeds: Student-t intervals of means, median and range (scipy.stats).

Intervals over both seeds and test examples, significance marks and ranks across boards are in
:mod:`aebench.stats.bootstrap`, :mod:`aebench.report.significance` and :mod:`aebench.report.ranking`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None, int]:
    """(mean, half-width of the two-sided t interval, n). Half-width is None for n < 2."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return math.nan, None, 0
    mean = float(v.mean())
    if n < 2:
        return mean, None, n
    sem = stats.sem(v)
    if sem == 0:
        return mean, 0.0, n
    lo, hi = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return mean, float(hi - mean), n


def median_range(values: Sequence[float]) -> tuple[float, float | None, float | None, int]:
    """(median, min, max, n) of the finite values; min and max are None for n < 2.

    For timings: skewed, positive, three seeds; a t interval over them goes negative.
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, None, None, 0
    if len(v) < 2:
        return float(v[0]), None, None, 1
    return float(np.median(v)), float(v.min()), float(v.max()), len(v)
