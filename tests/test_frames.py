"""Results as pandas DataFrames (issue 28, item 6): one row per run, and boards with the same
means, intervals, marks and p-values as ``aebench show``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import run_cli

import aebench

PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "records" / "digits-v2"


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    if not PUBLISHED.is_dir():
        pytest.skip("results/records/digits-v2 absent")
    root = tmp_path_factory.mktemp("frames") / "runs"
    shutil.copytree(PUBLISHED, root / "digits-v2")
    return root


def test_load_results_is_one_row_per_run_with_identity_metrics_and_provenance(records_dir):
    frame = aebench.load_results(records_dir)
    files = list(records_dir.rglob("seed-*.json"))
    assert len(frame) == len(files) == 27
    for col in (
        "protocol",
        "dataset",
        "model",
        "config",
        "seed",
        "status",
        "recon_mse",
        "fit_s",
        "eval_s",
        "git_commit",
        "torch",
        "implementation",
    ):
        assert col in frame.columns, col
    assert set(frame.protocol) == {"digits-v2"} and set(frame.seed) == {0, 1, 2}
    by_model = frame.groupby("model").recon_mse.mean()
    board = aebench.board_frame(records_dir, n_boot=200)
    for _, row in board.iterrows():  # the board's mean is the mean over its runs
        assert row.recon_mse == pytest.approx(by_model[row.model], rel=1e-12)


def test_the_board_frame_agrees_with_show(records_dir):
    board = aebench.board_frame(records_dir, protocol="digits-v2")
    res = run_cli("show", "--results-dir", str(records_dir), env={"COLUMNS": "250"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert list(board.position) == list(range(1, len(board) + 1))
    shown_order = [
        ln.split()[0] for ln in lines if ln.split() and ln.split()[0] in set(board.model)
    ]
    assert shown_order == list(board.model)  # the same order, best first
    for _, row in board.iterrows():
        line = next(ln for ln in lines if ln.split() and ln.split()[0] == row.model)
        text = f"{row.recon_mse:,.5f} [{row.recon_mse_lo:,.5f}, {row.recon_mse_hi:,.5f}]"
        if row.stale:  # shown as recorded: mean ± its t interval over seeds, never resampled
            half = (row.recon_mse_hi - row.recon_mse_lo) / 2
            text = f"{row.recon_mse:,.5f} ± {half:,.5f}"
        sign = row.recon_mse_sign
        assert (f"{sign} {text}" if sign else text) in line, (row.model, text, line)
        assert (row.recon_mse_mark == "tied") == (row.recon_mse_sign == "=")
        if row.recon_mse_mark in ("tied", "worse"):
            assert 0 <= row.recon_mse_p_holm <= 1
            assert (row.recon_mse_p_holm > 0.05) == (row.recon_mse_mark == "tied")
    (lines_v,) = board.attrs["verdict"].values()
    assert lines_v[0] in res.stdout
