"""The anomaly protocol: label-free threshold, metric code against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aebench.registry.loading import load_registry
from aebench.run import metrics as M
from aebench.run import runner
from aebench.testing import ToyPlugin


def test_metrics_on_a_hand_computed_case():
    # scores and labels chosen so every number can be checked by hand
    scores = [0.1, 0.4, 0.35, 0.8, 0.9, 0.2]
    labels = [0, 0, 1, 1, 1, 0]
    m = M.anomaly_metrics(0.3, scores, labels)
    # flagged: 0.4 (FP), 0.35, 0.8, 0.9 (TP) -> TP=3, FP=1, FN=0
    assert m["anomaly.precision"] == pytest.approx(3 / 4)
    assert m["anomaly.recall"] == pytest.approx(1.0)
    assert m["anomaly.f1"] == pytest.approx(2 * 0.75 / 1.75)
    # AUROC: of the 9 (anomaly, normal) pairs, only (0.35 vs 0.4) is ordered wrongly -> 8/9
    assert m["anomaly.auroc"] == pytest.approx(8 / 9)
    # AP: ranks 0.9(+) 0.8(+) 0.4(-) 0.35(+): precisions at the hits 1, 1, 3/4 -> mean 11/12
    assert m["anomaly.auprc"] == pytest.approx(11 / 12)
    # oracle: threshold just below 0.8 gives P=1, R=2/3 -> F1 0.8; below 0.35 gives 6/7
    assert m["anomaly.oracle_f1"] == pytest.approx(6 / 7)
    assert m["anomaly.flagged_fraction"] == pytest.approx(4 / 6)


def test_perfect_and_inverted_scores():
    y = [0, 0, 0, 1, 1]
    assert M.anomaly_metrics(0.5, [0, 0.1, 0.2, 0.9, 1.0], y)["anomaly.auroc"] == 1.0
    assert M.anomaly_metrics(0.5, [1.0, 0.9, 0.8, 0.1, 0.0], y)["anomaly.auroc"] == 0.0


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.anomaly_metrics(0.5, [0.1, float("nan")], [0, 1])


def test_threshold_is_a_quantile_of_calibration_scores_only():
    cal = np.arange(101, dtype=float)
    assert M.label_free_threshold(cal, 0.95) == pytest.approx(95.0)


def _anomaly_run(registry, tmp_path, shuffle_test_labels: bool):
    req = runner.plan(registry, ["pca"], ["toy"], protocol="toy-anomaly", seeds=[0])[0]
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    prepared = data.get("toy", req.protocol)
    if shuffle_test_labels:
        a = prepared.splits.anomaly
        perm = torch.randperm(a.test_anomalous.numel(), generator=torch.Generator().manual_seed(1))
        a.test_anomalous = a.test_anomalous[perm]
    return runner.run_one(registry, req, torch.device("cpu"), data).record


def test_shuffling_test_labels_leaves_the_threshold_unchanged(tmp_path):
    registry = load_registry(extra_plugins=[("toy", ToyPlugin)])
    a = _anomaly_run(registry, tmp_path / "a", False)
    b = _anomaly_run(registry, tmp_path / "b", True)
    assert a["status"] == b["status"] == "ok"
    assert a["metrics"]["anomaly.threshold"] == b["metrics"]["anomaly.threshold"]
    assert a["metrics"]["anomaly.flagged_fraction"] == b["metrics"]["anomaly.flagged_fraction"]
    # ...while the label-dependent metrics do change
    assert a["metrics"]["anomaly.auroc"] != b["metrics"]["anomaly.auroc"]


def test_detectors_are_not_applicable_to_reconstruction_protocols(tmp_path):
    registry = load_registry(extra_plugins=[("toy", ToyPlugin)])
    req = runner.plan(registry, ["isolation-forest"], ["toy"], seeds=[0])[0]
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    rec = runner.run_one(registry, req, torch.device("cpu"), data).record
    assert rec["status"] == "not-applicable" and "anomaly" in rec["reason"]


def test_normal_only_training_excludes_anomalies(tmp_path):
    registry = load_registry(extra_plugins=[("toy", ToyPlugin)])
    rec = _anomaly_run(registry, tmp_path, False)
    prepared = runner.DataCache(registry, tmp_path, False, torch.device("cpu")).get(
        "toy", runner.plan(registry, ["pca"], ["toy"], protocol="toy-anomaly")[0].protocol
    )
    fit_normal, _, _ = prepared.mask("normal")
    assert rec["training"]["n_train"] == int(fit_normal.sum()) < len(fit_normal)
