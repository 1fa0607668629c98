"""Was the budget enough? The expected best validation figure against the number of trials.

Dodge, Gururangan, Card, Schwartz & Smith, "Show Your Work: Improved Reporting of Experimental
Results", EMNLP 2019: from N trials drawn independently from one search space, the expected
best of n ≤ N of them is a sum over the sorted values. A curve still falling at n = N says more
trials would likely have found better configurations. TPE's trials are not independent draws,
so under it the curve treats them as exchangeable (the caption says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["expected_best", "tuning_curves"]


def expected_best(values: list[float], n: int, direction: str = "minimize") -> float:
    """E[best of n draws with replacement from ``values``] (Dodge et al. 2019, eq. 1).

    Sorted from best to worst, v_(1) is the best of n draws with probability 1 − ((N−1)/N)^n,
    and v_(i) with probability ((N−i+1)/N)^n − ((N−i)/N)^n.
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    if direction == "maximize":
        v = v[::-1]
    big_n = v.size
    if big_n == 0 or n < 1:
        raise ValueError("expected_best needs at least one value and n >= 1")
    i = np.arange(1, big_n + 1)
    p = ((big_n - i + 1) / big_n) ** n - ((big_n - i) / big_n) ** n
    return float(np.dot(p, v))


def _tuned_runs(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """model -> its tuning information (from any one of its tuned records)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: r["seed"]):
        info = rec.get("tuning")
        if info and info.get("values") and rec["model"]["name"] not in out:
            out[rec["model"]["name"]] = info
    return out


def tuning_curves(records: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """One line per tuned model: expected best validation figure after n of its N trials."""
    from aebench.report.plots import _plt, _save

    runs = _tuned_runs(records)
    if not runs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab20")
    info = next(iter(runs.values()))
    for i, (name, tuning) in enumerate(sorted(runs.items())):
        finished = [v for v in tuning["values"] if v is not None]
        if not finished:
            continue
        ns = np.arange(1, len(tuning["values"]) + 1)
        curve = [expected_best(finished, int(n), tuning["direction"]) for n in ns]
        failed = len(tuning["values"]) - len(finished)
        label = name + (f" ({failed} failed)" if failed else "")
        ax.plot(ns, curve, marker=".", lw=1.2, color=colours(i % 20), label=label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trials n")
    ax.set_ylabel(f"expected best {info['criterion']} after n trials")
    if info["direction"] == "minimize" and all(
        v is None or v > 0 for t in runs.values() for v in t["values"]
    ):
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    sampler = info["sampler"]
    if sampler != "random":
        sampler += " (trials treated as exchangeable)"
    ax.set_title(
        f"{title}\nexpected best validation figure (Dodge et al. 2019) over the finished "
        f"trials; sampler {sampler}",
        fontsize=8,
    )
    return _save(fig, path)
