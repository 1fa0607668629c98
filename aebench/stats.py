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


def not_significantly_worse(
    best: Sequence[float],
    other: Sequence[float],
    better: str,
    paired_by: str,
    alpha: float = 0.05,
) -> tuple[bool, float]:
    """Is ``other`` not significantly worse than ``best``? (one-sided paired test, p-value).

    ``paired_by="example"``: Wilcoxon signed-rank test over per-example values (paired by
    test example); ``paired_by="seed"``: paired t-test over seeds. H1: ``other`` is worse.
    """
    a, b = np.asarray(best, dtype=float), np.asarray(other, dtype=float)
    if a.shape != b.shape or a.size < 2:
        return True, math.nan  # cannot test: do not claim a difference
    diff = b - a if better == "lower" else a - b  # > 0 means "other is worse"
    if np.allclose(diff, 0):
        return True, 1.0
    if paired_by == "example":
        p = float(stats.wilcoxon(diff, alternative="greater").pvalue)
    elif paired_by == "seed":
        p = float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)
    else:
        raise ValueError(f"paired_by must be 'example' or 'seed', not {paired_by!r}")
    if math.isnan(p):
        return True, p
    return p >= alpha, p


def average_ranks(tables: dict[str, dict[str, float]], better: str) -> dict[str, tuple[float, int]]:
    """Average rank (1 = best, ties averaged) of each model over the tables it appears in.

    ``tables`` maps a table name to {model: value}; returns {model: (mean rank, n tables)}.
    """
    ranks: dict[str, list[float]] = {}
    for values in tables.values():
        names = [k for k, v in values.items() if v is not None and math.isfinite(v)]
        if not names:
            continue
        vals = np.array([values[k] for k in names])
        r = stats.rankdata(vals if better == "lower" else -vals, method="average")
        for k, rk in zip(names, r):
            ranks.setdefault(k, []).append(float(rk))
    return {k: (float(np.mean(v)), len(v)) for k, v in ranks.items()}
