"""What a study minimises or maximises: a validation figure the protocol's task names.

Each task has one label-free default. A criterion that reads validation labels exists only as
a variant chosen by name, and every caption that uses it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aebench.errors import AebenchError
from aebench.protocol import Protocol

__all__ = ["CRITERIA", "Criterion", "criterion_for"]


@dataclass(frozen=True)
class Criterion:
    name: str
    task: str
    #: the key of the figure in a validation-only run's metrics (``aebench.run.evaluation``)
    metric: str
    direction: str  # "minimize" | "maximize"
    uses_labels: bool = False
    #: the figure used where a model has no ``metric`` (e.g. no reconstruction of tokens)
    fallback: str | None = None

    def value(self, metrics: dict[str, Any]) -> Any:
        value = metrics.get(self.metric)
        return metrics.get(self.fallback) if value is None and self.fallback else value

    def describe(self, proto: Protocol) -> str:
        """The criterion in words, as a caption states it."""
        if self.metric == "val_recon_mse":
            return "validation reconstruction MSE per pixel (lower is better)"
        held_out = (
            "held-out normal training examples"
            if proto.anomaly_train == "normal"
            else "all held-out training examples (unlabelled, contaminated)"
        )
        if self.metric == "val_normal_recon_mse":
            return (
                f"reconstruction MSE per pixel on {held_out}, or a model's own mean anomaly "
                "score there where it has no reconstruction (label-free: how well the model "
                "fits held-out data it should call normal; lower is better)"
            )
        if self.metric == "val_score_mean":
            return (
                f"mean anomaly score on {held_out} (label-free; lower is better; compares "
                "configurations only where the score's scale does not depend on them, which an "
                "unnormalised score such as an RBM's free energy does)"
            )
        return (
            "AUROC of the anomaly scores on the held-out training examples against their "
            "anomaly labels (USES VALIDATION LABELS; higher is better)"
        )


CRITERIA = (
    Criterion("val-recon-mse", "reconstruction", "val_recon_mse", "minimize"),
    Criterion(
        "val-normal-recon", "anomaly", "val_normal_recon_mse", "minimize", fallback="val_score_mean"
    ),
    Criterion("val-normal-score", "anomaly", "val_score_mean", "minimize"),
    Criterion("val-auroc", "anomaly", "val_auroc", "maximize", uses_labels=True),
)
#: each task's criterion when none is named: label-free
DEFAULT = {"reconstruction": "val-recon-mse", "anomaly": "val-normal-recon"}


def criterion_for(proto: Protocol, name: str | None) -> Criterion:
    """The criterion called ``name`` (the task's default when None) for ``proto``'s task."""
    name = name or DEFAULT.get(proto.task)
    offered = [c for c in CRITERIA if c.task == proto.task]
    for c in offered:
        if c.name == name:
            return c
    names = ", ".join(c.name for c in offered) or "none"
    raise AebenchError(
        f"--criterion {name}: protocol {proto.key} is a {proto.task} task; its criteria are "
        f"{names} (pass one of them, or leave --criterion out for {DEFAULT.get(proto.task)})"
    )
