"""One set of test examples per likelihood column.

Every model's NLL on a board must be measured on the same test examples, or the column
compares different data (the first half of the MNIST test set is the cleaner one). Two parts:

- at run time, the protocol's ``nll_examples`` names the examples: all (None) or a random
  subset of N stratified by test label, seeded with the run's split seed (:func:`select`);
  the harness hands every model the same ones, and the record says which (:func:`describe`:
  count, selection rule, seed; the indices go into the arrays beside the record);
- on a board, :func:`align` finds the examples every row of a (split, seed) unit was evaluated
  on and recomputes each row's NLL over those from its stored per-example values. That makes
  boards of records written before the field existed honest too: on mnist-v1 the VAE's IWAE
  covers the first 1,000 test images (``iwae_examples``), every other model all 10,000.

The contract that makes the index of a value known: an estimator that evaluates fewer examples
than it is given (IWAE under ``iwae_examples``) evaluates the first ones.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aebench.errors import AebenchError
from aebench.protocol import Protocol

__all__ = ["Alignment", "align", "caption", "check", "covered", "describe", "on_common", "select"]


def check(protocol: Protocol) -> None:
    """A protocol's NLL example set is well defined (AebenchError naming the fix if not)."""
    n = protocol.nll_examples
    if n is None:
        return
    if n < 1:
        raise AebenchError(f"protocol {protocol.key}: nll_examples must be >= 1 or None, not {n}")
    if protocol.iwae_examples is not None:
        raise AebenchError(
            f"protocol {protocol.key}: set nll_examples or iwae_examples, not both "
            "(iwae_examples would evaluate only the first of the nll_examples)"
        )


def select(protocol: Protocol, test_y: Tensor | None, n_test: int, seed: int) -> Tensor | None:
    """Sorted indices into the test split of the protocol's NLL examples (None: all of them).

    A random subset of ``nll_examples``, stratified by ``test_y`` when the data set has labels
    (scikit-learn's ``train_test_split`` with ``random_state=seed``): every class keeps its
    share, and no part of the file order (the first N) is favoured.
    """
    n = protocol.nll_examples
    if n is None or n >= n_test:
        return None
    from sklearn.model_selection import train_test_split

    strata = test_y.cpu().numpy() if test_y is not None else None
    try:
        chosen, _ = train_test_split(
            np.arange(n_test), train_size=n, stratify=strata, random_state=seed
        )
    except ValueError as exc:  # a class too small to stratify
        raise AebenchError(
            f"protocol {protocol.key}: cannot draw nll_examples={n} stratified from {n_test} test "
            f"examples ({exc})"
        ) from None
    return torch.from_numpy(np.sort(chosen))


def describe(
    per_example: dict[str, Tensor],
    protocol: Protocol,
    given: Tensor | None,
    n_test: int,
    seed: int,
) -> dict[str, Any] | None:
    """The record's ``likelihood_examples`` for a run whose models saw ``given`` (None: all).

    When the headline NLL covers fewer than all test examples, its indices are added to
    ``per_example`` as ``nll_index`` (stored beside the record).
    """
    nll = per_example.get("nll")
    if nll is None:
        return None
    n = int(nll.shape[0])
    if given is None:
        given, rule = torch.arange(n_test), "all test examples"
    else:
        rule = (
            f"a random subset stratified by test label (protocol nll_examples="
            f"{protocol.nll_examples}; scikit-learn train_test_split, random_state={seed})"
        )
    if n > given.numel():
        raise ValueError(f"the likelihood gave {n} values for {given.numel()} examples")
    drawn = given.numel() < n_test
    if n < given.numel():  # the estimator evaluated only the first n of what it was given
        rule = f"the first {n:,} of {rule} (the headline estimator's own limit)"
    if n < n_test:
        per_example["nll_index"] = given[:n].clone()
    return {
        "n": n,
        "of": n_test,
        "selection": rule,
        "seed": seed if drawn else None,
        "indices": "nll_index in the arrays beside the record" if n < n_test else "all",
    }


def _headline(record: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in (record.get("likelihood") or {}).values() if e.get("headline")), None)


def covered(record: dict[str, Any], arrays: dict[str, np.ndarray] | None = None):
    """Indices into the test split of the record's headline NLL values; None if they can only
    be read from arrays that are not given (or not there)."""
    head = _headline(record)
    if head is None:
        return None
    n, n_test = int(head["n_examples"]), record["dataset"].get("n_test")
    if n == n_test:
        return np.arange(n)
    if record.get("likelihood_examples") is None:
        # written before the harness recorded the set: its only source of fewer values was an
        # estimator's own limit, which takes the first examples
        return np.arange(n)
    if arrays is not None and "nll_index" in arrays:
        return np.asarray(arrays["nll_index"], dtype=np.int64)
    return None


