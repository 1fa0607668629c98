"""The contract suite, parametrized over every installed model and data set plugin.

Third-party authors run it against their own plugin with::

    pytest --pyargs aebench.testing -k <your-model-name>

Each test uses the model's ``Config.tiny()`` and a small synthetic data set, so the whole
suite takes seconds per model on a CPU. Importing this module registers nothing: the installed
plugins are loaded when pytest parametrizes the tests (:func:`pytest_generate_tests`), so a
test module may import ``ToyPlugin`` or ``toy_splits`` from here at no cost. A test that takes
``model_name`` runs once per registered model, one that takes ``dataset_name`` once per data set.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path

import pytest
import torch

from aebench import (
    KINDS,
    AnomalyTask,
    Capabilities,
    DataError,
    Dataset,
    DataSpec,
    EvalContext,
    FitContext,
    Protocol,
    Splits,
    TorchModel,
    hookimpl,
)
from aebench.model import LIKELIHOOD_KINDS
from aebench.registry.entries import DatasetEntry, ModelEntry, Registry
from aebench.registry.loading import load_registry
from aebench.run import learning

TOY = Protocol(
    name="toy",
    version=1,
    dataset="toy",
    code_size=4,
    hidden_size=16,
    budget_samples=512,
    batch_size=32,
    seeds=(0,),
    iwae_k=8,
    iwae_examples=None,
    ais_chains=8,
    ais_betas=50,
    ais_runs=2,
    eval_batch_size=64,
    description="contract-suite toy protocol",
)


def toy_splits(n_train: int = 96, n_test: int = 48, side: int = 8, seed: int = 0) -> Splits:
    """Blurry blobs on an 8×8 grid: structured enough for every model to learn something."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    centres = torch.randint(1, side - 1, (n, 2), generator=g).float()
    yy, xx = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    d2 = (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2
    x = torch.exp(-d2 / 3.0).reshape(n, -1).clamp(0, 1).float()
    y = (centres[:, 0] > side / 2).long()
    return Splits(
        train_x=x[:n_train],
        test_x=x[n_train:],
        shape=(1, side, side),
        kinds=frozenset({"vector", "image", "sequence"}),
        provenance={
            "source": "synthetic",
            "files": {},
            "n_train": n_train,
            "n_test": n_test,
            "canonical": True,
        },
        train_y=y[:n_train],
        test_y=y[n_train:],
        anomaly=AnomalyTask("label 1 is anomalous", y[:n_train] == 0, y[n_train:] == 1),
    )


TOY_ANOMALY = dataclasses.replace(TOY, name="toy-anomaly", task="anomaly", threshold_quantile=0.9)


class ToyDataset(Dataset):
    """Synthetic blobs (contract tests)."""

    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        return toy_splits()


class ToyPlugin:
    @staticmethod
    @hookimpl
    def aebench_register_datasets(register):
        register("toy", ToyDataset, protocols=[TOY, TOY_ANOMALY])


@functools.cache
def registry() -> Registry:
    """Every installed plugin and the toy data set, loaded once, on first use."""
    return load_registry(extra_plugins=[("toy", ToyPlugin)])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per registered model (``model_name``) or data set (``dataset_name``)."""
    if "model_name" in metafunc.fixturenames:
        metafunc.parametrize("model_name", sorted(registry().models))
    if "dataset_name" in metafunc.fixturenames:
        metafunc.parametrize("dataset_name", sorted(d for d in registry().datasets if d != "toy"))


def _spec(model_entry, splits: Splits) -> DataSpec | None:
    view = next((k for k in model_entry.capabilities.inputs if k in splits.kinds), None)
    if view is None:
        return None
    return DataSpec(
        dim=splits.dim,
        shape=splits.shape,
        kind=view,
        hidden_size=TOY.hidden_size,
        binary=model_entry.capabilities.binary,
    )


def _fit(
    name: str,
    seed: int = 0,
    splits: Splits | None = None,
    labels: bool = False,
    curve_points: int = 0,
):
    """Fit ``name``'s tiny config on toy data; ``labels`` hands it the toy anomaly labels
    (what a supervised reference row trains with); ``curve_points`` takes a validation curve
    (on the toy test inputs) as a protocol's ``val_curve_points`` does."""
    entry = registry().model(name)
    splits = splits or toy_splits()
    spec = _spec(entry, splits)
    if spec is None:
        pytest.skip(f"{name} accepts none of the toy data's views")
    torch.manual_seed(seed)
    model = entry.factory(spec, TOY.code_size, entry.make_config(tiny=True))
    ctx = FitContext(
        budget_samples=TOY.budget_samples,
        batch_size=TOY.batch_size,
        lr=TOY.lr,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(seed),
        binarize=spec.binary,
        labels=(~splits.anomaly.train_normal).long() if labels else None,
        curve_points=curve_points,
    )
    if curve_points:
        figure = learning.curve_figure(model, splits.test_x, spec.kind != "tokens", 64)
        ctx.validation = figure[0] if figure else None
    model.fit(splits.train_x, ctx)
    model.eval()
    return model, splits, ctx


_FITTED: dict[tuple[str, int, bool], tuple] = {}


def _fitted(name: str, seed: int = 0, labels: bool = False):
    """``_fit(name, seed, labels=labels)`` on the default toy data, fitted once per session:
    the checks that only look at a fitted model share it (a determinism check fits afresh)."""
    key = (name, seed, labels)
    if key not in _FITTED:
        _FITTED[key] = _fit(name, seed, labels=labels)
    return _FITTED[key]


def _ectx(seed: int = 0, train_x=None) -> EvalContext:
    return EvalContext(
        generator=torch.Generator().manual_seed(seed),
        device=torch.device("cpu"),
        batch_size=64,
        iwae_k=TOY.iwae_k,
        iwae_examples=None,
        ais_chains=TOY.ais_chains,
        ais_betas=TOY.ais_betas,
        ais_runs=TOY.ais_runs,
        train_x=train_x,
    )


def check_declarations(entry: ModelEntry) -> None:
    """What a model declares before it is built (AssertionError naming what is wrong):

    - ``capabilities``, a :class:`aebench.Capabilities` of known inputs and likelihood kind,
      and ``capabilities_for(config)`` one too, for the default and the ``tiny()`` config;
    - its config, a dataclass whose ``tiny()`` classmethod returns an instance of it;
    - its learning-rate field (``lr_field``, default ``"lr"``): a field of the config (where a
      model names one other than the default), holding None (the protocol's rate) or a
      positive float.
    """
    name, caps = entry.name, entry.capabilities
    assert isinstance(caps, Capabilities), f"{name}: `capabilities` must be a Capabilities"
    assert caps.inputs and set(caps.inputs) <= set(KINDS), f"{name}: inputs {caps.inputs}"
    assert caps.likelihood in LIKELIHOOD_KINDS
    configs = [None]
    if entry.config is not None:
        assert dataclasses.is_dataclass(entry.config), f"{name}: the config must be a dataclass"
        tiny = getattr(entry.config, "tiny", None)
        assert callable(tiny), f"{name}: the config needs a tiny() classmethod for tests"
        assert isinstance(tiny(), entry.config), f"{name}: tiny() must return a config"
        configs = [entry.make_config(), entry.make_config(tiny=True)]
    lr_field = getattr(entry.factory, "lr_field", "lr")
    for config in configs:
        flags = entry.capabilities_for(config)
        assert isinstance(flags, Capabilities), f"{name}: capabilities_for must return one"
        if config is None or lr_field is None:
            continue
        fields = {f.name for f in dataclasses.fields(config)}
        assert lr_field == "lr" or lr_field in fields, f"{name}: no config field {lr_field!r}"
        lr = entry.learning_rate(config)
        assert lr is None or (isinstance(lr, float) and math.isfinite(lr) and lr > 0), (
            f"{name}: learning rate {lr_field}={lr!r} must be None or a positive float"
        )


def test_model_declares_capabilities_tiny_config_and_learning_rate(model_name):
    check_declarations(registry().model(model_name))


def test_model_search_space_fits_its_config(model_name):
    """Each entry names a config field of a type its range fits, and every bound and choice
    makes a valid config on its own (what ``aebench tune`` samples)."""
    from aebench.tuning import Choice, check_space

    entry = registry().model(model_name)
    check_space(model_name, entry.config, entry.search_space)
    for field, param in (entry.search_space or {}).items():
        values = param.options if isinstance(param, Choice) else (param.lo, param.hi)
        for v in values:
            entry.make_config({field: v})


def _reconstructs(name: str) -> bool:
    return "reconstruction" in registry().model(name).capabilities.tasks


def _fit_with_labels(name: str, seed: int = 0, fresh: bool = False):
    model, splits, _ = (_fit if fresh else _fitted)(name, seed, labels=True)
    return model, splits


def test_model_saves_and_reloads_or_says_it_cannot(model_name, tmp_path):
    """``aebench run --save-models``: the fitted state goes through the saved file and back
    into a model built from the same spec and config, which then reconstructs and scores the
    same bits; or ``state_arrays`` raises NotImplementedError saying why it cannot."""
    from aebench.run import saved

    model, splits = _fit_with_labels(model_name)
    entry = registry().model(model_name)
    record = {"model": {"name": model_name, "config": None}}
    try:
        blob = saved.capture(model, model.spec, TOY.code_size, record)
    except NotImplementedError as exc:
        assert str(exc), "say why the model cannot be saved"
        return
    (tmp_path / "model.safetensors").write_bytes(blob)
    state, _ = saved.read(tmp_path / "model.safetensors")
    reloaded = entry.factory(model.spec, TOY.code_size, entry.make_config(tiny=True))
    reloaded.load_state_arrays(state)
    reloaded.eval()
    x = splits.test_x
    with torch.no_grad():
        if _reconstructs(model_name):
            assert torch.equal(reloaded.reconstruct(x), model.reconstruct(x))
        score = model.anomaly_score(x)
        if score is not None:
            assert torch.equal(reloaded.anomaly_score(x), score)


def test_model_shapes_and_finiteness(model_name):
    if not _reconstructs(model_name):
        model, splits = _fit_with_labels(model_name)
        with torch.no_grad():
            s = model.anomaly_score(splits.test_x)
        assert s is not None, "a detector must define anomaly_score"
        assert s.shape == (splits.test_x.shape[0],) and torch.isfinite(s).all()
        return
    model, splits, _ = _fitted(model_name)
    x = splits.test_x
    with torch.no_grad():
        z = model.encode(x)
        rec = model.decode(z)
    assert z.shape[0] == x.shape[0] and z.dim() == 2
    assert rec.shape == x.shape
    assert torch.isfinite(z).all() and torch.isfinite(rec).all()
    assert model.parameter_count() >= 0


def test_model_learns_something(model_name):
    """Training lowers the test reconstruction error below the untrained model's
    (or, for a model that cannot reconstruct before fitting, below a zero image)."""
    if not _reconstructs(model_name):
        pytest.skip("a detector without reconstruction (checked on anomaly protocols)")
    entry = registry().model(model_name)
    model, splits, _ = _fitted(model_name)
    if model.code_size == 0:
        pytest.skip("reference row with no code")
    x = splits.test_x
    if isinstance(model, TorchModel):
        torch.manual_seed(0)
        untrained = entry.factory(model.spec, TOY.code_size, entry.make_config(tiny=True)).eval()
        with torch.no_grad():
            before = ((untrained.reconstruct(x) - x) ** 2).mean()
    else:
        before = (x**2).mean()
    with torch.no_grad():
        after = ((model.reconstruct(x) - x) ** 2).mean()
    assert after < before


def test_model_is_deterministic_for_a_seed(model_name):
    if not _reconstructs(model_name):
        a, splits = _fit_with_labels(model_name, 3, fresh=True)
        b, _ = _fit_with_labels(model_name, 3, fresh=True)
        with torch.no_grad():
            assert torch.equal(a.anomaly_score(splits.test_x), b.anomaly_score(splits.test_x))
        return
    a, splits, _ = _fit(model_name, seed=3)
    b, _, _ = _fit(model_name, seed=3)
    with torch.no_grad():
        assert torch.equal(a.reconstruct(splits.test_x), b.reconstruct(splits.test_x))


def test_model_trains_the_same_weights_with_a_validation_curve(model_name):
    """The validation curve (``Protocol.val_curve_points``) is evaluation: it draws from no
    random stream the training uses, and leaves the model in training mode."""
    entry = registry().model(model_name)
    if not issubclass(entry.factory, TorchModel):
        pytest.skip("not a gradient-trained model")
    plain, _, _ = _fit(model_name)
    curved, _, ctx = _fit(model_name, curve_points=3)
    assert len(ctx.val_curve) == 3
    for (name, a), b in zip(plain.state_dict().items(), curved.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs with a validation curve"


def test_model_gradients_reach_every_parameter(model_name):
    entry = registry().model(model_name)
    if not issubclass(entry.factory, TorchModel):
        pytest.skip("not a gradient-trained model")
    splits = toy_splits()
    spec = _spec(entry, splits)
    if spec is None:
        pytest.skip("no applicable view")
    torch.manual_seed(0)
    model = entry.factory(spec, TOY.code_size, entry.make_config(tiny=True))
    model.train()
    batch = splits.train_x[:32]
    if spec.binary:
        batch = torch.bernoulli(batch, generator=torch.Generator().manual_seed(0))
    loss = model.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


def test_model_optional_methods(model_name):
    model, splits = _fit_with_labels(model_name)
    entry = registry().model(model_name)
    caps = entry.capabilities
    x = splits.test_x
    x_eval = torch.bernoulli(x, generator=torch.Generator().manual_seed(0)) if caps.binary else x
    with torch.no_grad():
        est = model.likelihood(x_eval, _ectx(train_x=splits.train_x))
        score = model.anomaly_score(x)
        sample = model.sample(5, torch.Generator().manual_seed(0))
        diag = model.diagnostics(x, _ectx())
    if caps.likelihood == "none":
        assert est is None
    else:
        assert est, "a model with a likelihood must return at least one estimate"
        for e in est.values():
            assert e.kind in LIKELIHOOD_KINDS and e.label
            assert e.nll.dim() == 1 and 0 < e.nll.numel() <= x.shape[0]
            assert torch.isfinite(e.nll).all()
    if score is not None:
        assert score.shape == (x.shape[0],) and torch.isfinite(score).all()
    if caps.generative:
        assert sample is not None and sample.shape == (5, x.shape[1])
    assert isinstance(diag, dict)
    for v in diag.values():
        assert not isinstance(v, float) or math.isfinite(v)


@pytest.mark.parametrize("protocol", ["toy", "toy-anomaly"])
def test_model_runs_through_the_harness(model_name, protocol, tmp_path):
    from aebench.records import storage
    from aebench.run import runner

    reqs = runner.plan(registry(), [model_name], ["toy"], protocol=protocol)
    data = runner.DataCache(registry(), tmp_path, False, torch.device("cpu"))
    # the contract uses tiny configs; the toy protocol's budget keeps it to seconds
    tiny = registry().model(model_name).make_config(tiny=True)
    fields = dataclasses.asdict(tiny) if tiny is not None else {}
    req = dataclasses.replace(reqs[0], config_overrides=tuple(sorted(fields.items())))
    record = runner.run_one(registry(), req, torch.device("cpu"), data).record
    assert record["status"] in ("ok", "not-applicable"), record.get("reason")
    storage.write_record(req.path(tmp_path), record)
    assert storage.read_record(req.path(tmp_path))["status"] == record["status"]
    if record["status"] == "ok" and protocol == "toy":
        assert math.isfinite(record["metrics"]["recon_mse"])
    if record["status"] == "ok" and protocol == "toy-anomaly":
        assert 0.0 <= record["metrics"]["anomaly.auroc"] <= 1.0


def _data_dir() -> Path | None:
    env = os.environ.get("AEBENCH_DATA")
    if env:
        return Path(env)
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    return shared if shared.exists() else None


def check_dataset(entry: DatasetEntry, data_dir: Path) -> Splits:
    """Load ``entry``'s first protocol from ``data_dir`` (no download) and check what it
    returns: float32 (N, D) splits of its shape, provenance with its counts, labels and anomaly
    masks that fit. Raises :class:`aebench.DataError` where the files are not there."""
    name = entry.name
    proto = entry.protocol()
    assert proto.dataset == name and proto.version >= 1
    splits = entry.factory().load(proto, data_dir, download=False)
    for t in (splits.train_x, splits.test_x):
        assert t.dtype == torch.float32 and t.dim() == 2
    assert splits.train_x.shape[1] == math.prod(splits.shape)
    for key in ("source", "n_train", "n_test", "canonical"):
        assert key in splits.provenance, f"{name}: provenance lacks {key!r}"
    assert splits.provenance["n_train"] == splits.train_x.shape[0]
    assert splits.provenance["n_test"] == splits.test_x.shape[0]
    if splits.train_y is not None:
        assert splits.train_y.shape[0] == splits.train_x.shape[0]
    if splits.anomaly is not None:
        assert splits.anomaly.test_anomalous.shape[0] == splits.test_x.shape[0]
        assert splits.anomaly.train_normal.shape[0] == splits.train_x.shape[0]
    return splits


def test_dataset_contract(dataset_name):
    data_dir = _data_dir() or Path("/nonexistent-aebench-data")
    try:
        check_dataset(registry().dataset(dataset_name), data_dir)
    except DataError as exc:
        pytest.skip(f"{dataset_name}: data files not available offline here ({exc})")
