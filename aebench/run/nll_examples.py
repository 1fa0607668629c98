"""One set of test examples per likelihood column: which ones a run evaluates.

Every model's NLL on a board must be measured on the same test examples, or the column
compares different data (the first half of the MNIST test set is the cleaner one). At run
time, the protocol's ``nll_examples`` names the examples: all (None) or a random subset of N
stratified by test label, seeded with the run's split seed (:func:`select`); the harness hands
every model the same ones, and the record says which (:func:`describe`: count, selection rule,
seed; the indices go into the arrays beside the record). On a board,
:mod:`aebench.report.nll_alignment` lines up records that cover different examples.

The contract that makes the index of a value known: an estimator that evaluates fewer examples
than it is given (IWAE under ``iwae_examples``) evaluates the first ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from aebench.errors import AebenchError
from aebench.protocol import Protocol

__all__ = ["check", "describe", "select"]


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
