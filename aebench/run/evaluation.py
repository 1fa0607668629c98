"""What a trained model is scored on besides the test board: the validation slice only.

Tuning chooses among configurations by figures from here. A run that evaluates on validation
only gets its data with the test split emptied (``without_test``) before anything reaches the
device, so no trial can touch a test example even by mistake. The anomaly-scoring helpers the
test board shares with it live here too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from aebench.dataset import Splits
from aebench.model import Model
from aebench.protocol import Protocol
from aebench.run import metrics as M

__all__ = ["has_own_score", "on_validation", "score_name", "without_test"]


def without_test(splits: Splits) -> Splits:
    """``splits`` with every test tensor cut to zero rows (``extras`` named ``test_*`` too)."""
    anomaly = splits.anomaly
    if anomaly is not None:
        anomaly = dataclasses.replace(anomaly, test_anomalous=anomaly.test_anomalous[:0])
    extras = {
        k: v[:0] if k.startswith("test_") and isinstance(v, Tensor) else v
        for k, v in splits.extras.items()
    }
    test_y = splits.test_y[:0] if splits.test_y is not None else None
    return dataclasses.replace(
        splits, test_x=splits.test_x[:0], test_y=test_y, anomaly=anomaly, extras=extras
    )


@torch.no_grad()
def on_validation(
    model: Model, prepared: Any, view: Any, evald: Any, train_x: Tensor, has_recon: bool
) -> dict[str, float]:
    """The validation figures a trial is chosen by (``view``/``evald``: the run's own tensors,
    plain and as evaluated; see the runner).

    ``val_recon_mse``: mean squared error per feature on the validation slice (as
    ``recon_mse`` on the test split). Anomaly tasks add, on the examples the label-free
    threshold is calibrated on (held-out normal examples; all held-out examples under a
    contaminated protocol), ``val_normal_recon_mse`` (their reconstruction MSE, where the
    model reconstructs) and ``val_score_mean`` (their mean anomaly score, the board's score,
    weighting included), and ``val_auroc``, the AUROC of the scores against the held-out
    examples' anomaly labels (a criterion that uses labels; only ever chosen by name).
    """
    model.eval()
    proto: Protocol = prepared.protocol
    out: dict[str, float] = {}
    if has_recon and view.val.shape[0]:
        errors = M.reconstruction_errors(model, view.val, proto.eval_batch_size)
        out["val_recon_mse"] = float(errors.double().mean())
    if proto.task != "anomaly":
        return out
    _, val_normal, _ = prepared.mask("normal")
    own_score = has_own_score(model, evald.val)
    weights = None
    if proto.anomaly_score_weighting == "inverse-variance" and not own_score:
        weights = M.inverse_variance_weights(train_x)
    scores = M.anomaly_scores(model, evald.val, proto.eval_batch_size, has_recon, weights)
    calibration = slice(None) if proto.anomaly_train == "all" else val_normal.to(scores.device)
    out["val_score_mean"] = float(scores[calibration].mean())
    if has_recon:
        errors = M.reconstruction_errors(model, view.val[calibration], proto.eval_batch_size)
        out["val_normal_recon_mse"] = float(errors.double().mean())
    anomalous = (~val_normal).numpy()
    if 0 < anomalous.sum() < anomalous.size:
        from sklearn.metrics import roc_auc_score

        out["val_auroc"] = float(roc_auc_score(anomalous, scores.cpu().numpy()))
    return out


@torch.no_grad()
def has_own_score(model: Model, x: Tensor) -> bool:
    """Whether the model scores inputs like ``x`` itself (it may for some views only)."""
    return model.anomaly_score(x[:1]) is not None


def score_name(own_score: bool, weighted: bool) -> str:
    if own_score:
        return "model's anomaly_score"
    if weighted:
        return "reconstruction squared error weighted by 1/(training variance + 1/n)"
    return "reconstruction MSE"