def _unit(record: dict[str, Any]) -> int:
    """The test split a record was evaluated on (its split seed)."""
    return int(record["dataset"].get("split_seed", record["protocol"].get("split_seed", 0)))


@dataclass
class Alignment:
    """The examples a board's NLL column covers, per test split (keyed by split seed)."""

    common: dict[int, np.ndarray]
    n_test: dict[int, int]
    #: models whose NLL was recomputed over fewer examples than their record's own figure
    recomputed: list[str] = field(default_factory=list)
    #: models whose NLL is not shown: their values on the common examples are not stored
    missing: list[str] = field(default_factory=list)
    #: models whose own examples are exactly the common ones (what the caption names them by)
    limiting: list[str] = field(default_factory=list)

    def label(self) -> str:
        """What the column header says: how many test examples every model's NLL covers."""
        sizes = sorted({len(c) for c in self.common.values()})
        n = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,}–{sizes[-1]:,}"
        return f"{n} test examples"


def align(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Alignment | None]:
    """``records`` with every NLL over the examples all of its unit's rows cover.

    A record whose own examples are more than the common ones gets a copy whose ``nll`` is the
    mean of its stored per-example values there (``nll_own_examples`` keeps its own figure);
    one whose values cannot be read gets ``nll`` None. Returns the records and the alignment
    (None when no record has a likelihood).
    """
    from aebench.records import artifacts

    like = [r for r in records if r["status"] == "ok" and _headline(r) is not None]
    if not like:
        return records, None
    arrays: dict[int, dict[str, np.ndarray] | None] = {}

    def stored(r: dict[str, Any]) -> dict[str, np.ndarray] | None:
        if id(r) not in arrays:
            arrays[id(r)] = artifacts.of_record(r)
        return arrays[id(r)]

    def own_set(r: dict[str, Any]) -> np.ndarray | None:
        idx = covered(r)
        return idx if idx is not None else covered(r, stored(r))

    sets = {id(r): own_set(r) for r in like}
    by_unit: dict[int, list[np.ndarray]] = {}
    n_test: dict[int, int] = {}
    for r in like:
        if sets[id(r)] is not None:
            by_unit.setdefault(_unit(r), []).append(sets[id(r)])
            n_test[_unit(r)] = int(r["dataset"].get("n_test") or len(sets[id(r)]))
    common = {u: functools.reduce(np.intersect1d, s) for u, s in by_unit.items()}
    result = Alignment(common, n_test)
    out = []
    for r in records:
        if id(r) not in sets:
            out.append(r)
            continue
        own, com = sets[id(r)], common.get(_unit(r))
        name = r["model"]["name"]
        if own is not None and com is not None and len(own) == len(com):
            if len(com) < n_test[_unit(r)] and name not in result.limiting:
                result.limiting.append(name)
            out.append(r)
            continue
        values = on_common(r, stored(r), result)
        r = copy.copy(r)
        r["metrics"] = dict(r["metrics"], nll_own_examples=r["metrics"].get("nll"))
        r["metrics"]["nll"] = None if values is None else float(values.mean())
        _note(result.missing if values is None else result.recomputed, name)
        out.append(r)
    return out, result


def on_common(
    record: dict[str, Any], arrays: dict[str, np.ndarray] | None, al: Alignment
) -> np.ndarray | None:
    """The record's per-example NLL (float64) over its test split's common examples, in index
    order, so two records' values pair example by example; None if they are not stored."""
    own, com = covered(record, arrays), al.common.get(_unit(record))
    values = (arrays or {}).get("nll")
    if own is None or com is None or values is None or len(values) != len(own):
        return None
    return values[np.isin(own, com)].astype(np.float64)


def _note(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def caption(al: Alignment | None) -> list[str]:
    """The caption line that says which examples the NLL column covers (none when all)."""
    if al is None or not al.common:
        return []
    if all(len(c) == al.n_test[u] for u, c in al.common.items()) and not al.missing:
        return [f"NLL: every model over all {al.label()} of the test split."]
    first = all(np.array_equal(c, np.arange(len(c))) for c in al.common.values())
    which = (
        f"the first ones of the test split, as {', '.join(sorted(al.limiting))} covered only those"
        if first and al.limiting
        else "the protocol's seeded stratified subset of the test split"
        if not al.recomputed
        else "those every model was evaluated on"
    )
    per = " per test split" if len(al.common) > 1 else ""
    line = f"NLL: every model over the same {al.label()}{per} ({which})."
    if al.recomputed:
        line += (
            f" {', '.join(sorted(al.recomputed))}: recomputed over these from the stored "
            "per-example values (the figure over the model's own examples is in its record)."
        )
    if al.missing:
        line += (
            f" {', '.join(sorted(al.missing))}: not shown, their values on these examples are "
            "not stored."
        )
    return [line]
