"""The CUDA paths, run where a CUDA device is (``scripts/gpu-check``); skipped elsewhere.

Every gradient-trained model (a ``TorchModel`` in the registry) trains through the runner on
CUDA under fp32 and bf16 and evaluates to finite metrics; a second run of the same request
gives the same metrics bit for bit (the runner's deterministic CUDA switches); the LSTM AE's
every-step token loss, its CUDA form, equals the gather form it uses on CPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from aebench import DataSpec, TorchModel
from aebench.registry.loading import load_registry
from aebench.run import runner

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
REGISTRY = load_registry()
GRADIENT_TRAINED = sorted(
    name
    for name, entry in REGISTRY.models.items()
    if isinstance(entry.factory, type) and issubclass(entry.factory, TorchModel)
)
#: measured per run, so never equal between two runs
TIMINGS = {
    "fit_s",
    "eval_s",
    "train_samples_per_s",
    "steady_train_samples_per_s",
    "peak_rss_mb",
    "peak_cuda_mb",
}
_FIRST: dict[tuple[str, str], dict] = {}


def _run(model: str, precision: str, tmp_path, **overrides) -> dict:
    from aebench.run.provenance import resolve_device

    device = resolve_device("cuda")
    overrides = {"budget_samples": 3000, "precision": precision, **overrides}
    (req,) = runner.plan(REGISTRY, [model], ["digits"], seeds=[0], protocol_overrides=overrides)
    data = runner.DataCache(REGISTRY, tmp_path, False, device)
    return runner.run_one(REGISTRY, req, device, data).record


def _comparable(record: dict) -> dict:
    metrics = {k: v for k, v in record["metrics"].items() if k not in TIMINGS}
    curve = record["training"]["loss_curve"]
    return {"metrics": metrics, "loss_curve": curve, "likelihood": record.get("likelihood")}


def test_the_registry_has_gradient_trained_models():
    assert {"vae", "denoising_ae", "lstm_ae"} <= set(GRADIENT_TRAINED)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", GRADIENT_TRAINED)
def test_trains_and_evaluates_on_cuda(model, precision, tmp_path):
    record = _run(model, precision, tmp_path)
    assert record["status"] == "ok", record.get("reason")
    assert record["device"]["type"] == "cuda"
    assert record["training"]["precision"] == precision
    assert record["metrics"]["peak_cuda_mb"] > 0
    bad = [k for k, v in record["metrics"].items() if isinstance(v, float) and not math.isfinite(v)]
    assert not bad, f"non-finite metrics {bad}"
    det = record["device"]["determinism"]
    assert det["deterministic_algorithms"] and det["cudnn_deterministic"]
    _FIRST[model, precision] = record


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", GRADIENT_TRAINED)
def test_the_same_seed_gives_the_same_metrics_twice(model, precision, tmp_path):
    first = _FIRST.get((model, precision)) or _run(model, precision, tmp_path / "a")
    second = _run(model, precision, tmp_path / "b")
    assert second["status"] == "ok", second.get("reason")
    assert first["device"]["determinism"]["bit_reproducible"], first["device"]["determinism"]
    assert _comparable(second) == _comparable(first)


def test_global_switches_are_restored_after_a_cuda_run(tmp_path):
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    assert _run("vae", "fp32", tmp_path)["status"] == "ok"
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


@pytest.mark.parametrize("impl", ["single", "foreach", "fused"])
def test_each_optimizer_impl_trains_on_cuda(impl, tmp_path):
    record = _run("vae", "fp32", tmp_path, optimizer_impl=impl)
    assert record["status"] == "ok", record.get("reason")
    assert record["training"]["optimizer_impl"] == impl


@pytest.fixture
def no_tf32():
    """cuDNN's RNNs use TF32 by default (about 1e-3 relative): compare in full fp32."""
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = saved


def test_lstm_token_loss_every_step_on_cuda_equals_the_cpu_gather_form(no_tf32):
    from aebench_plugins.models.lstm_ae import LSTMAE, LSTMAEConfig

    torch.manual_seed(0)
    spec = DataSpec(dim=40, shape=(40,), kind="tokens", hidden_size=32, vocab_size=300)
    cpu = LSTMAE(spec, 8, LSTMAEConfig(hidden=32, embed=16))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, 300, (64, 40), generator=g)
    lengths = torch.randint(1, 41, (64,), generator=g)
    ids[torch.arange(40) >= lengths[:, None]] = 0  # TOKEN_PAD after each message
    cuda = LSTMAE(spec, 8, LSTMAEConfig(hidden=32, embed=16)).cuda()
    cuda.load_state_dict(cpu.state_dict())
    with torch.no_grad():
        on_cpu = cpu._token_nll(cpu.encode(ids), ids)  # gather form (the CPU default)
        on_cuda = cuda._token_nll(cuda.encode(ids.cuda()), ids.cuda())  # every step
        gathered_cuda = cuda._token_nll(cuda.encode(ids.cuda()), ids.cuda(), gather=True)
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gathered_cuda, on_cuda, rtol=1e-5, atol=1e-4)
    cpu.loss(ids).backward()
    cuda.loss(ids.cuda()).backward()
    for (name, a), b in zip(cpu.named_parameters(), cuda.parameters()):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-3, atol=1e-5, msg=name)
