"""The steps of one run, each a function with a typed outcome.

In the order the runner takes them: the run's inputs, the model, the fit, then the test
split's metrics (reconstruction, likelihood), validation reconstruction, anomaly scoring, the
cost figures and the pictures. The runner (``aebench.run.runner``) writes each outcome into the
record as it arrives, so a run that fails part way keeps in its record what it got to.
Nothing here knows any model or data set by name.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aebench.model import Capabilities, DataSpec, EvalContext, FitContext, Model
from aebench.protocol import Protocol
from aebench.records import artifacts
from aebench.registry.entries import ModelEntry
from aebench.run import learning, nll_examples, resources, scored_inputs, thresholds
from aebench.run import metrics as M
from aebench.run.data import Prepared, View
from aebench.run.evaluation import has_own_score, score_name

__all__ = [
    "AnomalyOutcome",
    "FitOutcome",
    "RunInputs",
    "TestEvaluation",
    "Trained",
    "build_model",
    "cost_metrics",
    "describe_training",
    "eval_context",
    "evaluate_test",
    "evaluated_inputs",
    "fit",
    "fit_context",
    "learning_record",
    "non_finite_warning",
    "pictures",
    "reset_peaks",
    "run_inputs",
    "score_anomalies",
    "validation_recon_mse",
]


# --- inputs and model ----------------------------------------------------------------------


@dataclass
class RunInputs:
    """What one run fits and is evaluated on: tensors of its own, on the run's device."""

    kind: str  #: the view the model takes ("vector", "image", "tokens", ...)
    spec: DataSpec
    data: View  #: the run's own copy of the view: a model may write into its inputs
    train_x: Tensor  #: what the model is fit on (normal examples only, where the protocol says)
    labels: Tensor | None  #: anomaly labels of the fit examples, for a supervised reference row
    binary: bool  #: binarised per epoch in training (evaluated per ``Protocol.eval_inputs``)
    anomaly: bool  #: an anomaly task
    has_recon: bool  #: reconstruction error is measured (the model reconstructs this view)


def run_inputs(
    prepared: Prepared, kind: str, proto: Protocol, caps: Capabilities, device: torch.device
) -> RunInputs:
    binary = caps.binary and proto.binarization == "dynamic"
    splits = prepared.splits
    data = prepared.view(kind).copy()
    # a token view is (N, L) ids: L steps, whatever the vector view's width
    shape = tuple(data.fit.shape[1:]) if kind == "tokens" else tuple(splits.shape)
    spec = DataSpec(
        dim=math.prod(shape),
        shape=shape,
        kind=kind,
        hidden_size=proto.hidden_size,
        binary=binary,
        vocab_size=splits.extras.get("vocab_size"),
    )
    anomaly = proto.task == "anomaly"
    train_x, labels = data.fit, None
    if anomaly:
        fit_normal, _, _ = prepared.mask("normal")
        if caps.supervised:  # reference rows trained with labels see every training example
            labels = (~fit_normal).long().to(device)
        elif proto.anomaly_train == "normal":
            train_x = data.fit[fit_normal.to(device)]
    has_recon = kind != "tokens" and "reconstruction" in caps.tasks
    return RunInputs(kind, spec, data, train_x, labels, binary, anomaly, has_recon)


def build_model(
    entry: ModelEntry,
    config: Any,
    spec: DataSpec,
    proto: Protocol,
    seed: int,
    device: torch.device,
) -> Model:
    torch.manual_seed(seed)  # model initialisation draws from the global generator
    model: Model = entry.factory(spec, proto.code_size, config)
    model.to(device)
    return model


# --- the fit -------------------------------------------------------------------------------


