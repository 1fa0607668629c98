"""Was the budget enough? The expected best of n trials, from the values of N ≥ n of them.

Dodge, Gururangan, Card, Schwartz & Smith, "Show Your Work: Improved Reporting of Experimental
Results", EMNLP 2019: from N trials drawn independently from one search space, the expected
best of n ≤ N of them is a sum over the sorted values. A curve still falling at n = N says more
trials would likely have found better configurations. TPE's trials are not independent draws,
so under it the curve treats them as exchangeable. The curves are drawn by
:func:`aebench.report.plots.tuning_curves`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expected_best"]


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
