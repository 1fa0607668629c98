"""The protocol's ``optimizer_impl``: which Adam updates the parameters, and what it changes.

The default, "single", must give the published records' numbers: the harness under it is
checked bit for bit against the loop as it stood before the field (torch's default Adam,
advanced indexing, ``torch.bernoulli``), written out here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from toy_models import Cfg, LinearAE

from aebench import DataSpec, FitContext, TorchModel, hookimpl
from aebench.errors import AebenchError
from aebench.execute import suite
from aebench.nn import mlp
from aebench.protocol import OPTIMIZER_IMPLS
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.testing import ToyPlugin
from aebench.training import _bernoulli

RECORDS = Path(__file__).resolve().parents[1] / "results" / "records"
STEPS, BATCH = 200, 32


class _MLP(TorchModel):
    """784 -> 64 -> 8 -> 64 -> 784, Bernoulli logits: big enough for Adam's vector loops."""

    def __init__(self) -> None:
        super().__init__(DataSpec(784, (784,), "vector"), 8, Cfg())
        self.encoder, self.decoder = mlp([784, 64, 8]), mlp([8, 64, 784])

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return torch.sigmoid(self.decoder(z))

    def loss(self, batch):
        return F.binary_cross_entropy_with_logits(self.decoder(self.encoder(batch)), batch)


def _data() -> torch.Tensor:
    """MNIST-like: mostly exact zeros, some exact ones (the Bernoulli draw's edge cases)."""
    x = torch.rand(500, 784, generator=torch.Generator().manual_seed(0)) ** 3
    return x.masked_fill(x < 0.2, 0.0).masked_fill(x > 0.9, 1.0)


def _todays_loop(x: torch.Tensor) -> list[torch.Tensor]:
    """The harness's loop before ``optimizer_impl`` (commit 52ff741), written out plainly."""
    torch.manual_seed(0)
    model = _MLP()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, done = x.shape[0], 0
    while done < STEPS:
        xs = torch.bernoulli(x[torch.randperm(n, generator=g)], generator=g)
        for i in range(min(n // BATCH, STEPS - done)):
            loss = model.loss(xs[i * BATCH : (i + 1) * BATCH])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return [p.detach() for p in model.parameters()]


def _ctx(impl: str, steps: int = STEPS) -> FitContext:
    return FitContext(
        budget_samples=steps * BATCH,
        batch_size=BATCH,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=True,
        optimizer_impl=impl,
    )


def _harness(x: torch.Tensor, impl: str, steps: int = STEPS) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = _MLP()
    ctx = _ctx(impl, steps)
    model.fit(x, ctx)
    assert ctx.step == steps
    return [p.detach() for p in model.parameters()]


@pytest.mark.parametrize("impl", ["single", "foreach"])
def test_single_and_foreach_give_todays_parameters_bit_for_bit(impl):
    x = _data()
    today, now = _todays_loop(x), _harness(x, impl)
    assert all(torch.equal(a, b) for a, b in zip(today, now)), f"{impl} changed the numbers"


def test_fused_is_the_same_algorithm_but_rounds_differently():
    """Fused Adam tracks the single-tensor one closely over a few steps; over 200 steps the
    rounding differences grow (max |Δθ| ~ 0.05 on the VAE), hence a protocol field."""
    x = _data()
    single, fused = _harness(x, "single", 3), _harness(x, "fused", 3)
    for a, b in zip(single, fused):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    assert not all(torch.equal(a, b) for a, b in zip(_todays_loop(x), _harness(x, "fused")))


@pytest.mark.parametrize("impl", OPTIMIZER_IMPLS)
def test_make_optimizer_builds_the_named_implementation(impl):
    opt = _ctx(impl).make_optimizer(_MLP().parameters())
    assert bool(opt.defaults["fused"]) == (impl == "fused")
    assert bool(opt.defaults["foreach"]) == (impl == "foreach")


def test_unknown_optimizer_impl_is_one_line_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown optimizer_impl 'fast'; known: single"):
        _ctx("fast").make_optimizer(_MLP().parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_draw_equals_torch_bernoulli_and_leaves_the_same_generator(dtype):
    p = _data().to(dtype)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(_bernoulli(p, g1), torch.bernoulli(p, generator=g2))
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_bernoulli_draw_of_probability_zero_is_zero_where_the_uniform_is_exactly_zero():
    """A float32 uniform is 0.0 once in 2**24 draws; p = 0 must still give 0 (u < p)."""
    n, seed = 1 << 19, 34  # this seed's 298,485th float32 uniform is exactly 0.0
    assert float(torch.rand(n, generator=torch.Generator().manual_seed(seed))[298_484]) == 0.0
    p = torch.zeros(n)
    ours = _bernoulli(p, torch.Generator().manual_seed(seed))
    assert torch.equal(ours, torch.bernoulli(p, generator=torch.Generator().manual_seed(seed)))
    assert not ours.any()


# -- the protocol field --------------------------------------------------------------------


class _Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("lin", LinearAE, config=Cfg)


@pytest.fixture
def registry():
    return load_registry(
        disabled={"pca", "mean", "rbm", "vae", "sparse_ae", "denoising_ae", "conv_ae", "lstm_ae"},
        extra_plugins=[("toy", ToyPlugin), ("lin", _Plugin)],
    )


def _run(registry, tmp_path, **overrides):
    reqs = runner.plan(registry, ["lin"], ["toy"], seeds=[0], protocol_overrides=overrides)
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    summary = suite.run_suite(registry, reqs, tmp_path / "rec", torch.device("cpu"), data)
    return summary.done[0], reqs[0]


def test_the_record_names_the_implementation(registry, tmp_path):
    record, req = _run(registry, tmp_path)
    assert record["training"]["optimizer_impl"] == "single" and "~" not in req.group
    record, req = _run(registry, tmp_path, optimizer_impl="fused")
    assert record["status"] == "ok"
    assert record["training"]["optimizer_impl"] == "fused"
    assert "~" in req.group  # a variant: never mixed with the published runs
    assert record["protocol"]["optimizer_impl"] == "fused"


def test_unknown_optimizer_impl_in_a_protocol_is_refused_by_name(registry):
    # when the protocol is made (here: the variant a plan makes), before any run
    with pytest.raises(AebenchError, match="optimizer_impl 'fast' is not one of"):
        runner.plan(
            registry, ["lin"], ["toy"], seeds=[0], protocol_overrides={"optimizer_impl": "fast"}
        )


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("digits-v1", "digits-v1/digits/pca/seed-0.json"),
        ("mnist-v1", "mnist-v1/mnist/vae/seed-0.json"),
    ],
)
def test_published_fingerprints_survive_the_optimizer_impl_field(key, path):
    stored = RECORDS / path
    if not stored.exists():
        pytest.skip(f"no published {path} in this checkout")
    record = json.loads(stored.read_text())
    protocol = load_registry().dataset(key.rsplit("-v", 1)[0]).protocol(key)
    assert protocol.fingerprint() == record["protocol"]["fingerprint"]
    assert "optimizer_impl" not in protocol.to_dict()
    assert protocol.with_overrides(optimizer_impl="fused").fingerprint() != protocol.fingerprint()
