"""Speed, side by side in one run: the harness's loop vs a bare PyTorch loop.

Run with ``python -m pytest -m benchmark tests/benchmarks``. The harness must not be the
bottleneck: its training loop may cost at most 5 % more than the bare loop on the same VAE.
PCA against scikit-learn: ``test_pca_speed.py``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from aebench import DataSpec, FitContext
from aebench_plugins.models.vae import VAE, VAEConfig

pytestmark = pytest.mark.benchmark
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
BUDGET = 20_000  # two epochs of 10,000 images per round
BATCH = 128
_RESULTS: dict[str, float] = {}


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


def _vae() -> VAE:
    torch.manual_seed(0)
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512, binary=True)
    return VAE(spec, 32, VAEConfig())


def _harness_round(train):
    model = _vae()
    ctx = FitContext(
        budget_samples=BUDGET,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=True,
    )
    model.fit(train, ctx)


def _bare_round(train):
    """The same VAE, data, batches and optimiser, written as a plain loop."""
    model = _vae()
    g = torch.Generator().manual_seed(0)
    model._noise = g
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    n, steps = train.shape[0], BUDGET // BATCH
    done = 0
    while done < steps:
        xs = torch.bernoulli(train[torch.randperm(n, generator=g)], generator=g)
        for i in range(min(n // BATCH, steps - done)):
            loss = model.loss(xs[i * BATCH : (i + 1) * BATCH])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1


@pytest.mark.benchmark(group="vae-training-loop")
def test_bare_pytorch_loop(benchmark, train):
    benchmark.pedantic(_bare_round, args=(train,), rounds=5, warmup_rounds=1)
    _RESULTS["bare"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="vae-training-loop")
def test_harness_loop(benchmark, train):
    benchmark.pedantic(_harness_round, args=(train,), rounds=5, warmup_rounds=1)
    _RESULTS["harness"] = benchmark.stats.stats.median


def test_harness_overhead_ratio():
    if {"bare", "harness"} - set(_RESULTS):
        pytest.skip("run together with the two loop benchmarks")
    ratio = _RESULTS["harness"] / _RESULTS["bare"]
    print(f"\nharness/bare training-loop time ratio (median of 5 rounds): {ratio:.3f}")
    assert ratio <= 1.05
