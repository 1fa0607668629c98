"""The learning gate's baseline, the validation curve, early stopping and the convergence rule.

The baseline is checked against NumPy's mean image; the curve against a run without it
(same weights, bit for bit); early stopping against a scripted validation figure.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from toy_models import Cfg, OwnFit
from toy_models import LinearAE as _Linear

from aebench import DataSpec, hookimpl
from aebench.errors import ProtocolError
from aebench.protocol import Protocol
from aebench.registry.loading import load_registry
from aebench.run import learning, runner
from aebench.testing import TOY, ToyPlugin
from aebench.training import FitContext, gradient_fit


class Noisy(_Linear):
    """Draws from the run's generator (as a VAE's reparameterisation does) and from torch's
    global one (as dropout does) in its loss: a curve must move neither."""

    def loss(self, batch):
        g = self.noise
        eps = torch.randn(batch.shape, generator=g) * 0.01 + torch.randn(batch.shape) * 0.01
        return super().loss(batch + eps)


def _ctx(seed=0, budget=640, **kw) -> FitContext:
    return FitContext(
        budget_samples=budget,
        batch_size=32,
        lr=1e-2,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(seed),
        binarize=False,
        **kw,
    )


def _data(n=96, d=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g), torch.rand(40, d, generator=g)


def _model(cls=_Linear, d=16):
    torch.manual_seed(3)
    return cls(DataSpec(dim=d, shape=(d,), kind="vector"), 4, Cfg())


def _fit(cls, ctx, train):
    model = _model(cls)
    model.noise = ctx.generator
    gradient_fit(model, train, ctx)
    return model


# --- the baseline figure --------------------------------------------------------------------


def test_training_mean_mse_is_numpys_mean_image_error():
    train, val = _data(n=300, d=64)
    mean = train.numpy().astype(np.float64).mean(0)
    expected = ((val.numpy().astype(np.float64) - mean) ** 2).mean()
    # batched over the validation examples, the same figure
    got = learning.training_mean_mse(train, val, batch_size=7)
    assert got == pytest.approx(expected, rel=1e-12)
    images = learning.training_mean_mse(train.reshape(300, 1, 8, 8), val.reshape(40, 1, 8, 8), 64)
    assert images == pytest.approx(expected, rel=1e-12)


# --- the curve ------------------------------------------------------------------------------


def test_a_curve_without_early_stopping_trains_the_same_weights():
    train, val = _data()
    plain = _fit(Noisy, _ctx(), train)
    ctx = _ctx(curve_points=5)
    model = _model(Noisy)
    model.noise = ctx.generator
    # the model's own loss as the figure: it draws from both generators the training uses
    ctx.validation = learning.curve_figure(model, val, False, 16)[0]
    gradient_fit(model, train, ctx)
    for a, b in zip(plain.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert len(ctx.val_curve) == 5 and not ctx.stopped_early
    assert ctx.curve_s > 0


def test_the_curve_is_evenly_spaced_and_ends_with_the_final_models_figure():
    train, val = _data()
    ctx = _ctx(budget=640, curve_points=4)  # 20 steps of 32: a point every 5 steps
    model = _model()
    ctx.validation = learning.curve_figure(model, val, True, 64)[0]
    gradient_fit(model, train, ctx)
    assert [s for s, _ in ctx.val_curve] == [160, 320, 480, 640]
    assert ctx.samples_seen == 640 and ctx.best_point is not None
    # the last point is the figure the record's val_recon_mse reports, exactly
    assert ctx.val_curve[-1][1] == learning.validation_mse(model, val, 64)
    assert not model.training  # the loop leaves the model in eval mode, as before


def test_a_model_without_reconstruction_is_followed_by_its_own_loss():
    train, val = _data()
    model = _model()
    fn, name = learning.curve_figure(model, val, False, 64)
    assert name == "validation loss"
    with torch.no_grad():
        assert fn() == pytest.approx(float(model.loss(val)), rel=1e-6)


# --- early stopping -------------------------------------------------------------------------


def test_early_stopping_restores_the_best_weights_and_records_the_samples_used():
    train, _ = _data()
    script = iter([5.0, 4.0, 3.0, 3.5, 3.2, 9.0, 9.0, 9.0, 9.0, 9.0])
    snapshots = []
    model = _model()

    def figure():
        snapshots.append([p.detach().clone() for p in model.parameters()])
        return next(script)

    ctx = _ctx(budget=640, curve_points=10, patience=2, validation=figure)
    gradient_fit(model, train, ctx)
    # best at the third point (3.0); two points without improvement after it: stop at the fifth
    assert [v for _, v in ctx.val_curve] == [5.0, 4.0, 3.0, 3.5, 3.2]
    assert ctx.stopped_early and ctx.best_point == 2
    assert ctx.samples_seen == 5 * 64 and ctx.step == 10  # 2 steps of 32 per point
    for got, best in zip(model.parameters(), snapshots[2], strict=True):
        assert torch.equal(got, best)
    assert not all(torch.equal(a, b) for a, b in zip(snapshots[2], snapshots[4], strict=True))


def test_patience_never_met_runs_the_whole_budget():
    train, val = _data()
    model = _model()
    ctx = _ctx(budget=640, curve_points=4, patience=10)
    ctx.validation = learning.curve_figure(model, val, True, 64)[0]
    gradient_fit(model, train, ctx)
    assert ctx.samples_seen == 640 and not ctx.stopped_early


# --- convergence and the gate ---------------------------------------------------------------


@pytest.mark.parametrize(
    "values, verdict",
    [
        ([4, 3, 2, 1.5, 1.4, 1.3, 1.2, 1.1], False),  # still falling 1.3 -> 1.1: 15 %
        ([4, 3, 2, 1.5, 1.2, 1.2, 1.199, 1.2], True),  # 1.2 -> 1.199: 0.08 %
        ([4, 3, 2, 1.0, 1.0, 1.1, 1.2, 1.3], True),  # worse at the end: converged (overfit)
    ],
)
def test_not_converged_means_the_last_quarter_still_improves(values, verdict):
    curve = [[100 * (i + 1), v] for i, v in enumerate(values)]  # tail: the last two points
    assert learning.converged(curve, 0.01) is verdict


def test_convergence_needs_points_on_both_sides():
    assert learning.converged([], 0.01) is None
    assert learning.converged([[100, 1.0]], 0.01) is None


def test_learned_compares_with_the_training_mean_at_the_gate_ratio():
    proto = Protocol("p", 1, "d", 4, 100)
    part = learning.describe(proto, 0.0014, 0.001415, "off (val_curve_points=0)", [])
    assert part["learned"] is False and part["ratio"] == pytest.approx(0.0014 / 0.001415)
    record = {"status": "ok", "model": {"tags": []}, "learning": part}
    assert learning.learned(record) is False
    assert learning.learned(record, gate_ratio=1.0) is True
    record["learning"] = learning.describe(proto, 0.5, 1.0, "off", [])
    assert learning.learned(record) is True
    assert learning.learned({**record, "model": {"tags": ["reference"]}}) is None
    assert learning.learned({"status": "ok", "metrics": {"val_recon_mse": 0.1}}) is None


def test_protocol_checks_the_new_fields_and_keeps_old_fingerprints():
    assert dataclasses.replace(TOY).fingerprint() == TOY.fingerprint()
    assert "val_curve_points" not in TOY.to_dict()
    assert TOY.with_overrides(val_curve_points=3).fingerprint() != TOY.fingerprint()
    for bad, needle in [
        ({"val_curve_points": -1}, "val_curve_points must be a non-negative integer"),
        ({"early_stopping_patience": 2}, "needs val_curve_points"),
        ({"gate_ratio": 1.5}, "gate_ratio must be in (0, 1]"),
        ({"converged_tolerance": -0.1}, "converged_tolerance must be >= 0"),
    ]:
        with pytest.raises(ProtocolError, match=needle.replace("(", r"\(").replace("]", r"\]")):
            TOY.with_overrides(**bad)


# --- through the runner ---------------------------------------------------------------------


class _Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("good", _Linear, config=Cfg)
        register("own", OwnFit, config=Cfg)


@pytest.fixture(scope="module")
def registry():
    return load_registry(
        disabled={"pca", "mean", "rbm", "vae", "sparse_ae", "denoising_ae", "conv_ae", "lstm_ae"},
        extra_plugins=[("toy", ToyPlugin), ("learning", _Plugin)],
    )


def _records(registry, tmp_path, **overrides):
    reqs = runner.plan(registry, ["good", "own"], ["toy"], seeds=[0], protocol_overrides=overrides)
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    out = {}
    for req in reqs:
        record = runner.run_one(registry, req, torch.device("cpu"), data).record
        out[record["model"]["name"]] = record
    return out


def test_records_carry_the_gate_and_the_curve(registry, tmp_path):
    plain = _records(registry, tmp_path)
    curved = _records(registry, tmp_path, val_curve_points=4)
    good, own = curved["good"], curved["own"]
    assert good["status"] == own["status"] == "ok"
    part = good["learning"]
    assert part["baseline"] == "training mean" and part["curve"] == "validation reconstruction MSE"
    assert part["val_recon_mse"] == good["metrics"]["val_recon_mse"]
    assert part["ratio"] == pytest.approx(part["val_recon_mse"] / part["baseline_val_recon_mse"])
    assert part["converged"] in (True, False)
    curve = good["training"]["val_curve"]
    assert len(curve) == 4
    assert curve[-1] == [good["training"]["samples_seen"], part["val_recon_mse"]]
    assert good["training"]["curve_s"] > 0 and good["training"]["stopped_early"] is False
    # the same weights as without the curve: every figure but timings agrees
    assert good["metrics"]["recon_mse"] == plain["good"]["metrics"]["recon_mse"]
    assert plain["good"]["learning"]["curve"] == "off (val_curve_points=0)"
    assert "val_curve" not in plain["good"]["training"]
    assert plain["good"]["learning"]["converged"] is None
    # a model with its own fit gets the gate, and no curve
    assert own["learning"]["curve"] == "none (own fit)"
    assert own["learning"]["baseline_val_recon_mse"] == part["baseline_val_recon_mse"]


def test_a_run_that_early_stopping_ended_is_converged_whatever_its_last_quarter():
    from aebench import Protocol

    proto = Protocol(name="p", version=1, dataset="d", code_size=2, budget_samples=100)
    still_falling = [[10, 4.0], [20, 3.0], [30, 2.0], [40, 1.0]]
    assert learning.describe(proto, 1.0, 2.0, "c", still_falling)["converged"] is False
    ended = learning.describe(proto, 1.0, 2.0, "c", still_falling, stopped_early=True)
    assert ended["converged"] is True
