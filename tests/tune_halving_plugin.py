"""A model whose validation figure is a known function of its budget and config, for
``tests/test_tune_halving.py`` (installed as the third-party plugin ``aebench_halvingtoy``).

``halving-toy`` reconstructs x as (1 − err)·x, so its validation MSE is err² · mean(x²), with

    err(speed, f) = BASE[speed] + SLOPE[speed] · (1 − f),   f = samples trained / full budget

Its defaults (speed 0) learn slowly and end best; speeds 1-3 start fast and end worse: every
challenger beats the defaults on the lower rungs and loses to them at the full budget.
``halving-stopper`` is the same model with ``stop``: it trains that fraction of its budget and
says so (as early stopping does). Both add every sample they train to ``TRAINED[name]``, a count
the harness never sees.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import torch

from aebench import Capabilities, Dataset, Model, hookimpl
from aebench.testing import TOY, toy_splits
from aebench.tuning import Choice, Int

HALVINGTOY = dataclasses.replace(
    TOY, name="halvingtoy", dataset="halvingtoy", budget_samples=2880, seeds=(0, 1, 2)
)
BASE = {0: 0.10, 1: 0.20, 2: 0.25, 3: 0.30}
SLOPE = {0: 1.00, 1: 0.05, 2: 0.05, 3: 0.05}
TRAINED: Counter = Counter()


def err(speed: int, fraction: float) -> float:
    return BASE[speed] + SLOPE[speed] * (1.0 - min(1.0, fraction))


class HalvingData(Dataset):
    def load(self, protocol, data_dir, download=True):
        return toy_splits()


@dataclass(frozen=True)
class ToyConfig:
    speed: int = 0
    stop: float = 1.0

    @classmethod
    def tiny(cls):
        return cls()


class HalvingToy(Model):
    capabilities = Capabilities(inputs=("vector",), tasks=("reconstruction",))
    lr_field = None
    name = "halving-toy"

    def fit(self, train, ctx):
        trained = int(ctx.budget_samples * self.config.stop)
        TRAINED[self.name] += trained
        ctx.samples_seen = trained
        self.err = err(self.config.speed, trained / HALVINGTOY.budget_samples)

    def encode(self, x):
        return x[:, : self.code_size]

    def decode(self, z):
        return torch.zeros(z.shape[0], self.spec.dim)

    def reconstruct(self, x):
        return (1.0 - self.err) * x


class Stopper(HalvingToy):
    name = "halving-stopper"


@hookimpl
def aebench_register_models(register):
    register("halving-toy", HalvingToy, config=ToyConfig, search_space={"speed": Int(1, 3)})
    register(
        "halving-stopper",
        Stopper,
        config=ToyConfig,
        search_space={"speed": Int(1, 3), "stop": Choice(0.1, 1.0)},
    )


@hookimpl
def aebench_register_datasets(register):
    register("halvingtoy", HalvingData, protocols=[HALVINGTOY])
