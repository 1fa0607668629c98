"""Hierarchical paired bootstrap over run units and test examples, from per-example arrays.

A board's figures vary with two things: the run (its seed, and with a per-seed split its test
set too) and the finite test set. A test over seeds alone calls a deterministic model's 1e-4
gap significant (its variance over seeds is zero); a test over examples alone ignores training
variance. Two-stage resampling covers both (Davison & Hinkley 1997, §3.8):

1. draw the board's S units (seeds) S times with replacement;
2. within each drawn unit, draw its test examples with replacement, stratified by class where
   the board has anomaly labels (every resample keeps both classes; pROC's default). Units that
   share one test set (a fixed split: every seed is evaluated on the same examples) share one
   example draw, as the examples are one sample crossed with the seeds (Owen 2007, the
   "pigeonhole" bootstrap); a unit whose test set is its own (a per-seed split) gets a fresh
   draw at every position it is drawn at;
3. recompute each metric of each drawn unit from the stored per-example arrays under the
   resample's example counts (recon MSE, NLL, and AUROC, AUPRC, F1/precision/recall at the
   run's stored threshold, oracle F1) and average over the drawn units.

Every row of a board uses the same unit and example draws (models share each unit's test set),
so a difference between two rows is resampled paired. The draws come from a generator seeded
by the board's name and the example set, so a re-publish gives the same bits. AUROC and
average precision are computed for a whole block of resamples at once from one sort per run:
weighted counts per distinct score, cumulated (no per-resample sort).

This module is numbers only: the resampler, the weighted metrics and what they give. A board's
replicates from its records and their stored arrays are built in
:mod:`aebench.report.replicates`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BLOCK",
    "N_BOOT",
    "RANKED",
    "SEED",
    "RankedScores",
    "Replicates",
    "Resampler",
    "Series",
    "method_note",
    "ranked_metrics",
    "weighted_mean",
]

#: resamples per board: the Monte-Carlo error of a standard error from B resamples is about
#: 1/sqrt(2B), 2.2 % here (tail p-values come from Student t, not from counting resamples);
#: chosen for that and a publish of every board within a minute
N_BOOT = 1000
#: the generator's fixed seed (with the board's name and the example set)
SEED = 20261122
#: resamples per block (memory: a block of weights is BLOCK x test examples)
BLOCK = 500
#: anomaly metrics recomputed from (test_scores, test_anomalous, threshold)
RANKED = (
    "anomaly.f1",
    "anomaly.precision",
    "anomaly.recall",
    "anomaly.auroc",
    "anomaly.auprc",
    "anomaly.oracle_f1",
)


def method_note(n_boot: int, n_units: int) -> str:
    """The caption's words for the method (what the intervals and marks are computed with)."""
    return (
        f"hierarchical paired bootstrap, {n_boot:,} resamples: the {n_units} seed(s) with "
        "replacement, then test examples with replacement within each (stratified by class on "
        "anomaly boards; one draw per shared test set), the same draws for every row, each metric "
        "recomputed from the stored per-example values"
    )


# -- resampling -----------------------------------------------------------------------------------


