"""A model and a data set for ``tests/test_tuning.py``, installed as the third-party plugin
``aebench_tunetoy`` (distribution aebench-tunetoy), as any plugin is loaded.

The data set ``tunetoy`` is the contract suite's blobs, with a test split whose every pixel is
``SENTINEL``: no training or validation example looks like it. The model ``spy-ae`` is a linear
autoencoder that notes every input it is handed (fit, encode, decode, scores); where
``TUNETOY_SPY`` names a file, it appends a line there whenever a test example reaches it. Its
config is searched over ``lr``, ``width`` and ``mode``, a switch that makes some trials fail
(``raise``) or diverge (``nan``) on purpose.

``TUNETOY_PAUSE=N:PATH``: the N-th fit in this process writes PATH and sleeps
(``TUNETOY_PAUSE_S`` seconds, default 120): a trial caught in the middle.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from aebench import Capabilities, Dataset, TorchModel, hookimpl
from aebench.testing import TOY, toy_splits
from aebench.tuning import Choice, Float, Int

SENTINEL = 0.123
TUNETOY = dataclasses.replace(TOY, name="tunetoy", dataset="tunetoy", seeds=(0, 1))
TUNETOY_ANOMALY = dataclasses.replace(TUNETOY, name="tunetoy-anomaly", task="anomaly")
_fits = [0]


class TuneToy(Dataset):
    """Blobs with a sentinel test split."""

    def load(self, protocol, data_dir: Path, download: bool = True):
        s = toy_splits()
        return dataclasses.replace(s, test_x=torch.full_like(s.test_x, SENTINEL))


@dataclass(frozen=True)
class SpyConfig:
    lr: float | None = None
    width: int = 4
    mode: str = "ok"  # "ok" | "raise" | "nan"

    @classmethod
    def tiny(cls):
        return cls()


class SpyAE(TorchModel):
    """Linear autoencoder that reports any test example it is shown."""

    capabilities = Capabilities(inputs=("vector",), tasks=("reconstruction", "anomaly"))

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        self.enc = nn.Linear(spec.dim, config.width)
        self.dec = nn.Linear(config.width, spec.dim)

    def _see(self, x):
        if x.numel() and bool((x == SENTINEL).all(1).any()) and os.environ.get("TUNETOY_SPY"):
            with open(os.environ["TUNETOY_SPY"], "a") as f:
                f.write(f"{os.getpid()} saw a test example\n")
        return x

    def fit(self, train, ctx):
        self._see(train)
        _fits[0] += 1
        pause = os.environ.get("TUNETOY_PAUSE", "")
        n, _, marker = pause.partition(":")
        if pause and _fits[0] == int(n):
            Path(marker).write_text(str(os.getpid()))
            time.sleep(float(os.environ.get("TUNETOY_PAUSE_S", "120")))
        if self.config.mode == "raise":
            raise RuntimeError("injected fault: this configuration fails")
        super().fit(train, ctx)

    def encode(self, x):
        return self.enc(self._see(x))

    def decode(self, z):
        return self.dec(z)

    def loss(self, batch):
        err = ((self.decode(self.encode(batch)) - batch) ** 2).sum(1).mean()
        return err * float("nan") if self.config.mode == "nan" else err


SPACE = {
    "lr": Float(1e-3, 3e-2, log=True),
    "width": Int(2, 6),
    "mode": Choice("ok", "ok2", "raise", "nan"),
}


@dataclass(frozen=True)
class PlainConfig:
    @classmethod
    def tiny(cls):
        return cls()


class Plain(SpyAE):
    """The same autoencoder without a search space."""

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, SpyConfig())


@hookimpl
def aebench_register_models(register):
    register("spy-ae", SpyAE, config=SpyConfig, search_space=SPACE)
    register("plain-ae", Plain, config=PlainConfig)
    # ``width`` is an int field: a Float over it is outside its type
    register("bad-space", SpyAE, config=SpyConfig, search_space={"width": Float(2.0, 6.0)})


@hookimpl
def aebench_register_datasets(register):
    register("tunetoy", TuneToy, protocols=[TUNETOY, TUNETOY_ANOMALY])
