"""Training throughput of models with their own fit: unmeasured is "—", one solve is labelled."""

from __future__ import annotations

import copy

import pytest
import torch
from toy_models import Cfg, ClosedForm, LinearAE, OwnFit

from aebench import hookimpl
from aebench.registry.loading import load_registry
from aebench.report.build import build_boards
from aebench.run import runner
from aebench.testing import ToyPlugin

RATE = "train_samples_per_s"


class _Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        for name, cls in (("loop", LinearAE), ("own", OwnFit), ("closed", ClosedForm)):
            register(name, cls, config=Cfg)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    registry = load_registry(extra_plugins=[("toy", ToyPlugin), ("rate", _Plugin)])
    data = runner.DataCache(registry, tmp_path_factory.mktemp("d"), False, torch.device("cpu"))
    # enough training for the loop's row to beat the training mean: the learning gate leaves a
    # row that did not learn unranked (aebench.report.gate)
    learns = {"lr": 1e-2, "budget_samples": 2048}
    reqs = runner.plan(
        registry, ["loop", "own", "closed"], ["toy"], seeds=[0], protocol_overrides=learns
    )
    return {r.model: runner.run_one(registry, r, torch.device("cpu"), data).record for r in reqs}


def _cells(records):
    (board,) = build_boards(list(records.values()))
    return {row.model: row.cells[RATE] for row in board.rows}, board


def test_a_fit_that_saw_nothing_reported_has_no_rate(records):
    own = records["own"]
    assert own["status"] == "ok" and own["training"]["samples_seen"] == 0
    assert own["metrics"][RATE] is None and own["training"]["fit"] == "own fit"
    cells, _ = _cells(records)
    assert cells["own"].text(0) == "—"


def test_a_closed_form_rate_is_labelled_and_not_ranked(records):
    closed, loop = records["closed"], records["loop"]
    assert closed["training"]["fit"] == "closed form" and loop["training"]["fit"] == "batches"
    assert closed["metrics"][RATE] == pytest.approx(
        closed["training"]["n_train"] / closed["metrics"]["fit_s"]
    )
    cells, board = _cells(records)
    assert cells["closed"].text(0).endswith("(closed form)") and not cells["closed"].best
    # speed is no quality verdict: no rate is ever marked best (aebench.report.rows.SPEED_NOTE)
    assert not cells["loop"].best and "(" not in cells["loop"].text(0)
    assert any("closed form" in line for line in board.caption)


def test_records_from_before_store_zero_and_no_fit_kind(records):
    """Records written before these fields: 0 samples seen shows "—", no step "own fit"."""
    old = {k: copy.deepcopy(v) for k, v in records.items()}
    for r in old.values():
        del r["training"]["fit"]
    old["own"]["metrics"][RATE] = 0.0
    cells, _ = _cells(old)
    assert cells["own"].text(0) == "—"
    assert cells["closed"].text(0).endswith("(own fit)") and cells["loop"].note == ""
