"""Statistics against hand computation; rendering against committed records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from aebench.report.board import Cell
from aebench.report.build import build_boards
from aebench.report.formats import export
from aebench.stats.intervals import mean_ci

FIXTURES = Path(__file__).parent / "data" / "records"


def test_mean_ci_matches_the_t_interval_by_hand():
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    # t(0.975, df=2) = 4.3026527297 (printed tables); sem = 1/sqrt(3)
    assert (mean, n) == (2.0, 3)
    assert half == pytest.approx(4.3026527297 / math.sqrt(3), rel=1e-10)
    assert mean_ci([5.0]) == (5.0, None, 1)
    assert mean_ci([2.0, 2.0])[1] == 0.0
    assert mean_ci([])[2] == 0


def _records():
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.rglob("*.json"))]


def test_board_from_committed_records():
    recs = _records()
    assert recs, "fixture records missing"
    (board,) = build_boards(recs)
    assert board.group == "digits-v1" and board.dataset == "digits"
    rows = {r.model: r for r in board.rows}
    pca = rows["pca"]
    vals = [r["metrics"]["recon_mse"] for r in recs if r["model"]["name"] == "pca"]
    mean, half, n = mean_ci(vals)
    cell = pca.cells["recon_mse"]
    assert (cell.mean, cell.half, cell.n) == (mean, half, n)
    assert cell.best  # PCA beats the reference row, which is never "best"
    assert rows["mean"].reference and not rows["mean"].cells["recon_mse"].best
    assert board.rows[-1].model == "mean"  # reference rows last
    assert "digits-v1" in board.caption[0]


def test_exports_contain_the_same_numbers():
    (board,) = build_boards(_records())
    pca = next(r for r in board.rows if r.model == "pca")
    text = pca.cells["recon_mse"].text(5)
    md = export(board, "markdown")
    assert f"**▲ {text}**" in md  # the best: bold and ▲ (a mark plain text keeps)
    tex = export(board, "latex")
    assert "\\textbf{" in tex and "$\\pm$" in tex
    csv_text = export(board, "csv")
    assert str(pca.cells["recon_mse"].mean) in csv_text


def test_versions_never_mix():
    recs = _records()
    other = json.loads(json.dumps(recs[0]))
    other["group"] = "digits-v2"
    other["protocol"]["version"] = 2
    boards = build_boards(recs + [other])
    assert sorted(b.group for b in boards) == ["digits-v1", "digits-v2"]


def test_median_range_and_a_seed_independent_value_shows_no_interval():
    from aebench.stats.intervals import median_range

    assert median_range([3.0, 1.0, 300.0]) == (3.0, 1.0, 300.0, 3)
    assert median_range([2.0]) == (2.0, None, None, 1)
    assert Cell(0.5, 0.0, 3).text(3) == "0.500"  # not "0.500 ± 0.000"
    assert Cell(0.5, 0.01, 3).text(3) == "0.500 ± 0.010"
    assert Cell(2.0, None, 3, lo=1.0, hi=3.0, spread="range").text(1) == "2.0 (1.0–3.0)"
    assert Cell(0.5, None, 3, lo=0.4, hi=0.6).text(2) == "0.50 [0.40, 0.60]"
    # a nonzero spread inside the last digit shows its own digits, never "± 0.000"
    assert Cell(0.98633, 0.00021, 3).text(3) == "0.986 ± 0.0002"
    # ... but seeds that differ by float rounding alone (a closed form) have no interval
    assert Cell(27.13, 1e-14, 3).text(2) == "27.13"
    assert Cell(0.9863, None, 3, lo=0.98621, hi=0.98638).text(3) == "0.986 [0.9862, 0.9864]"
    narrow = Cell(0.9863, None, 3, lo=0.98631, hi=0.98632)
    assert narrow.text(3) == "0.986 [0.98631, 0.98632]"


def test_a_row_lacking_protocol_seeds_says_which_and_the_caption_says_incomplete():
    recs = _records()
    (whole,) = build_boards(recs)
    assert not any("INCOMPLETE" in line for line in whole.caption)
    assert all("not run" not in r.status for r in whole.rows)
    partial = [r for r in recs if not (r["model"]["name"] == "pca" and r["seed"] in (1, 2))]
    (board,) = build_boards(partial)
    rows = {r.model: r for r in board.rows}
    assert rows["pca"].status == "ok 1/1; seed(s) 1, 2 not run"
    assert "not run" not in rows["mean"].status
    (line,) = [c for c in board.caption if c.startswith("INCOMPLETE")]
    assert "pca: 1, 2" in line and "mean" not in line
    # a failed run is a run: its status says why, the caption asks for nothing
    failed = [dict(r, status="failed", reason="boom") if r["seed"] == 2 else r for r in recs]
    (board,) = build_boards(failed)
    assert not any("INCOMPLETE" in line for line in board.caption)
    # a user's extra seed is not a protocol seed: nothing asks for it either
    extra = recs + [dict(recs[0], seed=7)]
    (board,) = build_boards(extra)
    assert not any("INCOMPLETE" in line for line in board.caption)
