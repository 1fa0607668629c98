"""Models that fail on purpose, one fault each, for ``tests/test_faults*.py``.

Not collected by pytest: the tests install this file into a throw-away site directory as the
module ``aebench_faulty`` of the distribution ``aebench-faulty`` and load it through its entry
point, as any third-party plugin is loaded. Faults that need timing are steered from the
environment, so a test can stop the process at a known moment:

``FAULTY_PAUSE_FIT=N:PATH``
    the N-th ``tiny-ae`` fit in this process writes PATH after a few training steps, then
    sleeps (at most ``FAULTY_PAUSE_S`` seconds): a run caught in the middle.
``FAULTY_PAUSE_WRITE=N:PATH``
    the N-th rename of a finished temporary record file onto its final name writes PATH, then
    sleeps: the record is complete on disk under its temporary name, not yet renamed.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from aebench import Capabilities, TorchModel, hookimpl

_counts: dict[str, int] = {}


def _pause_if_asked(var: str) -> None:
    """Sleep here on the N-th call when ``var`` is N:PATH; PATH tells the test we are here."""
    spec = os.environ.get(var)
    if not spec:
        return
    _counts[var] = _counts.get(var, 0) + 1
    n, _, marker = spec.partition(":")
    if _counts[var] == int(n):
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("FAULTY_PAUSE_S", "120")))


if os.environ.get("FAULTY_PAUSE_WRITE"):
    _replace = os.replace

    def _slow_replace(src, dst, *args, **kwargs):
        if Path(src).name.startswith(".aebench-tmp-") and str(dst).endswith(".json"):
            _pause_if_asked("FAULTY_PAUSE_WRITE")
        return _replace(src, dst, *args, **kwargs)

    os.replace = _slow_replace


@dataclass(frozen=True)
class Config:
    @classmethod
    def tiny(cls):
        return cls()


class TinyAE(TorchModel):
    """A linear autoencoder that trains normally (and pauses when a test asks it to)."""

    capabilities = Capabilities(inputs=("vector",))

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        self.enc = nn.Linear(spec.dim, code_size)
        self.dec = nn.Linear(code_size, spec.dim)
        self._steps = 0

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)

    def loss(self, batch):
        self._steps += 1
        if self._steps == 3:
            _pause_if_asked("FAULTY_PAUSE_FIT")
        return ((self.dec(self.enc(batch)) - batch) ** 2).sum(1).mean()


class RaisesInFit(TinyAE):
    """Raises in ``fit``."""

    def fit(self, train, ctx):
        raise RuntimeError("injected fault: fit raises")


class WrongShape(TinyAE):
    """Trains, then decodes to one feature too few."""

    def decode(self, z):
        return self.dec(z)[:, :-1]


class NaNOutput(TinyAE):
    """Trains, then reconstructs every input as NaN."""

    def reconstruct(self, x):
        return torch.full_like(x, float("nan"))


class NaNScores(TinyAE):
    """Trains and reconstructs, but gives every input a NaN anomaly score."""

    def anomaly_score(self, x):
        return torch.full((x.shape[0],), float("nan"), device=x.device)


class OutOfMemory(TinyAE):
    """What a CUDA device says when a batch does not fit, simulated on any device."""

    def fit(self, train, ctx):
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (simulated by aebench-faulty)"
        )


class Exits(TinyAE):
    """Calls sys.exit in ``fit``, as a library that parses sys.argv does."""

    def fit(self, train, ctx):
        sys.exit(3)


class MutatesInput(TinyAE):
    """Zeroes the tensors it is handed, in place, then trains on them."""

    def fit(self, train, ctx):
        train.zero_()
        super().fit(train, ctx)

    def reconstruct(self, x):
        out = super().reconstruct(x)
        x.mul_(0)
        return out


class LeavesGlobalState(TinyAE):
    """Trains, then turns autograd off and the default dtype to float64 for everyone."""

    def fit(self, train, ctx):
        super().fit(train, ctx)
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)


MODELS = {
    "tiny-ae": TinyAE,
    "raises-in-fit": RaisesInFit,
    "wrong-shape": WrongShape,
    "nan-output": NaNOutput,
    "nan-scores": NaNScores,
    "out-of-memory": OutOfMemory,
    "exits": Exits,
    "mutates-input": MutatesInput,
    "leaves-global-state": LeavesGlobalState,
}


@hookimpl
def aebench_register_models(register):
    for name, cls in MODELS.items():
        register(name, cls, config=Config, tags=("test",))
