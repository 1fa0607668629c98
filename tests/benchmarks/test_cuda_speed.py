"""Training throughput of every gradient-trained model on CUDA, side by side in one run.

Run with ``python -m pytest -m "benchmark and cuda" tests/benchmarks/test_cuda_speed.py``
(``scripts/gpu-check`` does). mnist-v1's shapes (784 pixels as a 1x28x28 image, hidden 512,
code 32, batch 128) on 10,000 synthetic MNIST-like images on the device: each round is
``STEPS`` steps of the harness loop, under fp32 and bf16, with the single-tensor and the fused
Adam. The numbers are the host loop's, without the runner's deterministic switches but for
two rows that price them.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from aebench import DataSpec, FitContext, TorchModel
from aebench.registry.loading import load_registry
from aebench.run import determinism
from aebench.run.data import choose_view

pytestmark = [
    pytest.mark.benchmark,
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
REGISTRY = load_registry()
MODELS = sorted(
    name
    for name, entry in REGISTRY.models.items()
    if isinstance(entry.factory, type) and issubclass(entry.factory, TorchModel)
)
STEPS, BATCH = 200, 128


def _round(model: TorchModel, train: torch.Tensor, precision: str, impl: str, binary: bool):
    ctx = FitContext(
        budget_samples=STEPS * BATCH,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=train.device,
        generator=torch.Generator(device=train.device).manual_seed(0),
        binarize=binary,
        precision=precision,
        optimizer_impl=impl,
    )
    model.fit(train, ctx)
    torch.cuda.synchronize()


@pytest.mark.parametrize("impl", ["single", "fused"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", MODELS)
def test_cuda_training_throughput(benchmark, name, precision, impl):
    _bench(benchmark, name, precision, impl, deterministic=False)


@pytest.mark.parametrize("impl", ["single", "fused"])
def test_cuda_training_throughput_under_the_runners_determinism(benchmark, impl):
    """What the runner's deterministic switches cost (the other rows run without them)."""
    _bench(benchmark, "vae", "fp32", impl, deterministic=True)


def _bench(benchmark, name: str, precision: str, impl: str, deterministic: bool) -> None:
    entry = REGISTRY.model(name)
    config = entry.make_config({})
    caps = entry.capabilities_for(config)
    view = choose_view(caps.inputs, frozenset({"vector", "image", "sequence"}))
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind=view, hidden_size=512, binary=caps.binary)
    torch.manual_seed(0)
    model = entry.factory(spec, 32, config).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    train = torch.rand(10_000, 784, device="cuda", generator=g) ** 4
    benchmark.group = f"cuda-{name}"
    benchmark.extra_info.update(
        model=name,
        samples_per_round=STEPS * BATCH,
        precision=precision,
        impl=impl,
        deterministic=deterministic,
    )
    args = (model, train, precision, impl, caps.binary)
    with determinism.settings(train.device) if deterministic else contextlib.nullcontext():
        benchmark.pedantic(_round, args=args, rounds=3, warmup_rounds=1)
