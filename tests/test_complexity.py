"""The image anomaly reference rows (``complexity``, ``mean-bernoulli``) against independent
numpy computations, and ``Protocol.eval_inputs``: which inputs every row of a board scores."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from aebench import Capabilities, Dataset, DataSpec, FitContext, Model, hookimpl
from aebench.errors import ProtocolError
from aebench.registry.loading import load_registry
from aebench.run import runner, steps
from aebench.run.scored_inputs import eval_inputs_note
from aebench.testing import TOY_ANOMALY, ToyPlugin, toy_splits

CPU = torch.device("cpu")


def _x(n: int = 40, d: int = 16, seed: int = 0) -> torch.Tensor:
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(seed))
    x[:, :3] = torch.tensor([0.0, 1.0, 0.5])  # the ends of [0, 1] and its middle
    return x


def _ctx() -> FitContext:
    return FitContext(
        budget_samples=1,
        batch_size=1,
        lr=1e-3,
        optimizer="adam",
        device=CPU,
        generator=torch.Generator().manual_seed(0),
        binarize=False,
    )


def _build(registry, name: str, d: int = 16):
    entry = registry.model(name)
    spec = DataSpec(dim=d, shape=(1, 4, d // 4), kind="image")
    return entry.factory(spec, 4, entry.make_config())


# --- a planted plugin whose score is Σx(1−x), written independently ---------------------------


@dataclass(frozen=True)
class _Cfg:
    @classmethod
    def tiny(cls) -> _Cfg:
        return cls()


class _PlantedVariance(Model):
    capabilities = Capabilities(inputs=("image",), tasks=("anomaly",))

    def fit(self, train, ctx):
        ctx.samples_seen = 0

    def encode(self, x):
        raise NotImplementedError

    def decode(self, z):
        raise NotImplementedError

    def anomaly_score(self, x):
        x = x.double()
        return x.sum(1) - (x * x).sum(1)


class _PlantedPlugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("planted-variance", _PlantedVariance, config=_Cfg)


#: the toy data offering only a vector view: the image rows are "not applicable" to it
_VECTOR_ONLY = dataclasses.replace(TOY_ANOMALY, name="toy-vector-anomaly", dataset="toy-vector")


class _VectorOnly(Dataset):
    def load(self, protocol, data_dir, download=True):
        return dataclasses.replace(toy_splits(), kinds=frozenset({"vector"}))


#: the toy blobs with per-pixel texture, more of it on the anomalies: the blobs alone have
#: nearly the same Σx(1−x) wherever they sit, so rounding would order their near-ties
_TEXTURED = dataclasses.replace(TOY_ANOMALY, name="toy-textured-anomaly", dataset="toy-textured")


class _Textured(Dataset):
    def load(self, protocol, data_dir, download=True):
        s = toy_splits()
        g = torch.Generator().manual_seed(7)

        def textured(x, anomalous):
            amount = 0.1 + 0.2 * anomalous.float()[:, None]
            return (x + amount * torch.rand(x.shape, generator=g)).clamp(0, 1)

        a = s.anomaly
        return dataclasses.replace(
            s,
            train_x=textured(s.train_x, ~a.train_normal),
            test_x=textured(s.test_x, a.test_anomalous),
        )


class _DataPlugin:
    @staticmethod
    @hookimpl
    def aebench_register_datasets(register):
        register("toy-vector", _VectorOnly, protocols=[_VECTOR_ONLY])
        register("toy-textured", _Textured, protocols=[_TEXTURED])


@functools.cache
def _registry():
    return load_registry(
        extra_plugins=[("toy", ToyPlugin), ("planted", _PlantedPlugin), ("data", _DataPlugin)]
    )


def _run(tmp_path, model: str, protocol: str = "toy-anomaly", dataset: str = "toy", **over):
    reg = _registry()
    req = runner.plan(reg, [model], [dataset], protocol=protocol, seeds=[0], **over)[0]
    data = runner.DataCache(reg, tmp_path, False, CPU)
    return runner.run_one(reg, req, CPU, data).record


# --- the reference rows against numpy ------------------------------------------------------


def test_complexity_score_is_the_summed_bernoulli_variance():
    model = _build(_registry(), "complexity")
    x = _x()
    model.fit(x, _ctx())
    xn = x.numpy().astype(np.float64)
    np.testing.assert_allclose(model.anomaly_score(x).numpy(), (xn * (1 - xn)).sum(1), rtol=1e-12)


def test_mean_bernoulli_score_is_the_soft_target_cross_entropy_of_the_mean():
    model = _build(_registry(), "mean-bernoulli")
    train, test = _x(seed=1), _x(seed=2)
    train[:, 5] = 0.0  # a pixel never on in training: finite cost by the pseudo-count
    model.fit(train, _ctx())
    t, n, a = train.numpy().astype(np.float64), train.shape[0], 0.5
    p = (t.sum(0) + a) / (n + 2 * a)
    xn = test.numpy().astype(np.float64)
    expected = -(xn * np.log(p) + (1 - xn) * np.log(1 - p)).sum(1)
    np.testing.assert_allclose(model.anomaly_score(test).numpy(), expected, rtol=1e-12)


def test_mean_bernoulli_on_intensities_is_the_expected_nll_of_bernoulli_draws():
    model = _build(_registry(), "mean-bernoulli")
    model.fit(_x(seed=1), _ctx())
    x = _x(n=3, seed=3)
    draws = torch.bernoulli(x.repeat(20_000, 1), generator=torch.Generator().manual_seed(0))
    mc = model.anomaly_score(draws).reshape(20_000, 3).mean(0)
    np.testing.assert_allclose(mc.numpy(), model.anomaly_score(x).numpy(), rtol=5e-3)


def test_a_planted_variance_score_ties_the_complexity_row(tmp_path):
    textured = ("toy-textured-anomaly", "toy-textured")
    ours = _run(tmp_path / "a", "complexity", *textured)
    planted = _run(tmp_path / "b", "planted-variance", *textured)
    assert ours["status"] == planted["status"] == "ok", (ours["reason"], planted["reason"])
    for metric in ("anomaly.auroc", "anomaly.auprc", "anomaly.f1"):
        assert ours["metrics"][metric] == planted["metrics"][metric]
    assert ours["metrics"]["anomaly.threshold"] == pytest.approx(
        planted["metrics"]["anomaly.threshold"], rel=1e-12
    )
    assert ours["metrics"]["anomaly.auroc"] > 0.9  # the texture it was planted to find
    assert "reference" in ours["model"]["tags"]


@pytest.mark.parametrize("model", ["complexity", "mean-bernoulli"])
def test_reference_rows_need_images_and_an_anomaly_task(tmp_path, model):
    vector = _run(tmp_path / "v", model, "toy-vector-anomaly", "toy-vector")
    assert vector["status"] == "not-applicable" and "image" in vector["reason"]
    reconstruction = _run(tmp_path / "r", model, "toy")
    assert reconstruction["status"] == "not-applicable" and "anomaly" in reconstruction["reason"]


# --- Protocol.eval_inputs -----------------------------------------------------------------


def test_eval_inputs_defaults_to_published_behaviour_and_is_checked():
    assert TOY_ANOMALY.eval_inputs == "model"
    assert "eval_inputs" not in TOY_ANOMALY.to_dict()  # published fingerprints stay valid
    pixels = TOY_ANOMALY.with_overrides(eval_inputs="pixels")
    assert pixels.to_dict()["eval_inputs"] == "pixels"
    assert pixels.fingerprint() != TOY_ANOMALY.fingerprint()
    with pytest.raises(ProtocolError, match="eval_inputs 'draws' is not one of") as err:
        TOY_ANOMALY.with_overrides(eval_inputs="draws")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("eval_inputs", ["model", "pixels"])
def test_a_binary_model_is_evaluated_on_the_pixels_or_the_fixed_draw(tmp_path, eval_inputs):
    reg = _registry()
    proto = TOY_ANOMALY.with_overrides(eval_inputs=eval_inputs)
    prepared = runner.DataCache(reg, tmp_path, False, CPU).get("toy", proto)
    caps = reg.model("mean").capabilities
    assert caps.binary
    inputs = steps.run_inputs(prepared, "image", proto, caps, CPU)
    evald = steps.evaluated_inputs(prepared, inputs)
    splits = prepared.splits
    g = torch.Generator().manual_seed(proto.test_binarization_seed)
    draw_test = torch.bernoulli(splits.test_x, generator=g)
    if eval_inputs == "pixels":
        assert torch.equal(evald.test, splits.test_x)
        assert torch.equal(evald.val, splits.train_x[prepared.val_idx])
    else:
        assert torch.equal(evald.test, draw_test)
        assert set(evald.test.unique().tolist()) <= {0.0, 1.0}
    # training is unchanged: binary models still train on dynamic binarisation
    assert inputs.binary


def test_records_and_captions_say_which_inputs_were_scored(tmp_path):
    default = _run(tmp_path / "a", "mean")
    pixels = _run(tmp_path / "b", "mean", protocol_overrides={"eval_inputs": "pixels"})
    assert default["status"] == pixels["status"] == "ok"
    assert default["training"]["test_binarization"] == "fixed, seed 0"
    assert default["training"]["eval_inputs"] == "one Bernoulli draw of the pixels (seed 0)"
    assert pixels["training"]["test_binarization"] == "none"
    assert pixels["training"]["eval_inputs"] == "pixels (every row)"
    assert "do not score the same inputs" in eval_inputs_note(default)
    assert "every row scores the test pixels" in eval_inputs_note(pixels)
    # the mean row's score under "pixels" is its squared error on the pixels themselves
    assert default["metrics"]["anomaly.auroc"] != pixels["metrics"]["anomaly.auroc"]
