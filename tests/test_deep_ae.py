"""deep_ae's math against independent computations (numpy), its budget split, and the one CD step.

- one CD-1 step of :func:`cd_update` (logistic and linear hidden units, with and without
  momentum) against a hand computation from the same uniforms / normals;
- every layer of a pretrained stack against that hand computation, greedily, layer on layer's
  probabilities (each layer given exactly one full-batch step);
- the unrolled net, before fine-tuning, against the stack's deterministic up-down pass;
- the budget: pretraining plus fine-tuning is the protocol's, and the record says how.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aebench import DataSpec, FitContext
from aebench_plugins.models.deep_ae import DeepAE, DeepAEConfig, DeepAENoPretrainConfig
from aebench_plugins.models.rbm import cd_update


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _ctx(budget: int, batch: int, seed: int = 0) -> FitContext:
    return FitContext(
        budget_samples=budget,
        batch_size=batch,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(seed),
        binarize=False,
    )


def _hand_cd1(v0, w, a, b, noise, lr, wc, linear, inc=None, momentum=0.0):
    """rbm.m / rbmhidlinear.m, one batch, in float64: returns (w, a, b) after the step.

    ``noise`` is the uniforms (logistic) or the standard normals (linear) the step draws."""
    n = v0.shape[0]
    ph0 = v0 @ w + b
    ph0 = ph0 if linear else _sig(ph0)
    h0 = ph0 + noise if linear else (noise < ph0).astype(np.float64)
    v1 = _sig(h0 @ w.T + a)
    ph1 = v1 @ w + b
    ph1 = ph1 if linear else _sig(ph1)
    gw, ga, gb = (v0.T @ ph0 - v1.T @ ph1) / n, (v0 - v1).sum(0) / n, (ph0 - ph1).sum(0) / n
    if inc is None:
        w = w * (1 - lr * wc) + lr * gw
        return w, a + lr * ga, b + lr * gb
    dw, da, db = inc
    dw = momentum * dw + lr * (gw - wc * w)
    da, db = momentum * da + lr * ga, momentum * db + lr * gb
    return w + dw, a + da, b + db


@pytest.mark.parametrize("linear", [False, True], ids=["logistic", "linear"])
@pytest.mark.parametrize("momentum", [None, 0.9], ids=["sgd", "momentum"])
def test_one_cd1_step_matches_a_hand_computation(linear, momentum):
    rng = np.random.default_rng(0)
    n, d, h, lr, wc = 6, 5, 3, 0.1, 0.01
    v0 = rng.random((n, d))  # probabilities, as a stacked RBM sees them
    w, a, b = rng.normal(0, 0.5, (d, h)), rng.normal(0, 0.3, d), rng.normal(0, 0.3, h)
    inc = (rng.normal(0, 0.1, (d, h)), rng.normal(0, 0.1, d), rng.normal(0, 0.1, h))
    t = [torch.tensor(x, dtype=torch.float64) for x in (w, a, b)]
    vel = None if momentum is None else tuple(torch.tensor(x) for x in inc)
    g = torch.Generator().manual_seed(7)
    draw = torch.Generator().manual_seed(7)  # the same stream: the step's one draw
    shape = (n, h)
    noise = (torch.randn if linear else torch.rand)(shape, generator=draw, dtype=torch.float64)
    cd_update(
        *t, torch.tensor(v0), g, lr=lr, weight_decay=wc, linear_hidden=linear,
        momentum=momentum or 0.0, velocity=vel,
    )  # fmt: skip
    want = _hand_cd1(v0, w, a, b, noise.numpy(), lr, wc, linear, None if vel is None else inc,
                     momentum or 0.0)  # fmt: skip
    for got, exp in zip(t, want, strict=True):
        np.testing.assert_allclose(got.numpy(), exp, rtol=1e-10, atol=1e-12)


def _spec(d: int) -> DataSpec:
    return DataSpec(dim=d, shape=(d,), kind="vector", hidden_size=8)


def test_each_pretrained_layer_is_one_hand_computed_cd1_step_on_the_layer_below():
    """Four examples, batch four, one step per layer: the stack, layer by layer, is rbm.m's
    update (rbmhidlinear.m's for the top) on the layer below's probabilities."""
    n, d, sizes, code = 4, 6, (5, 4), 2
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(3))
    # a large weight cost, so that leaving it out shows above float32's rounding
    cfg = DeepAEConfig(hidden=sizes, pretrain_share=0.75, lr=0.0, rbm_weight_cost=0.5)
    model = DeepAE(_spec(d), code, cfg)
    n_layers = len(sizes) + 1
    # budget: 0.75 of it split into exactly one batch per RBM, and one fine-tuning step
    model.fit(x, _ctx(budget=n * n_layers * 4 // 3, batch=n, seed=11))
    assert [p["samples"] for p in model.pretraining] == [n] * n_layers
    draw = torch.Generator().manual_seed(11)  # the fit's draws, in order, redone by hand
    data = x.double().numpy()
    for k, (n_vis, n_hid) in enumerate(zip((d, *sizes), (*sizes, code), strict=True)):
        linear = k == n_layers - 1
        w0 = (torch.randn(n_vis, n_hid, generator=draw) * cfg.rbm_init_std).double().numpy()
        perm = torch.randperm(n, generator=draw).numpy()
        noise = (torch.randn if linear else torch.rand)((n, n_hid), generator=draw)
        lr = cfg.linear_rbm_lr if linear else cfg.rbm_lr
        zero = (np.zeros((n_vis, n_hid)), np.zeros(n_vis), np.zeros(n_hid))
        want = _hand_cd1(data[perm], w0, zero[1], zero[2], noise.double().numpy(), lr,
                         cfg.rbm_weight_cost, linear, inc=zero, momentum=0.5)  # fmt: skip
        got = [t.double().numpy() for t in model.stack[k]]
        for g_, w_ in zip(got, want, strict=True):
            np.testing.assert_allclose(g_, w_, rtol=1e-4, atol=1e-6)
        data = _sig(data @ got[0] + got[2])  # the next RBM's data: p(h | v), in data order


def test_unrolled_net_before_fine_tuning_is_the_stacks_up_down_pass():
    d, sizes, code = 10, (8, 6), 3
    x = torch.rand(64, d, generator=torch.Generator().manual_seed(0))
    # lr 0: Adam's fine-tuning steps move nothing, so the net is the unrolled stack
    model = DeepAE(_spec(d), code, DeepAEConfig(hidden=sizes, lr=0.0))
    model.fit(x, _ctx(budget=2_000, batch=16))
    model.eval()
    stack = [[t.double().numpy() for t in layer] for layer in model.stack]
    v = x.double().numpy()
    for i, (w, _, b) in enumerate(stack):  # up: logistic, the top linear
        v = v @ w + b if i == len(stack) - 1 else _sig(v @ w + b)
    code_np = v
    for w, a, _ in reversed(stack):  # down: every layer logistic, through the visible biases
        v = _sig(v @ w.T + a)
    with torch.no_grad():
        np.testing.assert_allclose(model.encode(x).double().numpy(), code_np, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(model.reconstruct(x).double().numpy(), v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("config", [DeepAEConfig, DeepAENoPretrainConfig])
def test_budget_is_shared_between_pretraining_and_fine_tuning(config):
    d, budget, batch = 12, 3_200, 16
    x = torch.rand(200, d, generator=torch.Generator().manual_seed(1))
    model = DeepAE(_spec(d), 4, config(hidden=(10, 8)))
    ctx = _ctx(budget, batch)
    model.fit(x, ctx)
    diag = model.diagnostics(x, None)
    pre, fine = diag["pretrain_samples"], diag["finetune_samples"]
    assert pre + fine == ctx.samples_seen <= budget  # full batches only: at most the budget
    assert budget - ctx.samples_seen < 2 * batch
    assert ctx.budget_samples == budget  # the host's context is left as it was given
    if config is DeepAENoPretrainConfig:
        assert pre == 0 and "layer1_s" not in diag
    else:
        per_layer = [diag[f"layer{k}_samples"] for k in (1, 2, 3)]
        assert len(set(per_layer)) == 1 and sum(per_layer) == pre
        assert pre == pytest.approx(0.75 * budget, abs=3 * batch)
        assert all(diag[f"layer{k}_s"] > 0 for k in (1, 2, 3))


def test_twin_nets_have_the_same_shape_and_the_paper_stack_by_default():
    spec = DataSpec(dim=784, shape=(1, 28, 28), kind="image", hidden_size=512)
    a, b = DeepAE(spec, 30, DeepAEConfig()), DeepAE(spec, 30, DeepAENoPretrainConfig())
    assert a.sizes == b.sizes == (784, 1000, 500, 250, 30)
    assert a.parameter_count() == b.parameter_count()


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="pretrain_share"):
        DeepAEConfig(pretrain_share=1.0)
    with pytest.raises(ValueError, match="hidden"):
        DeepAEConfig(hidden=(4, 0))
