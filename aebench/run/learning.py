"""Whether a run learned, and whether it finished learning: the record's ``learning``.

The learning gate compares a row's validation reconstruction MSE with the training mean's
(the mean image, on images: what a model that learned nothing but the average reconstructs)
on the same validation slice; the harness computes that figure itself, from tensors only,
so no ``mean`` run is needed. The validation curve (``Protocol.val_curve_points``), taken by
the training loop (``aebench.training``), says whether a row was still improving at the end
of its budget. Boards call :func:`learned` on stored records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from aebench.model import Model
from aebench.protocol import Protocol

__all__ = [
    "BASELINE",
    "converged",
    "curve_figure",
    "describe",
    "learned",
    "training_mean_mse",
    "validation_mse",
]

#: what the gate's baseline figure is of
BASELINE = "training mean"


@torch.no_grad()
def validation_mse(model: Model, x: Tensor, batch_size: int) -> float:
    """Mean over examples of each one's MSE over features, computed as the record's
    ``val_recon_mse`` is (``aebench.run.metrics.reconstruction_errors``), but a NaN is a
    value here, not an error: mid-training it is the divergence check's to report."""
    errors = torch.empty(x.shape[0], device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        rec = model.reconstruct(xb)
        if rec.shape != xb.shape:  # the same one line as the record's figure would give
            raise ValueError(
                f"reconstruct returned shape {tuple(rec.shape)} for input {tuple(xb.shape)}"
            )
        errors[i : i + batch_size] = ((rec - xb) ** 2).mean(1)
    return float(errors.double().mean())


@torch.no_grad()
def _mean_loss(model: Any, x: Tensor, batch_size: int) -> float:
    """The model's own training loss on ``x``, averaged over examples."""
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        total += model.loss(xb).double() * xb.shape[0]
    return float(total / x.shape[0])


def curve_figure(
    model: Model, val: Tensor, has_recon: bool, batch_size: int
) -> tuple[Callable[[], float], str] | None:
    """The validation figure a curve is taken on, and its name: reconstruction MSE on the
    validation slice where the model reconstructs, else its own loss there; None without
    validation examples or a loss. The loop restores the run's generator and torch's global
    random state around it; a loss that draws from a generator of the model's own (none of
    the built-ins on a view without reconstruction does) would move that stream."""
    if not val.shape[0]:
        return None
    if has_recon:
        return (lambda: validation_mse(model, val, batch_size)), "validation reconstruction MSE"
    if not callable(getattr(model, "loss", None)):
        return None
    return (lambda: _mean_loss(model, val, batch_size)), "validation loss"


@torch.no_grad()
def training_mean_mse(train_x: Tensor, val: Tensor, batch_size: int) -> float:
    """Validation MSE of reconstructing every example by the mean of ``train_x`` (float64)."""
    mean = train_x.reshape(train_x.shape[0], -1).sum(0, dtype=torch.float64) / train_x.shape[0]
    total = torch.zeros((), dtype=torch.float64, device=val.device)
    for i in range(0, val.shape[0], batch_size):
        xb = val[i : i + batch_size].reshape(-1, mean.numel()).double()
        total += ((xb - mean) ** 2).mean(1).sum()
    return float(total / val.shape[0])


def converged(curve: Sequence[Sequence[float]], tolerance: float) -> bool | None:
    """False when the best figure over the curve's last quarter (points past 3/4 of its
    samples) improves on the best before it by more than ``tolerance`` (relative); None
    with no point on both sides."""
    if not curve:
        return None
    end = curve[-1][0]
    before = [v for s, v in curve if s <= 0.75 * end and math.isfinite(v)]
    tail = [v for s, v in curve if s > 0.75 * end and math.isfinite(v)]
    if not before or not tail:
        return None
    best_before, best_tail = min(before), min(tail)
    gain = best_before - best_tail
    return not gain > tolerance * abs(best_before)


def describe(
    proto: Protocol,
    val_mse: float | None,
    baseline_mse: float | None,
    curve: str,
    val_curve: Sequence[Sequence[float]],
    stopped_early: bool = False,
) -> dict[str, Any]:
    """The record's ``learning``: the gate's figures and verdict, and the curve's.

    A run that early stopping ended before its budget converged by that rule (its validation
    figure stopped improving for ``early_stopping_patience`` points); the last-quarter rule
    (:func:`converged`) judges runs that used their whole budget."""
    ratio = val_mse / baseline_mse if val_mse is not None and baseline_mse else None
    return {
        "val_recon_mse": val_mse,
        "baseline": BASELINE,
        "baseline_val_recon_mse": baseline_mse,
        "ratio": ratio,
        "gate_ratio": proto.gate_ratio,
        "learned": None if ratio is None else ratio < proto.gate_ratio,
        "curve": curve,
        "converged": (
            True
            if stopped_early
            else converged(val_curve, proto.converged_tolerance)
            if val_curve
            else None
        ),
        "converged_tolerance": proto.converged_tolerance,
    }


def learned(record: dict[str, Any], gate_ratio: float | None = None) -> bool | None:
    """Whether a stored run learned: its validation reconstruction MSE below ``gate_ratio``
    (default: the record's protocol's) times the training mean's. None where the record
    has no such figures (no reconstruction, a record from before them, not ok) and for
    reference rows, which are not gated."""
    part = record.get("learning") or {}
    v, b = part.get("val_recon_mse"), part.get("baseline_val_recon_mse")
    if record.get("status") != "ok" or v is None or not b:
        return None
    if "reference" in ((record.get("model") or {}).get("tags") or ()):
        return None
    ratio = gate_ratio if gate_ratio is not None else part.get("gate_ratio", 0.95)
    return v < ratio * b
