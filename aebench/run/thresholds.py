"""The anomaly task's label-free threshold: its quantile, its rule in words, and the F1 cap it
implies when the calibration slice holds anomalies.

A threshold at the q-quantile of calibration scores flags about (1 − q) of the test examples
when test scores are distributed like calibration scores. Where the calibration slice is
contaminated (a protocol trained on all training examples), the anomalies in it are scored
high too, so the flagged share stays near 1 − q whatever the test contamination: with k ≈
(1 − q)·n_test flagged and A test anomalies, even a perfect ranking reaches recall k / A and
precision 1 at most (k < A), so F1 ≤ 2k / (k + A). A board's F1 then measures the rule as much
as the model. The contamination-matched rule (``Protocol.contamination_matched``) sets q to
1 − the calibration slice's contamination rate, taken as known: label information at the
data-set level, as PyOD's ``contamination`` parameter, never a label per example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aebench.errors import AebenchError
from aebench.protocol import Protocol

__all__ = ["Cap", "cap", "cap_line", "check", "quantile", "rule"]


def check(protocol: Protocol) -> None:
    """The threshold settings of ``protocol`` fit together (AebenchError naming the fix)."""
    if protocol.contamination_matched and protocol.anomaly_train != "all":
        raise AebenchError(
            f"protocol {protocol.key}: contamination_matched needs anomaly_train='all' (a "
            "calibration slice of normal examples has no contamination to match)"
        )
    if not 0 < protocol.threshold_quantile <= 1:
        raise AebenchError(
            f"protocol {protocol.key}: threshold_quantile must be in (0, 1], not "
            f"{protocol.threshold_quantile}"
        )


def quantile(protocol: Protocol, n_calibration: int, n_calibration_anomalous: int) -> float:
    """The quantile of calibration scores the threshold sits at for ``protocol``."""
    if not protocol.contamination_matched:
        return protocol.threshold_quantile
    return 1.0 - n_calibration_anomalous / n_calibration


def rule(protocol: Protocol, q: float, contamination: float | None = None) -> str:
    """The threshold rule in words, as records and captions show it."""
    where = (
        "held-out normal training examples"
        if protocol.anomaly_train == "normal"
        else "held-out training examples (unlabelled, contaminated)"
    )
    text = f"flag score > the {q:.1%} quantile of scores on {where}"
    if protocol.contamination_matched:
        rate = f" {contamination:.1%}" if contamination is not None else ""
        return (
            f"{text}, i.e. 1 − their contamination rate{rate}, taken as known (label "
            "information at the data-set level, as PyOD's contamination parameter; no test "
            "labels, no label per example)"
        )
    return f"{text} (no test labels)"


@dataclass(frozen=True)
class Cap:
    """What a threshold at quantile q allows on a test split of ``n_test`` with ``n_anomalous``
    anomalies, if the test scores are distributed like the calibration scores."""

    flagged: float  #: expected examples flagged, (1 − q)·n_test
    recall: float  #: at most min(1, flagged / n_anomalous)
    precision: float  #: at most min(1, n_anomalous / flagged)
    f1: float  #: at most the harmonic mean of the two

    @property
    def binding(self) -> bool:
        """Whether the rule keeps even a perfect ranking from F1 = 1 (by more than rounding)."""
        return self.f1 < 0.995


def cap(q: float, n_test: int, n_anomalous: int) -> Cap:
    """The recall/precision/F1 ceiling of a q-quantile threshold (see the module docstring)."""
    flagged = (1.0 - q) * n_test
    recall = min(1.0, flagged / n_anomalous) if n_anomalous else 0.0
    precision = min(1.0, n_anomalous / flagged) if flagged else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Cap(flagged, recall, precision, f1)


def _span(values: list[float], fmt: str) -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def cap_line(recs: list[dict[str, Any]]) -> str | None:
    """A caption line giving the cap when the calibration slice holds anomalies, from the
    records' own counts (None for normal-only calibration)."""
    runs = [r for r in recs if r.get("anomaly") and r["protocol"].get("anomaly_train") == "all"]
    if not runs:
        return None
    caps, qs = [], []
    for r in runs:
        a = r["anomaly"]
        q = a.get("threshold_quantile", r["protocol"]["threshold_quantile"])
        qs.append(q)
        caps.append(cap(q, a["n_test"], a["n_test_anomalous"]))
    a = runs[0]["anomaly"]
    head = (
        f"Threshold-limited F1: the calibration slice holds anomalies, and the rule's quantile "
        f"{_span(qs, '{:.1%}')} flags about {_span([c.flagged for c in caps], '{:,.0f}')} of "
        f"the {a['n_test']:,} test examples ({a['n_test_anomalous']:,} anomalies)"
    )
    if not any(c.binding for c in caps):
        return f"{head}: it does not limit F1 (cap {_span([c.f1 for c in caps], '{:.2f}')})."
    matched = runs[0]["protocol"].get("contamination_matched")
    return (
        f"{head}, so even a perfect ranking reaches recall ≤ "
        f"{_span([c.recall for c in caps], '{:.2f}')}, precision ≤ "
        f"{_span([c.precision for c in caps], '{:.2f}')} and F1 ≤ "
        f"{_span([c.f1 for c in caps], '{:.2f}')}: F1 near the cap measures the rule more than "
        "the model"
        + (
            "."
            if matched
            else " (a contamination-matched protocol variant sets the quantile to 1 − the "
            "calibration slice's contamination)."
        )
    )
