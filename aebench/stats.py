"""Statistics over seeds: means with Student-t confidence intervals (scipy.stats)."""

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
