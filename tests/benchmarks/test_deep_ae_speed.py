"""deep_ae's fine-tuning step against this CPU's sgemm rate, one thread.

The step of the 784-1000-500-250-32 net at the Fashion-MNIST protocol's batch (128): forward,
cross-entropy, backward, fused Adam, as the harness's loop runs it. Beside it, in the same run:

- ``sgemm``: one 1024×1024×1024 float32 product, the CPU's sgemm rate on this thread;
- ``gemms``: only the step's matrix products, at the step's own shapes (8 forward products, 8
  weight gradients, 7 input gradients: the first layer needs none).

GFLOP/s = 2·m·n·k per product over the median time; ``flops`` in each benchmark's extra_info.
The step's rate against ``gemms`` says how near its products run to what MKL does at those
shapes; ``gemms`` against ``sgemm`` says what those (thin, batch-128) shapes cost against a
square product. Figures: results/benchmarks/cpu-deep_ae_speed.json and deep_ae_sgemm.md. Run
with::

    python -m pytest -m benchmark tests/benchmarks/test_deep_ae_speed.py \
        --benchmark-json results/benchmarks/cpu-deep_ae_speed.json
"""

from __future__ import annotations

import pytest
import torch

from aebench import DataSpec, FitContext
from aebench_plugins.models.deep_ae import DeepAE, DeepAENoPretrainConfig

pytestmark = pytest.mark.benchmark
BATCH, CODE = 128, 32
SIZES = (784, 1000, 500, 250, CODE)
SQUARE = 1024


def _layers() -> list[tuple[int, int]]:
    """(in, out) of the unrolled net's 8 linear layers, input to output."""
    up = list(zip(SIZES[:-1], SIZES[1:], strict=True))
    return up + [(b, a) for a, b in reversed(up)]


def step_flops() -> int:
    layers = _layers()
    forward = sum(2 * BATCH * i * o for i, o in layers)
    weight_grads = forward
    input_grads = forward - 2 * BATCH * layers[0][0] * layers[0][1]
    return forward + weight_grads + input_grads


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.benchmark(group="deep_ae fine-tuning step vs sgemm, 1 thread")
def test_sgemm_rate(benchmark):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(SQUARE, SQUARE, generator=g), torch.randn(SQUARE, SQUARE, generator=g)
    out = torch.empty(SQUARE, SQUARE)
    benchmark.extra_info.update(flops=2 * SQUARE**3, threads=torch.get_num_threads())
    benchmark.pedantic(torch.mm, args=(a, b), kwargs={"out": out}, rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="deep_ae fine-tuning step vs sgemm, 1 thread")
def test_step_gemms_only(benchmark):
    g = torch.Generator().manual_seed(0)
    acts = [torch.rand(BATCH, i, generator=g) for i, _ in _layers()]
    grads = [torch.rand(BATCH, o, generator=g) for _, o in _layers()]
    weights = [torch.randn(o, i, generator=g) for i, o in _layers()]

    def gemms() -> None:
        for k, (x, dy, w) in enumerate(zip(acts, grads, weights, strict=True)):
            torch.mm(x, w.T)  # forward
            torch.mm(dy.T, x)  # weight gradient
            if k:
                torch.mm(dy, w)  # input gradient

    benchmark.extra_info.update(flops=step_flops(), threads=torch.get_num_threads())
    benchmark.pedantic(gemms, rounds=40, warmup_rounds=3)


@pytest.mark.benchmark(group="deep_ae fine-tuning step vs sgemm, 1 thread")
def test_fine_tuning_step(benchmark):
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512)
    model = DeepAE(spec, CODE, DeepAENoPretrainConfig()).train()
    ctx = FitContext(
        budget_samples=BATCH,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=False,
        optimizer_impl="fused",
    )
    opt = ctx.make_optimizer(model.parameters())
    batch = torch.rand(BATCH, 784, generator=torch.Generator().manual_seed(1))

    def step() -> None:  # aebench.training.gradient_fit's body
        loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark.extra_info.update(
        flops=step_flops(), threads=torch.get_num_threads(), params=model.parameter_count()
    )
    benchmark.pedantic(step, rounds=40, warmup_rounds=3)


def _profile(rounds: int = 60) -> dict:
    """Interleaved timings (each round runs the three in turn, so a busy moment of the shared
    machine hits all three alike; the minimum of each is its least disturbed time) and the
    share of the step's CPU time that torch's profiler puts in matrix products."""
    import time

    from torch.profiler import ProfilerActivity, profile

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(SQUARE, SQUARE, generator=g), torch.randn(SQUARE, SQUARE, generator=g)
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512)
    model = DeepAE(spec, CODE, DeepAENoPretrainConfig()).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    batch = torch.rand(BATCH, 784, generator=g)
    acts = [torch.rand(BATCH, i, generator=g) for i, _ in _layers()]
    grads = [torch.rand(BATCH, o, generator=g) for _, o in _layers()]
    weights = [torch.randn(o, i, generator=g) for i, o in _layers()]

    def step() -> None:
        loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def gemms() -> None:
        for k, (x, dy, w) in enumerate(zip(acts, grads, weights, strict=True)):
            torch.mm(x, w.T)
            torch.mm(dy.T, x)
            if k:
                torch.mm(dy, w)

    runs = {"sgemm": lambda: torch.mm(a, b), "gemms": gemms, "step": step}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(3):
        for f in runs.values():
            f()
    for _ in range(rounds):
        for k, f in runs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    mm = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm"))
    flops = {"sgemm": 2 * SQUARE**3, "gemms": step_flops(), "step": step_flops()}
    out = {
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "matmul_share_of_step_cpu_time": mm / total,
    }
    for k, ts in times.items():
        ts.sort()
        out[k] = {
            "min_ms": ts[0] * 1e3,
            "median_ms": ts[len(ts) // 2] * 1e3,
            "gflops_at_min": flops[k] / ts[0] / 1e9,
            "gflops_at_median": flops[k] / ts[len(ts) // 2] / 1e9,
        }
    return out


if __name__ == "__main__":  # python tests/benchmarks/test_deep_ae_speed.py OUT.json
    import json
    import sys

    torch.set_num_threads(1)
    result = _profile()
    text = json.dumps(result, indent=2)
    print(text)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