def fit_context(
    entry: ModelEntry,
    config: Any,
    proto: Protocol,
    seed: int,
    inputs: RunInputs,
    device: torch.device,
    progress: Callable[[int, int], None] | None,
    model: Model | None = None,
) -> FitContext:
    """The fit's context; with ``model`` and the protocol's ``val_curve_points``, the
    validation figure the training loop takes its curve on (``aebench.run.learning``)."""
    figure = None
    if model is not None and proto.val_curve_points:
        figure = learning.curve_figure(
            model, inputs.data.val, inputs.has_recon, proto.eval_batch_size
        )
    return FitContext(
        budget_samples=proto.budget_samples,
        batch_size=proto.batch_size,
        lr=entry.learning_rate(config) or proto.lr,
        optimizer=proto.optimizer,
        device=device,
        generator=torch.Generator(device=device).manual_seed(seed),
        binarize=inputs.binary,
        progress=progress,
        labels=inputs.labels,
        precision=proto.precision,
        optimizer_impl=proto.optimizer_impl,
        validation=figure[0] if figure else None,
        curve_points=proto.val_curve_points,
        patience=proto.early_stopping_patience,
    )


def describe_training(
    proto: Protocol, inputs: RunInputs, ctx: FitContext, model: Model, caps: Capabilities
) -> dict[str, Any]:
    """The record's ``training`` as the fit begins (the fit's own figures are added after)."""
    binary = inputs.binary
    return {
        "binarization": "dynamic (Bernoulli per epoch)" if binary else "none",
        "test_binarization": f"fixed, seed {proto.test_binarization_seed}"
        if scored_inputs.binarized_eval(proto, binary)
        else "none",
        "eval_inputs": scored_inputs.describe(proto, binary),
        "lr": ctx.lr,
        "optimizer": proto.optimizer,
        "optimizer_impl": proto.optimizer_impl,
        "precision": proto.precision,
        "view": inputs.kind,
        "code_size": getattr(model, "code_size", proto.code_size),
        "n_train": int(inputs.train_x.shape[0]),
        "supervised": caps.supervised,
    }


def reset_peaks(device: torch.device) -> str:
    """Start the run's peak-memory counts; returns how peak RSS is measured (the record's
    ``training.peak_rss``)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return resources.reset_peak_rss()


@dataclass(frozen=True)
class FitOutcome:
    """How the fit went: its wall time and what the fit context counted."""

    fit_s: float
    samples_seen: int
    steps: int
    epochs: int
    kind: str  #: ``FitContext.fit_kind()``: "batches", "closed form" or "own fit"
    loss_curve: list[float]
    steady_samples_per_s: float | None
    #: (samples seen, validation figure) at each point of the curve; empty: none taken
    val_curve: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    curve_s: float = 0.0  #: the curve's time: off ``fit_s``, counted in the evaluation's
    stopped_early: bool = False
    best_point: int | None = None  #: index into ``val_curve`` of its best figure

    @property
    def samples_per_s(self) -> float | None:
        # a fit that reports no examples seen has no throughput: unmeasured, not zero
        return self.samples_seen / self.fit_s if self.fit_s > 0 and self.samples_seen else None

    def training_fields(self) -> dict[str, Any]:
        """What the record's ``training`` gains once the fit is over."""
        return {
            "samples_seen": self.samples_seen,
            "steps": self.steps,
            "epochs": self.epochs,
            "fit": self.kind,
            "loss_curve": self.loss_curve,
            **(self._curve_fields() if self.val_curve else {}),
        }

    def _curve_fields(self) -> dict[str, Any]:
        return {
            "val_curve": [[s, v] for s, v in self.val_curve],
            "curve_s": self.curve_s,
            "stopped_early": self.stopped_early,
            "best_point": self.best_point,
        }


def fit(model: Model, train_x: Tensor, ctx: FitContext, device: torch.device) -> FitOutcome:
    M.sync(device)
    t0 = time.perf_counter()
    model.fit(train_x, ctx)
    M.sync(device)
    fit_s = time.perf_counter() - t0 - ctx.curve_s  # the curve is evaluation's time
    return FitOutcome(
        fit_s,
        ctx.samples_seen,
        ctx.step,
        ctx.epoch,
        ctx.fit_kind(),
        ctx.epoch_losses,
        ctx.steady_throughput(),
        list(ctx.val_curve),
        ctx.curve_s,
        ctx.stopped_early,
        ctx.best_point,
    )


