"""The data-set contract: official splits as tensors, labels, the anomaly task, provenance.

A data-set plugin knows its files and its preprocessing; the harness carves the validation
split, moves tensors to the device once and never looks inside a data set by name.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aebench.protocol import Protocol

#: The views a data set can offer and a model can accept.
#: vector: (N, D) floats; image: the same floats viewed as (N, C, H, W);
#: sequence: the same floats viewed as (N, T, F); tokens: (N, L) integer ids.
KINDS = ("vector", "image", "sequence", "tokens")


@dataclass
class AnomalyTask:
    """What counts as anomalous, as the data set defines it for the protocol in force.

    ``train_normal``: boolean mask over the training split of the examples a model may train on
    under the normal-only variant; ``test_anomalous``: boolean mask over the test split.
    """

    description: str
    train_normal: Tensor
    test_anomalous: Tensor


@dataclass
class Splits:
    """Official train/test splits, already preprocessed, as CPU tensors.

    ``train_x``/``test_x`` are (N, D) float32; ``shape`` is one example's shape (``(1, 28, 28)``
    for MNIST, ``(D,)`` for plain vectors). ``extras`` carries additional views, e.g. token ids
    (``train_tokens``, ``test_tokens``, ``vocab_size``) for sequence models on text.
    """

    train_x: Tensor
    test_x: Tensor
    shape: tuple[int, ...]
    kinds: frozenset[str]
    provenance: dict[str, Any]
    train_y: Tensor | None = None
    test_y: Tensor | None = None
    anomaly: AnomalyTask | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown data kind(s) {sorted(unknown)}; known: {KINDS}")
        for name in ("train_x", "test_x"):
            t = getattr(self, name)
            if t.dim() != 2 or t.dtype != torch.float32:
                raise ValueError(
                    f"{name} must be a 2-D float32 tensor, got {tuple(t.shape)} {t.dtype}"
                )
        if self.train_x.shape[1] != self.test_x.shape[1]:
            raise ValueError("train_x and test_x have different feature sizes")

    @property
    def dim(self) -> int:
        return int(self.train_x.shape[1])


class Dataset(ABC):
    """A data set plugin. Implement :meth:`load`; register the class in a hook."""

    @abstractmethod
    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        """Return the official splits, preprocessed as ``protocol`` says.

        :param protocol: the protocol in force (preprocessing parameters live in ``params``).
        :param data_dir: the cache/local data directory; the set's files live under it.
        :param download: whether a missing file may be fetched from its publisher.
        """


def default_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--data-dir``, else ``$AEBENCH_DATA``, else the user's cache directory."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("AEBENCH_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("aebench")) / "data"


def carve_validation(n_train: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (fit, validation) carved from the training split with a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n_train, generator=g)
    n_val = int(round(n_train * fraction))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def run_split_seed(protocol: Protocol, seed: int) -> int:
    """The split seed of run ``seed``: ``protocol.split_seed``, or with ``split_per_seed`` one
    derived from both (numpy ``SeedSequence([split_seed, seed])``, its first 32-bit word), so
    each seed draws its own split and the same seed always draws the same one."""
    if not protocol.split_per_seed:
        return protocol.split_seed
    import numpy as np

    return int(np.random.SeedSequence([protocol.split_seed, seed]).generate_state(1)[0])


def for_run(protocol: Protocol, seed: int) -> Protocol:
    """The protocol a data set is loaded (and the validation slice carved) with for run
    ``seed``: ``protocol`` itself, or with a per-seed split its copy with that run's split seed.

    A data set plugin then needs to know nothing about per-seed splits: it splits with
    ``protocol.split_seed`` as always, and the cache keys each split by its own fingerprint.
    """
    split_seed = run_split_seed(protocol, seed)
    if split_seed == protocol.split_seed:
        return protocol
    return protocol.with_overrides(split_seed=split_seed)


def split_info(protocol: Protocol, seed: int) -> dict[str, Any]:
    """What a record says about its split: the split seed, and how it was derived."""
    info: dict[str, Any] = {"split_seed": run_split_seed(protocol, seed)}
    if protocol.split_per_seed:
        info["split_seed_rule"] = (
            f"drawn per run seed: numpy SeedSequence([{protocol.split_seed}, {seed}])"
            ".generate_state(1)[0]"
        )
    return info
