"""The PyOD adapter through the harness on a tiny synthetic anomaly set (needs aebench[pyod])."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

pytest.importorskip("pyod", reason="PyOD is an optional extra: pip install aebench[pyod]")

from aebench.registry.loading import load_registry  # noqa: E402
from aebench.run import runner  # noqa: E402
from aebench.testing import ToyPlugin  # noqa: E402

MODELS = ("pyod-autoencoder", "pyod-iforest")


def _run(registry, name: str, tmp_path, protocol: str = "toy-anomaly", seed: int = 0):
    req = runner.plan(registry, [name], ["toy"], protocol=protocol, seeds=[seed])[0]
    tiny = dataclasses.asdict(registry.model(name).make_config(tiny=True))
    req = dataclasses.replace(req, config_overrides=tuple(sorted(tiny.items())))
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    return runner.run_one(registry, req, torch.device("cpu"), data).record, data, req


@pytest.fixture(scope="module")
def registry():
    return load_registry(extra_plugins=[("toy", ToyPlugin)])


@pytest.mark.parametrize("name", MODELS)
def test_registered_as_pyod_reference_rows(registry, name):
    entry = registry.model(name)
    assert set(entry.tags) == {"reference", "pyod"}
    assert entry.capabilities.tasks == ("anomaly",)
    assert entry.capabilities.inputs == ("vector",)


@pytest.mark.parametrize("name", MODELS)
def test_runs_through_the_harness_on_normal_data_only(registry, name, tmp_path):
    record, data, req = _run(registry, name, tmp_path)
    assert record["status"] == "ok", record.get("reason")
    fit_normal, _, _ = data.get("toy", req.protocol).mask("normal")
    assert record["training"]["n_train"] == int(fit_normal.sum()) < len(fit_normal)
    assert 0.0 <= record["metrics"]["anomaly.auroc"] <= 1.0
    assert record["anomaly"]["score"] == "model's anomaly_score"


@pytest.mark.parametrize("name", MODELS)
def test_not_applicable_to_reconstruction_protocols(registry, name, tmp_path):
    record, _, _ = _run(registry, name, tmp_path, protocol="toy")
    assert record["status"] == "not-applicable"


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_for_a_seed_and_seeded_by_it(registry, name, tmp_path):
    a, _, _ = _run(registry, name, tmp_path / "a", seed=1)
    b, _, _ = _run(registry, name, tmp_path / "b", seed=1)
    c, _, _ = _run(registry, name, tmp_path / "c", seed=2)
    assert a["metrics"]["anomaly.threshold"] == b["metrics"]["anomaly.threshold"]
    assert a["metrics"]["anomaly.auroc"] == b["metrics"]["anomaly.auroc"]
    assert a["metrics"]["anomaly.threshold"] != c["metrics"]["anomaly.threshold"]


def test_autoencoder_score_is_pyods_distance_in_standardised_space(registry):
    """decision_function recomputed independently: Euclidean distance between the standardised
    input (training mean, std + 1e-8) and the network's output on it."""
    from aebench.model import DataSpec, FitContext
    from aebench.testing import toy_splits
    from aebench_plugins.models.pyod_adapter import PyODAutoEncoder, PyODAutoEncoderConfig

    splits = toy_splits()
    spec = DataSpec(dim=splits.dim, shape=(splits.dim,), kind="vector")
    model = PyODAutoEncoder(spec, 4, PyODAutoEncoderConfig.tiny())
    ctx = FitContext(
        budget_samples=10_000,
        batch_size=32,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=False,
    )
    model.fit(splits.train_x, ctx)
    assert ctx.epoch == 2 and ctx.samples_seen == 2 * 96  # tiny: 2 epochs, 3 full batches
    x = splits.test_x.numpy().astype(np.float64)
    train = splits.train_x.numpy()
    z = (x - train.mean(0)) / (train.std(0) + 1e-8)
    net = model.detector.model.eval()
    with torch.no_grad():
        rec = net(torch.from_numpy(z).float()).double().numpy()
    expected = np.sqrt(((z - rec) ** 2).sum(1))
    got = model.anomaly_score(splits.test_x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_autoencoder_epochs_are_capped_by_the_budget():
    from aebench.model import DataSpec, FitContext
    from aebench_plugins.models.pyod_adapter import PyODAutoEncoder, PyODAutoEncoderConfig

    x = torch.rand(64, 6, generator=torch.Generator().manual_seed(0))
    model = PyODAutoEncoder(DataSpec(6, (6,), "vector"), 2, PyODAutoEncoderConfig.tiny())
    model.config = dataclasses.replace(model.config, epoch_num=10)
    ctx = FitContext(
        budget_samples=3 * 64,
        batch_size=32,
        lr=1e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        binarize=False,
    )
    model.fit(x, ctx)
    assert ctx.epoch == 3 and ctx.samples_seen == 192
    assert model.detector.epoch_num == 3