@dataclass
class Trained:
    """A fitted model with the inputs it was fit on."""

    model: Model
    inputs: RunInputs
    fitted: FitOutcome


# --- evaluation ----------------------------------------------------------------------------


def eval_context(proto: Protocol, seed: int, device: torch.device, train_x: Tensor) -> EvalContext:
    return EvalContext(
        generator=torch.Generator(device=device).manual_seed(10_000 + seed),
        device=device,
        batch_size=proto.eval_batch_size,
        iwae_k=proto.iwae_k,
        iwae_examples=proto.iwae_examples,
        ais_chains=proto.ais_chains,
        ais_betas=proto.ais_betas,
        ais_runs=proto.ais_runs,
        train_x=train_x,
    )


def evaluated_inputs(prepared: Prepared, inputs: RunInputs) -> View:
    """The inputs as evaluated: under ``eval_inputs="model"`` a binary model's are one
    fixed-seed Bernoulli draw; under "pixels" every model's are the run's own inputs."""
    if scored_inputs.binarized_eval(prepared.protocol, inputs.binary):
        return prepared.view(inputs.kind, binarized_eval=True).copy()
    return inputs.data


@dataclass
class TestEvaluation:
    """The shared metrics on the test split (``aebench.run.metrics.evaluate``)."""

    metrics: dict[str, Any]
    likelihood: dict[str, Any]  #: the record's ``likelihood``: each estimate described
    per_example: dict[str, Tensor]  #: stored beside the record
    likelihood_examples: dict[str, Any] | None  #: which test examples the NLL covers
    likelihood_note: str | None  #: why no likelihood was estimated, if none was


def test_phase(proto: Protocol, caps: Any) -> str:
    """What the progress display calls the test evaluation: the likelihood estimate with its
    settings where one runs (often most of a run's time), else the test set's metrics."""
    if caps.likelihood in ("bound", "estimate") and proto.estimates_likelihoods:
        return (
            f"likelihood estimate (IWAE k={proto.iwae_k:,}; AIS {proto.ais_chains} chains × "
            f"{proto.ais_betas:,} temperatures × {proto.ais_runs})"
        )
    return "test metrics"


def evaluate_test(
    model: Model,
    inputs: RunInputs,
    evald: View,
    prepared: Prepared,
    proto: Protocol,
    ectx: EvalContext,
) -> TestEvaluation:
    likelihoods = proto.estimates_likelihoods  # no estimator runs for boards that omit it
    n_test, split_seed = int(inputs.data.test.shape[0]), prepared.protocol.split_seed
    nll_index = nll_examples.select(proto, prepared.splits.test_y, n_test, split_seed)
    result = M.evaluate(
        model, inputs.data.test, evald.test, ectx, inputs.has_recon, likelihoods, nll_index
    )
    per_example = result["per_example"]
    examples = nll_examples.describe(per_example, proto, nll_index, n_test, split_seed)
    note = None if likelihoods else f"not estimated (likelihoods={proto.likelihoods!r})"
    return TestEvaluation(result["metrics"], result["likelihood"], per_example, examples, note)


def learning_record(
    model: Model, inputs: RunInputs, proto: Protocol, fitted: FitOutcome, val_mse: float | None
) -> dict[str, Any]:
    """The record's ``learning``: the gate against the training mean's validation MSE (on
    the slice ``val_mse`` is measured on) and what the validation curve says."""
    val, bs = inputs.data.val, proto.eval_batch_size
    baseline = None if val_mse is None else learning.training_mean_mse(inputs.train_x, val, bs)
    if fitted.val_curve:
        curve = learning.curve_figure(model, val, inputs.has_recon, bs)[1]  # type: ignore[index]
    elif not proto.val_curve_points:
        curve = "off (val_curve_points=0)"
    elif not val.shape[0]:
        curve = "none (no validation examples)"
    else:
        curve = "none (own fit)"
    return learning.describe(
        proto, val_mse, baseline, curve, fitted.val_curve, fitted.stopped_early
    )


