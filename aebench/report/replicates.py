"""A board's bootstrap replicates from its records: the bridge from stored per-example arrays
to the resampler of :mod:`aebench.stats.bootstrap`.

For each row (its records, one per seed) it reads the arrays beside the records, checks that
each run has what a metric needs (rows without are listed as missing: no interval, no test),
and hands the resampler, per seed, the values to reweight: anomaly scores and labels at the
run's threshold, per-example reconstruction errors, and per-example NLLs over the examples every
row covers (and each row's own, where its cell shows those).
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from typing import Any

import numpy as np

from aebench.records import artifacts
from aebench.stats.bootstrap import (
    N_BOOT,
    RANKED,
    RankedScores,
    Replicates,
    Resampler,
    Series,
    ranked_metrics,
    weighted_mean,
)

__all__ = ["board_replicates", "family_replicates"]


def _split_of(record: dict[str, Any]) -> Hashable:
    """The test set a record was evaluated on: its recorded split seed (per-seed splits), else
    the protocol's, so records of one fixed split all share one test set."""
    d, p = record["dataset"], record["protocol"]
    return d.get("split_seed", p.get("split_seed"))


def _nll_index(record: dict[str, Any], arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """Indices into the test split of the stored per-example NLL values. An estimator that
    evaluates fewer examples than it is given takes the first ones (the harness's contract); a
    record of a drawn subset stores the indices as ``nll_index``."""
    nll = arrays.get("nll")
    if nll is None:
        return None
    if "nll_index" in arrays:
        return np.asarray(arrays["nll_index"], dtype=np.int64)
    return np.arange(len(nll))


def board_replicates(
    board: str,
    rows: dict[str, list[dict[str, Any]]],
    columns: list[str],
    n_boot: int = N_BOOT,
    units: tuple[int, ...] | None = None,
    units_of: str = "",
) -> Replicates:
    """Resampled values of ``columns`` for each row (``rows``: row name -> its records).
    ``units`` (default: every seed of ``rows``) and ``units_of``: the seeds resampled, and the
    board whose draws of them are taken (:class:`aebench.stats.bootstrap.Resampler`)."""
    ok = {name: [r for r in rs if r["status"] == "ok"] for name, rs in rows.items()}
    ok = {name: rs for name, rs in ok.items() if rs}
    if units is None:
        units = tuple(sorted({r["seed"] for rs in ok.values() for r in rs}))
    out = Replicates(n_boot, units)
    if not units or not ok:
        return out
    splits = {}
    for rs in ok.values():
        for r in rs:
            splits.setdefault(r["seed"], _split_of(r))
    split_of = tuple(splits.get(u, ("absent", u)) for u in units)
    res = Resampler(board, units, split_of, n_boot, units_of=units_of)
    arrays = {(name, r["seed"]): artifacts.of_record(r) for name, rs in ok.items() for r in rs}
    uidx = {u: i for i, u in enumerate(units)}
    recs = {(name, uidx[r["seed"]]): r for name, rs in ok.items() for r in rs}
    if any(c in RANKED for c in columns):
        _ranked(res, ok, recs, arrays, uidx, [c for c in columns if c in RANKED], out)
    if "recon_mse" in columns:
        _example_mean(res, ok, recs, arrays, uidx, "recon_mse", out)
    if "nll" in columns:
        _nll(res, ok, recs, arrays, uidx, out)
    return out


def _complete(ok, recs, arrays, uidx, needs, metric) -> tuple[dict[str, list[int]], list[str]]:
    """Rows whose every run has the arrays ``needs`` asks for, with their units; and the rows
    with a ``metric`` value that lack them (rows without the metric are neither)."""
    have, missing = {}, []
    for name, rs in ok.items():
        if all(r["metrics"].get(metric) is None for r in rs):
            continue
        a = [arrays[(name, r["seed"])] for r in rs]
        if all(x is not None and needs(x, r) for x, r in zip(a, rs)):
            have[name] = sorted(uidx[r["seed"]] for r in rs)
        else:
            missing.append(name)
    return have, missing


def _by_unit(have: dict[str, list[int]]) -> dict[int, list[str]]:
    per: dict[int, list[str]] = {}
    for name, us in have.items():
        for u in us:
            per.setdefault(u, []).append(name)
    return per


def _ranked(res, ok, recs, arrays, uidx, metrics, out: Replicates) -> None:
    def needs(a, r):
        return "test_scores" in a and "test_anomalous" in a and "anomaly.threshold" in r["metrics"]

    have, missing = _complete(ok, recs, arrays, uidx, needs, "anomaly.auroc")
    per = _by_unit(have)
    prepared, labels = {}, {}
    for u, names in per.items():
        for name in names:
            a, r = arrays[(name, res.units[u])], recs[(name, u)]
            y = np.asarray(a["test_anomalous"], dtype=bool)
            if u in labels and not np.array_equal(labels[u], y):
                raise ValueError(
                    f"{res.board}: rows of seed {res.units[u]} disagree on test labels"
                )
            labels[u] = y
            prepared[(name, u)] = RankedScores.of(
                a["test_scores"], y, r["metrics"]["anomaly.threshold"]
            )

    def evaluate(u, w):
        return {name: ranked_metrics(prepared[(name, u)], w) for name in per[u]}

    got = res.combine(
        per, dict.fromkeys(per, "all"), {u: len(y) for u, y in labels.items()}, labels, evaluate
    )
    for m in metrics:
        out.interval[m] = {name: v[m] for name, v in got.items()}
        out.paired[m] = out.interval[m]
        out.missing[m] = missing


def _example_mean(res, ok, recs, arrays, uidx, key, out: Replicates) -> None:
    have, missing = _complete(ok, recs, arrays, uidx, lambda a, r: key in a, key)
    per = _by_unit(have)
    values = {
        (n, u): arrays[(n, res.units[u])][key].astype(np.float64)
        for u, ns in per.items()
        for n in ns
    }
    sizes = {u: len(values[(ns[0], u)]) for u, ns in per.items()}

    def evaluate(u, w):
        w = w.astype(np.float64)
        return {name: {key: weighted_mean(values[(name, u)], w)} for name in per[u]}

    got = res.combine(per, dict.fromkeys(per, "all"), sizes, dict.fromkeys(per), evaluate)
    out.interval[key] = out.paired[key] = {name: v[key] for name, v in got.items()}
    out.missing[key] = missing


def _nll(res, ok, recs, arrays, uidx, out: Replicates) -> None:
    """NLL: the paired values over the examples every row of a unit covers, and each row's
    interval over the examples its cell covers: those common ones when the record's NLL was
    recomputed over them (it then carries ``nll_own_examples``), else its own."""

    def needs(a, r):
        return "nll" in a and r["metrics"].get("nll") is not None

    have, missing = _complete(ok, recs, arrays, uidx, needs, "nll")
    per = _by_unit(have)
    index = {
        (n, u): _nll_index(recs[(n, u)], arrays[(n, res.units[u])])
        for n, us in have.items()
        for u in us
    }
    common = {u: _intersect([index[(n, u)] for n in ns]) for u, ns in per.items()}

    def run(rows_per_unit, sets):
        """Resampled mean NLL over ``sets[(row, unit)]`` (one set per unit for all its rows)."""
        first = {u: sets[(ns[0], u)] for u, ns in rows_per_unit.items()}
        vals = {}
        for u, ns in rows_per_unit.items():
            for n in ns:
                idx = index[(n, u)]
                v = arrays[(n, res.units[u])]["nll"].astype(np.float64)
                vals[(n, u)] = v[np.searchsorted(idx, first[u])]
        got = res.combine(
            rows_per_unit,
            {u: ("nll", zlib.crc32(s.tobytes())) for u, s in first.items()},
            {u: len(s) for u, s in first.items()},
            dict.fromkeys(rows_per_unit),
            lambda u, w: {
                n: {"nll": weighted_mean(vals[(n, u)], w.astype(np.float64))}
                for n in rows_per_unit[u]
            },
        )
        return {n: v["nll"] for n, v in got.items()}

    out.paired["nll"] = run(per, {(n, u): common[u] for u, ns in per.items() for n in ns})
    out.interval["nll"], out.missing["nll"] = dict(out.paired["nll"]), missing
    groups: dict[tuple, list[str]] = {}
    for n, us in have.items():
        if any("nll_own_examples" in recs[(n, u)]["metrics"] for u in us):
            continue  # its cell is over the common examples
        if all(len(index[(n, u)]) == len(common[u]) for u in us):
            continue
        sig = tuple((u, zlib.crc32(index[(n, u)].tobytes())) for u in us)
        groups.setdefault(sig, []).append(n)
    if groups:
        sizes = sorted({len(c) for c in common.values()})
        out.notes.append(
            f"NLL marks compare every row on the {sizes[0]:,} test examples all rows cover "
            f"(per seed); {', '.join(sorted(n for ns in groups.values() for n in ns))}: "
            "interval over the row's own examples, as its figure."
        )
    for names in groups.values():
        sub = {u: [n for n in ns if n in names] for u, ns in per.items()}
        sub = {u: ns for u, ns in sub.items() if ns}
        own = run(sub, {(n, u): index[(n, u)] for u, ns in sub.items() for n in ns})
        out.interval["nll"].update(own)


def _intersect(sets: list[np.ndarray]) -> np.ndarray:
    common = sets[0]
    for s in sets[1:]:
        common = np.intersect1d(common, s)
    return common


def family_replicates(
    family: str,
    members: dict[str, dict[str, list[dict[str, Any]]]],
    metric: str,
    n_boot: int = N_BOOT,
    given: dict[str, Replicates] | None = None,
) -> tuple[dict[str, Series], list[str]]:
    """Each row's resampled family mean of ``metric`` (``members``: member board name -> row
    name -> its records), and the rows without per-example values in some member.
    ``given``: member boards' replicates already drawn with the family's seed draws
    (``units_of=family``), used where they cover the same seeds (no resampling twice).

    The same hierarchical bootstrap as a member board's, with the members' seeds drawn once for
    all members (the family's draws, so a resample's mean over members is over the same seeds)
    and each member's test examples drawn as its own board draws them. A row's mean is over the
    seeds every member has for it, as its cell; per resample the mean over members of each
    member's mean over the drawn seeds.
    """
    ok = {
        g: {n: [r for r in rs if r["status"] == "ok"] for n, rs in rows.items()}
        for g, rows in members.items()
    }
    names = set.union(set(), *(set(rows) for rows in ok.values()))
    common = {
        n: set.intersection(*({r["seed"] for r in ok[g].get(n, [])} for g in ok)) for n in names
    }
    units = tuple(sorted(set.union(set(), *common.values())))
    got: dict[str, dict[str, Series]] = {}
    missing: set[str] = set()
    for g, rows in ok.items():
        kept = {n: [r for r in rs if r["seed"] in common[n]] for n, rs in rows.items()}
        kept = {n: rs for n, rs in kept.items() if rs}
        reps = (given or {}).get(g)
        if reps is None or not _covers(reps, metric, units, kept):
            reps = board_replicates(g, kept, [metric], n_boot, units, units_of=family)
        got[g] = reps.interval.get(metric, {})
        missing |= set(reps.missing.get(metric, []))
    out = {}
    for n in sorted(names - missing):
        series = [got[g].get(n) for g in ok]
        if not common[n] or any(s is None for s in series):
            continue
        out[n] = Series(
            np.mean([s.resamples for s in series], axis=0),
            {u: float(np.mean([s.units[u] for s in series])) for u in sorted(common[n])},
        )
    return out, sorted(missing | {n for n in names if common[n] and n not in out})


def _covers(reps: Replicates, metric: str, units: tuple, rows: dict[str, list]) -> bool:
    """``reps`` has drawn ``units`` and each row of ``rows`` over exactly its seeds there."""
    series = reps.interval.get(metric)
    return (
        series is not None
        and reps.units == units
        and all(
            n not in series or set(series[n].units) == {r["seed"] for r in rs}
            for n, rs in rows.items()
        )
    )
