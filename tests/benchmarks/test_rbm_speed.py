"""Seconds per epoch: aebench's RBM (CD-1) against scikit-learn's BernoulliRBM, on the same data.

MNIST train (the shared 10,000 images) binarised at 0.5, float32 for both, 256 hidden units,
batch 100, learning rate 0.05, one epoch per round, fresh model each round. aebench's epoch
goes through the harness's ``ctx.batches`` (a reshuffle each epoch, which sklearn skips).
``aebench-cd1`` is the default (the last visible states as probabilities, Hinton's guide);
``aebench-cd1-sampled`` samples them, as sklearn does. Run with::

    pytest -m benchmark tests/benchmarks/test_rbm_speed.py
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.neural_network import BernoulliRBM

from aebench import DataSpec, FitContext
from aebench_plugins.models.rbm import RBM, RBMConfig

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
TRAIN = Path(os.environ.get("AEBENCH_DATA", SHARED)) / "mnist" / "train-images-idx3-ubyte.gz"
HIDDEN, BATCH, LR = 256, 100, 0.05


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    if not TRAIN.exists():
        pytest.skip(f"MNIST not found at {TRAIN}")
    with gzip.open(TRAIN) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    return (raw > 127).astype(np.float32)  # intensity / 255 > 0.5


def _aebench_epoch(x: torch.Tensor, sample_visible: bool) -> None:
    spec = DataSpec(dim=x.shape[1], shape=(1, 28, 28), kind="image", binary=True)
    cfg = RBMConfig(n_hidden=HIDDEN, lr=LR, sample_visible=sample_visible)
    ctx = FitContext(
        budget_samples=x.shape[0],
        batch_size=BATCH,
        lr=LR,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=False,
    )
    RBM(spec, HIDDEN, cfg).fit(x, ctx)


def _sklearn_epoch(x: np.ndarray) -> None:
    BernoulliRBM(
        n_components=HIDDEN, batch_size=BATCH, learning_rate=LR, n_iter=1, random_state=0
    ).fit(x)


@pytest.mark.benchmark(group="rbm seconds/epoch, MNIST 10k, 256 hidden, batch 100")
@pytest.mark.parametrize("impl", ["aebench-cd1", "aebench-cd1-sampled", "sklearn"])
def test_rbm_seconds_per_epoch(benchmark, mnist, impl):
    if impl == "sklearn":
        run, arg = _sklearn_epoch, (mnist,)
    else:
        run, arg = _aebench_epoch, (torch.from_numpy(mnist), impl.endswith("sampled"))
    benchmark.extra_info.update(
        examples=len(mnist), hidden=HIDDEN, batch=BATCH, torch_threads=torch.get_num_threads()
    )
    benchmark.pedantic(run, args=arg, rounds=5, warmup_rounds=1)
