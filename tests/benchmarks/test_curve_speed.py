"""Speed of the validation curve: the harness's loop with ``val_curve_points=10`` against the
same loop without it.

Run with ``python -m pytest -m benchmark tests/benchmarks/test_curve_speed.py -s``. A small
MLP autoencoder (784 -> 256 -> 32 -> 256 -> 784, batch 128, one epoch of 10,000 MNIST-like
images per round) with 1,000 validation images. The two loops run interleaved, round by
round. The curve's own time is evaluation's (``FitContext.curve_s``): the loop without it
(the wall time less ``curve_s``) must stay within 5 % of the plain loop.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from torch import nn

from aebench import DataSpec, FitContext, TorchModel
from aebench.run import learning

pytestmark = pytest.mark.benchmark
BUDGET, BATCH, ROUNDS = 10_000, 128, 10
_TIMES: dict[str, list[tuple[float, float]]] = {}


class _MLP(TorchModel):
    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        d, h = spec.dim, spec.hidden_size
        self.enc = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, code_size))
        self.dec = nn.Sequential(nn.Linear(code_size, h), nn.ReLU(), nn.Linear(h, d))

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return torch.sigmoid(self.dec(z))

    def loss(self, batch):
        return ((self.reconstruct(batch) - batch) ** 2).sum(1).mean()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(11_000, 784, generator=g) ** 4  # MNIST-like sparsity
    return x[:10_000], x[10_000:]


def _round(points: int, train, val) -> float:
    torch.manual_seed(0)
    model = _MLP(DataSpec(dim=784, shape=(784,), kind="vector", hidden_size=256), 32, None)
    ctx = FitContext(
        budget_samples=BUDGET,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=False,
        curve_points=points,
        validation=learning.curve_figure(model, val, True, 1000)[0] if points else None,
    )
    model.fit(train, ctx)
    assert len(ctx.val_curve) == points
    return ctx.curve_s


def _cycle(train, val, round_no: list[int]) -> None:
    order = ("plain", "curve") if round_no[0] % 2 == 0 else ("curve", "plain")
    round_no[0] += 1
    for loop in order:
        t0 = time.perf_counter()
        curve_s = _round(10 if loop == "curve" else 0, train, val)
        _TIMES.setdefault(loop, []).append((time.perf_counter() - t0, curve_s))


def test_curve_overhead(benchmark, data):
    train, val = data
    benchmark.group = "validation-curve"
    _cycle(train, val, [0])  # warm-up, not kept
    _TIMES.clear()
    benchmark.pedantic(_cycle, args=(train, val, [0]), rounds=ROUNDS, iterations=1)
    plain = statistics.median(t for t, _ in _TIMES["plain"])
    whole = statistics.median(t for t, _ in _TIMES["curve"])
    loop = statistics.median(t - c for t, c in _TIMES["curve"])
    curve = statistics.median(c for _, c in _TIMES["curve"])
    benchmark.extra_info.update(plain_s=plain, curve_wall_s=whole, curve_loop_s=loop, curve_s=curve)
    print(
        f"\nmedian of {ROUNDS} (wall s): plain {plain:.3f}, with curve {whole:.3f} "
        f"({whole / plain:.3f}x), of which the curve {curve:.3f}; loop less curve "
        f"{loop:.3f} ({loop / plain:.3f}x plain)"
    )
    assert loop / plain <= 1.05