@dataclass
class Resampler:
    """The draws of one board: which units each resample takes, and each unit's example counts.

    ``splits[i]`` names the test set of unit ``i``; units with equal names share it.
    ``units_of`` names another board whose unit draws this one takes (the members of a family
    resample the same seeds, so their mean is resampled as one board's); its example draws stay
    its own.
    """

    board: str
    units: tuple[int, ...]
    splits: tuple[Hashable, ...]
    n_boot: int = N_BOOT
    seed: int = SEED
    units_of: str = ""
    _counts: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)

    def _rng(self, *tag: Any, board: str = "") -> np.random.Generator:
        words = [self.seed] + [zlib.crc32(repr(t).encode()) for t in (board or self.board, *tag)]
        return np.random.default_rng(words)

    def unit_draws(self) -> np.ndarray:
        """(n_boot, S) indices into ``units``: resample b takes units ``draws[b]``."""
        if "units" not in self._counts:
            s = len(self.units)
            rng = self._rng("units", board=self.units_of)
            self._counts["units"] = rng.integers(0, s, (self.n_boot, s))
        return self._counts["units"]

    def _key(self, unit: int, position: int, examples: Hashable) -> tuple:
        split = self.splits[unit]
        shared = sum(sp == split for sp in self.splits) > 1
        return (split, examples) if shared else (split, examples, position)

    def counts(self, key: tuple, n: int, strata: np.ndarray | None) -> np.ndarray:
        """(n_boot, n) example counts of draw ``key`` (uint16; each row sums to n)."""
        if key not in self._counts:
            rng = self._rng("examples", *key, n)
            groups = (
                [np.arange(n)]
                if strata is None
                else [np.flatnonzero(strata == v) for v in np.unique(strata)]
            )
            out = np.zeros((self.n_boot, n), np.uint16)
            for lo in range(0, self.n_boot, BLOCK):
                b = min(BLOCK, self.n_boot - lo)
                offsets = np.arange(b)[:, None] * n
                for g in groups:
                    idx = g[rng.integers(0, len(g), (b, len(g)))]
                    flat = np.bincount((offsets + idx).ravel(), minlength=b * n)
                    out[lo : lo + b] += flat.reshape(b, n).astype(np.uint16)
            self._counts[key] = out
        return self._counts[key]

    def combine(
        self,
        rows_per_unit: dict[int, list[str]],
        examples: dict[int, Hashable],
        n: dict[int, int],
        strata: dict[int, np.ndarray | None],
        evaluate: Callable[[int, np.ndarray], dict[str, dict[str, np.ndarray]]],
    ) -> dict[str, dict[str, Series]]:
        """{row: {metric: Series}}: per resample the mean over its drawn units of
        ``evaluate(unit, weights)`` (weights (n, b) float32: the unit's example counts, a column
        per resample that drew it there; a row missing a drawn unit averages over the others),
        and each unit's value on its whole test set (all weights one)."""
        draws = self.unit_draws()
        tot: dict[str, dict[str, np.ndarray]] = {}
        cnt: dict[str, np.ndarray] = {}
        for j in range(draws.shape[1]):
            for u, rows in rows_per_unit.items():
                sel = np.flatnonzero(draws[:, j] == u)
                if not sel.size:
                    continue
                w = self.counts(self._key(u, j, examples[u]), n[u], strata[u])
                for lo in range(0, sel.size, BLOCK):
                    part = sel[lo : lo + BLOCK]
                    got = evaluate(u, np.ascontiguousarray(w[part].T, dtype=np.float32))
                    for row in rows:
                        c = cnt.setdefault(row, np.zeros(self.n_boot))
                        c[part] += 1
                        acc = tot.setdefault(row, {})
                        for m, v in got[row].items():
                            acc.setdefault(m, np.zeros(self.n_boot))[part] += v
        whole: dict[str, dict[str, dict[int, float]]] = {}
        for u, rows in rows_per_unit.items():
            got = evaluate(u, np.ones((n[u], 1), np.float32))
            for row in rows:
                for m, v in got[row].items():
                    whole.setdefault(row, {}).setdefault(m, {})[self.units[u]] = float(v[0])
        return {
            row: {
                m: Series(
                    np.where(cnt[row] > 0, v / np.maximum(cnt[row], 1), np.nan), whole[row][m]
                )
                for m, v in ms.items()
            }
            for row, ms in tot.items()
        }


@dataclass
class Series:
    """One row's resampled values of one metric, and its value on each unit (by seed)."""

    resamples: np.ndarray
    units: dict[int, float]


# -- metrics under resample weights ------------------------------------------------------------


def weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean of ``values`` (n,) under each column of weights ``w`` (n, b)."""
    return (values @ w) / w.sum(0)


@dataclass
class RankedScores:
    """One run's anomaly scores prepared for weighted metrics, sorted once.

    What the metrics need are cumulated weights, in descending score order, at the end of each
    anomaly's group of tied scores and just before it. ``segments`` (sparse, K x n) sums the
    examples between consecutive such positions; a cumulative sum over its K rows gives them
    (no per-resample sort, no pass over all n per cut). ``at_end``/``at_before`` index those
    rows for each anomaly (-1: before the top, zero).
    """

    anomalies: np.ndarray  # original indices of the anomalies
    segments: Any  # scipy.sparse CSR (K, n): every example
    segments_pos: Any  # the same restricted to the anomalies
    at_end: np.ndarray
    at_before: np.ndarray
    alone: np.ndarray  # anomalies tied with no normal: false positives before = at the end
    flag_pos: np.ndarray  # flagged anomalies (score > threshold), in the original order
    flag_neg: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, labels: np.ndarray, threshold: float) -> RankedScores:
        from scipy.sparse import csr_matrix

        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        n = len(s)
        order = np.argsort(-s, kind="stable")
        ss, ys = s[order], y[order]
        new = np.r_[True, ss[1:] != ss[:-1]]
        group = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        ends = np.r_[starts[1:], n] - 1
        pidx = np.flatnonzero(ys)
        end, before = ends[group[pidx]], starts[group[pidx]] - 1
        # only a group that ties anomalies with normals needs the position before it: for the
        # others the false positives before and at its end are equal
        normals_in = np.bincount(group[~ys], minlength=len(starts))[group[pidx]] > 0
        before = np.where(normals_in, before, -2)
        cuts = np.unique(np.r_[end, before[before >= 0], n - 1])
        seg = np.searchsorted(cuts, np.arange(n))  # position m belongs to the first cut >= m

        def matrix(keep):
            m = np.flatnonzero(keep)
            ones = np.ones(len(m), np.float32)
            return csr_matrix((ones, (seg[m], order[m])), shape=(len(cuts), n))

        # -1: before the top (nothing yet); -2: no normals tied (use the group's end)
        at_before = np.where(before >= 0, np.searchsorted(cuts, np.maximum(before, 0)), before)
        flagged = s > threshold  # as aebench.run.metrics.anomaly_metrics: flag score > threshold
        return cls(
            order[pidx],
            matrix(np.ones(n, bool)),
            matrix(ys),
            np.searchsorted(cuts, end),
            np.where(at_before == -2, np.searchsorted(cuts, end), at_before),
            at_before == -2,
            (flagged & y).astype(np.float32),
            (flagged & ~y).astype(np.float32),
        )


def ranked_metrics(r: RankedScores, w: np.ndarray) -> dict[str, np.ndarray]:
    """Each anomaly metric under every column of example weights ``w`` (n, b).

    In descending score order, the cumulated weights at the end of an anomaly's group of tied
    scores are the true and false positives of the threshold at its score. Summed over the
    anomalies: AUROC (Mann-Whitney, half a pair for a tie), average precision (scikit-learn's
    step sum Σ ΔR·P over distinct thresholds) and the oracle F1 (the best F1 over thresholds;
    it is reached at a threshold that takes in an anomaly). F1, precision and recall at the
    run's threshold are sums over the flagged examples.
    """
    zero = np.zeros((1, w.shape[1]), np.float32)
    every = np.vstack([np.cumsum(r.segments @ w, 0), zero])  # row -1: nothing yet
    pos = np.vstack([np.cumsum(r.segments_pos @ w, 0), zero])
    wp = w[r.anomalies]
    tp_end, all_end = pos[r.at_end], every[r.at_end]
    fp_end = all_end - tp_end
    fp_before = every[r.at_before] - pos[r.at_before]
    fp_before[r.alone] = fp_end[r.alone]
    f64 = np.float64
    p = pos[-2].astype(f64)
    n = every[-2].astype(f64) - p
    auroc = (wp * (n[None, :] - 0.5 * (fp_end + fp_before))).sum(0, dtype=f64) / (p * n)
    ratio = np.divide(tp_end, all_end, out=np.zeros_like(tp_end), where=all_end > 0)
    auprc = (wp * ratio).sum(0, dtype=f64) / p
    oracle = (2 * tp_end / (all_end + p[None, :])).max(0)
    t_pos, t_neg = (r.flag_pos @ w).astype(f64), (r.flag_neg @ w).astype(f64)
    flags = t_pos + t_neg
    return {
        "anomaly.f1": 2 * t_pos / (flags + p),
        "anomaly.precision": np.divide(t_pos, flags, out=np.zeros_like(t_pos), where=flags > 0),
        "anomaly.recall": t_pos / p,
        "anomaly.auroc": auroc,
        "anomaly.auprc": auprc,
        "anomaly.oracle_f1": oracle.astype(f64),
    }


# -- what a board's resamples give -----------------------------------------------------------


@dataclass
class Replicates:
    """A board's resampled metric values.

    ``interval[metric][row]``: a :class:`Series` over the examples the row's cell covers;
    ``paired[metric][row]``: over the examples every row of the column covers (the same as
    ``interval`` except for an NLL column whose rows cover different examples).
    """

    n_boot: int
    units: tuple[int, ...]
    interval: dict[str, dict[str, Series]] = field(default_factory=dict)
    paired: dict[str, dict[str, Series]] = field(default_factory=dict)
    #: rows whose per-example values are missing for a metric (no interval, no test)
    missing: dict[str, list[str]] = field(default_factory=dict)
    #: caption lines about what the resamples cover
    notes: list[str] = field(default_factory=list)
