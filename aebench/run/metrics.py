"""Shared metrics, computed by the host the same way for every model.

Every function here takes a model that satisfies the contract and tensors already on the
run's device, works in batches under ``torch.no_grad()`` and returns plain Python floats.
The metric table below is what renderers use for labels, units and the better direction.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aebench.model import EvalContext, Model


@dataclass(frozen=True)
class MetricSpec:
    label: str
    unit: str
    better: str  # "lower" | "higher" | "none"
    digits: int = 4
    #: how a board summarises it over seeds: "ci" (an interval for the mean) or "range"
    #: (median and min-max: timings are skewed and positive, a t interval goes negative)
    spread: str = "ci"


METRICS: dict[str, MetricSpec] = {
    "recon_mse": MetricSpec("recon. MSE", "per pixel", "lower", 5),
    "nll": MetricSpec("NLL", "nats", "lower", 2),
    "train_samples_per_s": MetricSpec("train", "samples/s", "higher", 0, "range"),
    "infer_samples_per_s": MetricSpec("inference", "samples/s", "higher", 0, "range"),
    "fit_s": MetricSpec("fit", "s", "lower", 1, "range"),
    "eval_s": MetricSpec("eval", "s", "lower", 1, "range"),
    "params": MetricSpec("params", "", "none", 0),
    "peak_rss_mb": MetricSpec("peak RSS", "MB", "lower", 0, "range"),
}


#: figures of the machine and its load, not of what the code computes: a reproduction check
#: compares every metric but these
TIMING_METRICS = frozenset(
    {
        "fit_s",
        "eval_s",
        "train_samples_per_s",
        "steady_train_samples_per_s",
        "infer_samples_per_s",
        "peak_rss_mb",
        "peak_cuda_mb",
    }
)


def is_timing(key: str) -> bool:
    """Whether a record's metric is a clock figure: one of ``TIMING_METRICS``, or a plugin's
    diagnostic named in seconds (``diag.<name>_s``, e.g. a per-layer pretraining time)."""
    return key in TIMING_METRICS or (key.startswith("diag.") and key.endswith("_s"))


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a timing around it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def reconstruction_errors(model: Model, x: Tensor, batch_size: int) -> Tensor:
    """Per-example mean squared error over features, shape (N,)."""
    out = torch.empty(x.shape[0], device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        rec = model.reconstruct(xb)
        if rec.shape != xb.shape:
            raise ValueError(
                f"reconstruct returned shape {tuple(rec.shape)} for input {tuple(xb.shape)}"
            )
        out[i : i + batch_size] = ((rec - xb) ** 2).mean(1)
    _check_finite(out, "reconstruct")
    return out


def _check_finite(values: Tensor, what: str) -> None:
    """A model's NaN or infinite outputs fail its run, named, rather than pass as null metrics."""
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise ValueError(f"{what} gave NaN or infinite values for {bad} of {values.numel()} inputs")


@torch.no_grad()
def inference_throughput(model: Model, x: Tensor, batch_size: int, repeats: int = 3) -> float:
    """encode+decode samples/s at a fixed batch size, after one warm-up batch, synchronised."""
    device = x.device
    xb = x[:batch_size]
    model.reconstruct(xb)  # warm-up: lazy init, allocator, kernels
    sync(device)
    n, t0 = 0, time.perf_counter()
    for _ in range(repeats):
        for i in range(0, x.shape[0], batch_size):
            model.reconstruct(x[i : i + batch_size])
            n += min(batch_size, x.shape[0] - i)
    sync(device)
    return n / max(time.perf_counter() - t0, 1e-9)


def summarize_likelihoods(estimates: dict[str, Any] | None) -> tuple[dict[str, float], dict]:
    """Flatten a model's likelihood estimates into metrics and a descriptive record part."""
    metrics: dict[str, float] = {}
    described: dict[str, Any] = {}
    if not estimates:
        return metrics, described
    for i, (name, est) in enumerate(estimates.items()):
        nll = est.nll.double()
        mean = float(nll.mean())
        metrics[f"nll.{name}"] = mean
        if i == 0:
            metrics["nll"] = mean
        described[name] = {
            "kind": est.kind,
            "label": est.label,
            "nll_mean": mean,
            "nll_sem": float(nll.std() / math.sqrt(nll.numel())) if nll.numel() > 1 else None,
            "n_examples": int(nll.numel()),
            "info": est.info,
            "parts": {k: float(v.double().mean()) for k, v in est.parts.items()},
            "headline": i == 0,
        }
    return metrics, described


