"""Data preparation: a data set's splits as tensors on the device, per protocol and view.

``DataCache`` keeps the prepared data of the last protocols used, so the runs of one protocol
(every model, every seed) load and move their data once; each run takes a ``View`` of its own.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aebench.dataset import Splits, carve_validation
from aebench.errors import AebenchError
from aebench.protocol import OPTIMIZER_IMPLS, PRECISIONS, Protocol
from aebench.registry.entries import DatasetEntry, Registry
from aebench.run import metrics as M
from aebench.run import nll_examples, thresholds
from aebench.run.evaluation import without_test

__all__ = ["DataCache", "Prepared", "View", "choose_view", "prepare"]


@dataclass
class View:
    """One view of a data set on the device: fit / validation / test inputs."""

    fit: Tensor
    val: Tensor
    test: Tensor

    def copy(self) -> View:
        """Tensors of one run's own, so a model writing into its inputs changes no other run."""
        return View(self.fit.clone(), self.val.clone(), self.test.clone())


@dataclass
class Prepared:
    """A data set's tensors for one protocol; each view is moved to the device once."""

    splits: Splits
    protocol: Protocol
    device: torch.device
    fit_idx: Tensor
    val_idx: Tensor
    provenance: dict[str, Any]
    _views: dict[tuple[str, bool], View] = field(default_factory=dict)

    def view(self, kind: str, binarized_eval: bool = False) -> View:
        """``kind``'s tensors; with ``binarized_eval`` the validation and test inputs are one
        fixed-seed Bernoulli draw (what binary models are evaluated on)."""
        key = (kind, binarized_eval)
        if key not in self._views:
            if kind == "tokens":
                train, test = self.splits.extras["train_tokens"], self.splits.extras["test_tokens"]
            else:
                train, test = self.splits.train_x, self.splits.test_x
            val = train[self.val_idx]
            if binarized_eval:
                g = torch.Generator().manual_seed(self.protocol.test_binarization_seed)
                test = torch.bernoulli(test, generator=g)
                val = torch.bernoulli(val, generator=g)
            self._views[key] = View(
                train[self.fit_idx].to(self.device), val.to(self.device), test.to(self.device)
            )
        return self._views[key]

    def mask(self, name: str) -> tuple[Tensor, Tensor, Tensor]:
        """(fit, validation, test) boolean masks: "normal" over train splits, anomalous on test."""
        a = self.splits.anomaly
        if a is None:
            raise AebenchError(f"data set offers no anomaly task for protocol {self.protocol.key}")
        return a.train_normal[self.fit_idx], a.train_normal[self.val_idx], a.test_anomalous


class DataCache:
    """Prepared data by (data set, protocol fingerprint): a per-seed split is a protocol with
    its own split seed, so each split is its own entry; past ``keep`` entries the least
    recently used goes."""

    def __init__(self, registry: Registry, data_dir: Path, download: bool, device: torch.device):
        self.registry, self.data_dir, self.download, self.device = (
            registry,
            data_dir,
            download,
            device,
        )
        self._cache: collections.OrderedDict[tuple[str, str], Prepared] = collections.OrderedDict()

    #: data sets kept loaded: runs come protocol by protocol (a family's ten members, say)
    keep = 2

    def get(self, dataset: str, protocol: Protocol, validation_only: bool = False) -> Prepared:
        key = (dataset, protocol.fingerprint(), validation_only)
        if key not in self._cache:
            entry: DatasetEntry = self.registry.dataset(dataset)
            splits = entry.factory().load(protocol, self.data_dir, download=self.download)
            if validation_only:  # dropped before anything is moved to the device
                splits = without_test(splits)
            while len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = prepare(splits, protocol, self.device)
        self._cache.move_to_end(key)
        return self._cache[key]


def prepare(splits: Splits, protocol: Protocol, device: torch.device) -> Prepared:
    """``splits`` prepared for ``protocol``: its validation slice carved, its settings checked
    (an unknown one is an error before any run)."""
    fit_idx, val_idx = carve_validation(
        splits.train_x.shape[0], protocol.val_fraction, protocol.split_seed
    )
    prov = dict(splits.provenance)
    prov.update(n_fit=len(fit_idx), n_val=len(val_idx))
    for name, known in (
        ("anomaly_score_weighting", M.SCORE_WEIGHTINGS),
        ("precision", PRECISIONS),
        ("optimizer_impl", OPTIMIZER_IMPLS),
    ):
        value = getattr(protocol, name)
        if value not in known:
            raise AebenchError(f"protocol {protocol.key}: {name} {value!r} is not one of {known}")
    nll_examples.check(protocol)
    thresholds.check(protocol)
    if protocol.task == "anomaly" and splits.anomaly is None:
        raise AebenchError(
            f"protocol {protocol.key} is an anomaly task but the data set defines no anomalies"
        )
    return Prepared(splits, protocol, device, fit_idx, val_idx, prov)


def choose_view(model_inputs: tuple[str, ...], offered: frozenset[str]) -> str | None:
    """The first of a model's input kinds that the data set offers (None: no common one)."""
    for kind in model_inputs:
        if kind in offered:
            return kind
    return None