def validation_recon_mse(model: Model, inputs: RunInputs, proto: Protocol) -> float | None:
    """Mean reconstruction error on the validation slice (None: none measured)."""
    if not (inputs.has_recon and inputs.data.val.shape[0]):
        return None
    errors = M.reconstruction_errors(model, inputs.data.val, proto.eval_batch_size)
    return float(errors.double().mean())


@dataclass
class AnomalyOutcome:
    """Anomaly scores on the test split, judged at the label-free threshold."""

    metrics: dict[str, float]
    test_scores: Tensor
    test_anomalous: Tensor
    description: dict[str, Any]  #: the record's ``anomaly``: threshold rule, counts, score


def score_anomalies(
    model: Model,
    inputs: RunInputs,
    evald: View,
    prepared: Prepared,
    proto: Protocol,
    device: torch.device,
) -> AnomalyOutcome:
    """Calibrate the threshold on held-out examples (normal ones, unless the protocol trains
    on all), then score the test split."""
    _, val_normal, test_anomalous = prepared.mask("normal")
    cal = evald.val if proto.anomaly_train == "all" else evald.val[val_normal.to(device)]
    own_score = has_own_score(model, cal)
    weights = None  # the same weighting for every model scored by reconstruction error
    if proto.anomaly_score_weighting == "inverse-variance" and not own_score:
        weights = M.inverse_variance_weights(inputs.train_x)
    bs = proto.eval_batch_size
    cal_scores = M.anomaly_scores(model, cal, bs, inputs.has_recon, weights)
    test_scores = M.anomaly_scores(model, evald.test, bs, inputs.has_recon, weights)
    n_cal_anomalous = int((~val_normal).sum()) if proto.anomaly_train == "all" else 0
    q = thresholds.quantile(proto, int(cal.shape[0]), n_cal_anomalous)
    threshold = M.label_free_threshold(cal_scores.cpu().numpy(), q)
    metrics = M.anomaly_metrics(threshold, test_scores.cpu().numpy(), test_anomalous.numpy())
    description = {
        "threshold_rule": thresholds.rule(proto, q, n_cal_anomalous / max(1, cal.shape[0])),
        "threshold_quantile": q,
        "n_calibration": int(cal.shape[0]),
        "n_calibration_anomalous": n_cal_anomalous,
        "n_test_anomalous": int(test_anomalous.sum()),
        "n_test": int(test_anomalous.numel()),
        "score": score_name(own_score, weights is not None),
    }
    return AnomalyOutcome(metrics, test_scores, test_anomalous, description)


def cost_metrics(
    model: Model, fitted: FitOutcome, eval_started: float, device: torch.device
) -> dict[str, Any]:
    """Time, throughput, size and memory: taken once the evaluation is over."""
    M.sync(device)
    out = {
        "fit_s": fitted.fit_s,
        "eval_s": time.perf_counter() - eval_started + fitted.curve_s,
        "train_samples_per_s": fitted.samples_per_s,
        "params": model.parameter_count(),
        "steady_train_samples_per_s": fitted.steady_samples_per_s,
        "peak_rss_mb": resources.peak_rss_mb(),
    }
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def non_finite_warning(metrics: dict[str, Any]) -> str | None:
    """JSON has no NaN/inf: the record stores them as null and says which, here."""
    bad = sorted(k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v))
    return f"non-finite metric(s) stored as null: {', '.join(bad)}" if bad else None


def pictures(
    model: Model,
    inputs: RunInputs,
    prepared: Prepared,
    seed: int,
    proto: Protocol,
    caps: Capabilities,
    device: torch.device,
) -> dict[str, Tensor | None]:
    """The figure-only arrays (reconstructions, samples, codes); figures draw on the first
    seed's run, so other seeds store none."""
    if not artifacts.keeps_figures(seed, proto.seeds):
        return {}
    splits = prepared.splits
    test_y = splits.test_y.to(device) if splits.test_y is not None else None
    image = artifacts.is_image(splits.shape)
    return artifacts.picture_arrays(
        model, inputs.data.test, test_y, seed, caps.generative, inputs.has_recon, image
    )