def evaluate(
    model: Model,
    test_x: Tensor,
    test_eval_x: Tensor,
    ctx: EvalContext,
    reconstruction: bool = True,
    likelihoods: bool = True,
    nll_index: Tensor | None = None,
) -> dict[str, Any]:
    """Every shared metric on the test split.

    ``test_x`` holds the plain test inputs (reconstruction error is always measured on them, so
    the column compares like with like); ``test_eval_x`` is what likelihoods are evaluated on
    (the fixed-seed binarisation for binary models under
    ``Protocol.eval_inputs="model"``, else ``test_x``). Without ``likelihoods``
    the model's ``likelihood`` is not called: no board of the protocol shows it. ``nll_index``,
    when given, names the test examples likelihoods are evaluated on (the protocol's
    ``nll_examples``, the same for every model).
    """
    model.eval()
    bs = ctx.batch_size
    metrics: dict[str, Any] = {}
    per_example: dict[str, Tensor] = {}
    if reconstruction:
        per_example["recon_mse"] = reconstruction_errors(model, test_x, bs)
        metrics["recon_mse"] = float(per_example["recon_mse"].double().mean())
    if reconstruction and test_eval_x is not test_x:
        metrics["recon_mse_binarized"] = float(
            reconstruction_errors(model, test_eval_x, bs).double().mean()
        )
    like_x = test_eval_x if nll_index is None else test_eval_x[nll_index.to(test_eval_x.device)]
    estimates, start = None, ctx.generator.get_state()
    if likelihoods:
        with torch.no_grad():
            estimates = model.likelihood(like_x, ctx)
    # diagnostics draw the same numbers whether or not the likelihood estimators ran
    ctx.generator.set_state(start)
    like_metrics, likelihood = summarize_likelihoods(estimates)
    metrics.update(like_metrics)
    if estimates:
        per_example["nll"] = next(iter(estimates.values())).nll
    with torch.no_grad():
        diag = model.diagnostics(test_x, ctx) or {}
    for k, v in diag.items():
        metrics[f"diag.{k}"] = float(v) if isinstance(v, (int, float)) else v
    if reconstruction:
        metrics["infer_samples_per_s"] = inference_throughput(model, test_x, bs)
    return {"metrics": metrics, "likelihood": likelihood, "per_example": per_example}


ANOMALY_METRICS: dict[str, MetricSpec] = {
    "anomaly.f1": MetricSpec("anomaly F1", "label-free thr.", "higher", 3),
    "anomaly.precision": MetricSpec("precision", "", "higher", 3),
    "anomaly.recall": MetricSpec("recall", "", "higher", 3),
    "anomaly.auroc": MetricSpec("AUROC", "", "higher", 3),
    "anomaly.auprc": MetricSpec("AUPRC", "avg. precision", "higher", 3),
    "anomaly.oracle_f1": MetricSpec("oracle F1", "upper bound", "higher", 3),
}
METRICS.update(ANOMALY_METRICS)


#: anomaly score weightings a protocol may name (``Protocol.anomaly_score_weighting``)
SCORE_WEIGHTINGS = ("none", "inverse-variance")


def inverse_variance_weights(train_x: Tensor) -> Tensor:
    """Per-feature weights 1 / (variance over ``train_x`` + 1/n) for the reconstruction error.

    Squared error on a rare feature then counts like squared error on a standardised one (a
    binary feature present at rate p is weighted ~1/p). The floor 1/n, the variance of a
    binary feature seen once in n examples, keeps a feature never seen to vary finite: it
    counts as a feature seen once, not as an infinitely surprising one.
    """
    x = train_x.double()
    return (1.0 / (x.var(0, unbiased=False) + 1.0 / x.shape[0])).to(train_x.dtype)


@torch.no_grad()
def anomaly_scores(
    model: Model, x: Tensor, batch_size: int, use_recon: bool, weights: Tensor | None = None
) -> Tensor:
    """The model's own per-example anomaly score, or its reconstruction error when it has none.

    ``weights`` (D,) weight each feature's squared error (reconstruction scores only).
    """
    parts = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        s = model.anomaly_score(xb)
        if s is None:
            if not use_recon:
                raise ValueError("model defines no anomaly_score and has no reconstruction here")
            err = (model.reconstruct(xb) - xb) ** 2
            s = (err if weights is None else err * weights).mean(1)
        if s.shape != (xb.shape[0],):
            raise ValueError(
                f"anomaly_score returned shape {tuple(s.shape)} for {xb.shape[0]} inputs"
            )
        parts.append(s.double())
    scores = torch.cat(parts)
    _check_finite(scores, "the anomaly score")
    return scores


def label_free_threshold(calibration_scores, quantile: float) -> float:
    """The protocol's decision threshold: a quantile of scores on held-out calibration data.

    It takes calibration scores only, so test labels cannot reach it.
    """
    import numpy as np

    cal = np.asarray(calibration_scores, dtype=np.float64)
    if cal.size == 0 or not np.isfinite(cal).all():
        raise ValueError("calibration scores are empty or not finite")
    return float(np.quantile(cal, quantile))


def anomaly_metrics(threshold: float, test_scores, test_anomalous) -> dict[str, float]:
    """Precision/recall/F1 at ``threshold``, threshold-free AUROC/AUPRC, and the oracle F1.

    scikit-learn computes every number; the oracle F1 (best over all thresholds, which needs
    the test labels) is an upper bound and is named so everywhere it is shown.
    """
    import numpy as np
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    s = np.asarray(test_scores, dtype=np.float64)
    y = np.asarray(test_anomalous, dtype=bool)
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} anomaly score(s) are NaN or infinite")
    pred = s > threshold
    p, r, f1, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    prec, rec, _ = precision_recall_curve(y, s)
    denom = prec + rec
    oracle = float(np.max(np.where(denom > 0, 2 * prec * rec / np.where(denom > 0, denom, 1), 0)))
    return {
        "anomaly.f1": float(f1),
        "anomaly.precision": float(p),
        "anomaly.recall": float(r),
        "anomaly.auroc": float(roc_auc_score(y, s)),
        "anomaly.auprc": float(average_precision_score(y, s)),
        "anomaly.oracle_f1": oracle,
        "anomaly.threshold": float(threshold),
        "anomaly.flagged_fraction": float(pred.mean()),
    }
