"""The F1 cap a quantile threshold implies on contaminated calibration data, and the
contamination-matched threshold variant."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from aebench.dataset import carve_validation
from aebench.errors import AebenchError
from aebench.records import storage
from aebench.registry.loading import load_registry
from aebench.report.build import build_boards
from aebench.run import runner, thresholds
from aebench.testing import TOY_ANOMALY, ToyPlugin, toy_splits
from aebench_plugins.datasets.sms_spam import SMS_CONTAMINATED_MATCHED_V1, SMS_CONTAMINATED_V4

RECORDS = Path(__file__).resolve().parents[1] / "results" / "records"


def test_cap_by_hand():
    # the case: 224 spam among 1,673 test messages, the 95 % quantile flags ~5 %
    c = thresholds.cap(0.95, 1673, 224)
    assert c.flagged == pytest.approx(83.65)  # 0.05 × 1,673
    assert c.recall == pytest.approx(83.65 / 224) and round(c.recall, 2) == 0.37
    assert c.precision == 1.0
    assert c.f1 == pytest.approx(2 * 83.65 / (83.65 + 224)) and round(c.f1, 2) == 0.54
    assert c.binding
    # flagging more than there are anomalies caps precision instead: 50 flagged, 10 anomalies
    c = thresholds.cap(0.5, 100, 10)
    assert (c.recall, c.precision) == (1.0, pytest.approx(0.2))
    assert c.f1 == pytest.approx(2 * 0.2 / 1.2)
    # a matched quantile on a test split as contaminated as the calibration: no cap
    assert not thresholds.cap(1 - 224 / 1673, 1673, 224).binding


def _record(anomaly_train: str, q: float | None = None) -> dict:
    anomaly = {"n_test": 1673, "n_test_anomalous": 224, "threshold_rule": "r"}
    if q is not None:
        anomaly["threshold_quantile"] = q
    return {
        "anomaly": anomaly,
        "protocol": {"anomaly_train": anomaly_train, "threshold_quantile": 0.95},
    }


def test_cap_line_from_the_records_counts():
    line = thresholds.cap_line([_record("all"), _record("all")])
    assert "flags about 84 of the 1,673 test examples (224 anomalies)" in line
    assert "recall ≤ 0.37" in line and "F1 ≤ 0.54" in line and "contamination-matched" in line
    assert thresholds.cap_line([_record("normal")]) is None
    # per-record quantiles (a matched rule on per-seed splits) give a range
    line = thresholds.cap_line([_record("all", 0.80), _record("all", 0.95)])
    assert "F1 ≤ 0.54–0.80" in line  # q = 0.80: 334.6 flagged, 2·224/(334.6 + 224) = 0.80


def test_matched_quantile_and_checks():
    assert thresholds.quantile(SMS_CONTAMINATED_V4, 390, 44) == 0.95
    assert thresholds.quantile(SMS_CONTAMINATED_MATCHED_V1, 390, 44) == pytest.approx(1 - 44 / 390)
    rule = thresholds.rule(SMS_CONTAMINATED_MATCHED_V1, 1 - 44 / 390, 44 / 390)
    assert "88.7% quantile" in rule and "11.3%" in rule and "PyOD" in rule and "known" in rule
    with pytest.raises(AebenchError, match="contamination_matched needs anomaly_train='all'"):
        thresholds.check(TOY_ANOMALY.with_overrides(contamination_matched=True))
    with pytest.raises(AebenchError, match="threshold_quantile must be in"):
        thresholds.check(TOY_ANOMALY.with_overrides(threshold_quantile=0.0))


def test_matched_variant_differs_only_by_the_threshold():
    p = SMS_CONTAMINATED_MATCHED_V1
    assert (p.key, p.contamination_matched, p.anomaly_train) == (
        "sms-spam-contaminated-matched-v1",
        True,
        "all",
    )
    back = p.with_overrides(name=SMS_CONTAMINATED_V4.name, version=4, contamination_matched=False)
    assert dataclasses.replace(back, description=SMS_CONTAMINATED_V4.description) == (
        SMS_CONTAMINATED_V4
    )


def test_the_harness_thresholds_at_one_minus_the_calibration_contamination(tmp_path):
    """The mean row scores by squared error from the fit mean: recomputed here from the toy
    split, its calibration scores' (1 − c) quantile is the record's threshold."""
    registry = load_registry(extra_plugins=[("toy", ToyPlugin)])
    proto = TOY_ANOMALY.with_overrides(
        anomaly_train="all", contamination_matched=True, binarization="none"
    )
    (req,) = runner.plan(registry, ["mean"], ["toy"], protocol="toy-anomaly", seeds=[0])
    req = dataclasses.replace(req, protocol=proto)
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    rec = runner.run_one(registry, req, torch.device("cpu"), data).record
    assert rec["status"] == "ok", rec.get("reason")
    s = toy_splits()
    fit, val = carve_validation(len(s.train_x), proto.val_fraction, proto.split_seed)
    n_anomalous = int((~s.anomaly.train_normal[val]).sum())
    assert 0 < n_anomalous < len(val)
    q = 1 - n_anomalous / len(val)
    scores = ((s.train_x[val].double() - s.train_x[fit].double().mean(0)) ** 2).mean(1)
    a = rec["anomaly"]
    assert a["n_calibration_anomalous"] == n_anomalous and a["threshold_quantile"] == q
    assert rec["metrics"]["anomaly.threshold"] == pytest.approx(np.quantile(scores, q), rel=1e-5)
    assert "1 − their contamination rate" in a["threshold_rule"]


@pytest.mark.skipif(
    not (RECORDS / "sms-spam-contaminated-v3").is_dir(), reason="no published contaminated board"
)
def test_published_contaminated_board_shows_the_cap():
    records, _ = storage.load_records(RECORDS / "sms-spam-contaminated-v3")
    (board,) = build_boards(records)
    a = next(r["anomaly"] for r in records if r.get("anomaly"))
    k = 0.05 * a["n_test"]
    f1 = 2 * k / (k + a["n_test_anomalous"])  # precision 1, recall k / A
    assert any(f"F1 ≤ {f1:.2f}" in line for line in board.caption)
