"""Speed, side by side in one run: the harness's loop vs a bare PyTorch loop; PCA vs sklearn.

Run with ``python -m pytest -m benchmark tests/benchmarks/test_harness_speed.py``. Two MLP
models at mnist-v1's settings (784 -> 512 -> 32, batch 128, one thread): the VAE and the
denoising AE. For each, five loops over the same data, batches and seeds:

- ``today``: the harness loop as it stood before ``optimizer_impl`` (its batching copied
  below, torch's default Adam), the baseline the new loop is measured against;
- ``single``: the harness now, under the published protocols' ``optimizer_impl="single"``
  (the same numbers as ``today``, bit for bit: tests/test_optimizer_impl.py);
- ``fused``: the harness with ``optimizer_impl="fused"`` (fused Adam: new numerics, so a
  protocol field);
- ``bare`` and ``bare-fused``: a plain PyTorch loop with the default and the fused Adam.

The loops run interleaved, round by round (see ``_cycle``). The harness must not be the
bottleneck (at most 5 % over the bare loop with the same Adam), and the fused loop must be at
least 1.25x faster than ``today``. PCA against scikit-learn: ``test_pca_speed.py``.
"""

from __future__ import annotations

import gzip
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from aebench import DataSpec, FitContext
from aebench_plugins.models.denoising_ae import DenoisingAE, DenoisingAEConfig
from aebench_plugins.models.vae import VAE, VAEConfig

pytestmark = pytest.mark.benchmark
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
BUDGET = 10_000  # one epoch of 10,000 images per round
ROUNDS = 10  # two rotations of the loops' order
BATCH = 128
LOOPS = ("today", "single", "fused", "bare", "bare-fused")
_TIMES: dict[tuple[str, str], list[tuple[float, float]]] = {}


def _mnist_train() -> torch.Tensor:
    path = SHARED / "train-images-idx3-ubyte.gz"
    if path.exists():
        with gzip.open(path) as f:
            raw = np.frombuffer(f.read(), np.uint8, offset=16)
        return torch.from_numpy(raw.reshape(-1, 784).astype(np.float32) / 255.0)
    g = torch.Generator().manual_seed(0)
    return torch.rand(10_000, 784, generator=g) ** 4  # MNIST-like sparsity, when absent


@pytest.fixture(scope="module")
def train():
    return _mnist_train()


def _model(name: str):
    torch.manual_seed(0)
    if name == "vae":
        spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512, binary=True)
        return VAE(spec, 32, VAEConfig())
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512)
    return DenoisingAE(spec, 32, DenoisingAEConfig())


class _TodaysContext(FitContext):
    """FitContext's batching before this change (advanced indexing, torch.bernoulli)."""

    def batches(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        n = int(x.shape[0])
        bs, n_steps = self.plan(n)
        per_epoch = n // bs
        self._losses = torch.full((n_steps,), float("nan"), device=x.device)
        while self.step < n_steps:
            perm = torch.randperm(n, device=x.device, generator=self.generator)
            epoch_x = x[perm]
            if self.binarize:
                epoch_x = torch.bernoulli(epoch_x, generator=self.generator)
            for i in range(min(per_epoch, n_steps - self.step)):
                yield epoch_x[i * bs : (i + 1) * bs]
                self.step += 1
                self.samples_seen += bs
            self.epoch += 1
            self._check()
        self._check()

    def make_optimizer(self, params, lr=None):
        return torch.optim.Adam(params, lr=lr if lr is not None else self.lr)


def _harness_round(name: str, loop: str, train) -> None:
    model = _model(name)
    kind = _TodaysContext if loop == "today" else FitContext
    ctx = kind(
        budget_samples=BUDGET,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=name == "vae",
        optimizer_impl="single" if loop == "today" else loop,
    )
    model.fit(train, ctx)


def _bare_round(name: str, fused: bool, train) -> None:
    """The same model, data, batches and optimiser, written as a plain loop."""
    model = _model(name)
    g = torch.Generator().manual_seed(0)
    model._noise = g
    if name == "denoising_ae":  # its own noise stream, seeded from the run's, as its fit does
        model._noise = torch.Generator().manual_seed(int(torch.randint(2**62, (1,), generator=g)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    model.train()
    n, steps = train.shape[0], BUDGET // BATCH
    done = 0
    while done < steps:
        xs = train[torch.randperm(n, generator=g)]
        if name == "vae":
            xs = torch.bernoulli(xs, generator=g)
        for i in range(min(n // BATCH, steps - done)):
            loss = model.loss(xs[i * BATCH : (i + 1) * BATCH])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1


def _cycle(name: str, train, round_no: list[int]) -> None:
    """Each loop once, in an order rotated every round, timed one by one: on a shared machine
    the loops then see the same load, which back-to-back rounds of one loop do not."""
    k = round_no[0] % len(LOOPS)
    round_no[0] += 1
    for loop in LOOPS[k:] + LOOPS[:k]:
        wall, cpu = time.perf_counter(), time.process_time()
        if loop.startswith("bare"):
            _bare_round(name, loop == "bare-fused", train)
        else:
            _harness_round(name, loop, train)
        took = (time.perf_counter() - wall, time.process_time() - cpu)
        _TIMES.setdefault((name, loop), []).append(took)


@pytest.mark.parametrize("name", ["vae", "denoising_ae"])
def test_training_loops(benchmark, train, name):
    """Median over ``ROUNDS`` rounds of each loop's time; the ratios asserted are of CPU time
    (one thread, so it leaves out the waits that other processes on the machine cause)."""
    benchmark.group = "training-loops"
    _cycle(name, train, [0])  # warm-up, not kept
    for loop in LOOPS:
        _TIMES[name, loop] = []
    benchmark.pedantic(_cycle, args=(name, train, [0]), rounds=ROUNDS, iterations=1)
    wall = {loop: statistics.median(t[0] for t in _TIMES[name, loop]) for loop in LOOPS}
    cpu = {loop: statistics.median(t[1] for t in _TIMES[name, loop]) for loop in LOOPS}
    benchmark.extra_info.update(median_wall_s=wall, median_cpu_s=cpu)
    for label, t in (("wall", wall), ("cpu", cpu)):
        print(f"\n{name} {label} s, median of {ROUNDS}: " + _fmt(t))
        print(
            f"{name} {label}: today/fused {t['today'] / t['fused']:.2f}x, today/single "
            f"{t['today'] / t['single']:.2f}x, single/bare {t['single'] / t['bare']:.3f}, "
            f"fused/bare-fused {t['fused'] / t['bare-fused']:.3f}"
        )
    assert cpu["single"] / cpu["bare"] <= 1.05
    assert cpu["fused"] / cpu["bare-fused"] <= 1.05
    # issue 12's target; on this project's shared 2-core machine it measured 1.13-1.31x (VAE)
    # and 1.13-1.24x (DAE), and bare-fused itself only 1.13-1.24x: the rest is the models'
    assert cpu["today"] / cpu["fused"] >= 1.25


def _fmt(t: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in t.items())
