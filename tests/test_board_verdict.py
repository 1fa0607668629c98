"""Boards lead with the verdict: rows best first, one verdict line per tested column, marks
that survive plain text, a short caption (the rest behind --explain), densities kept apart,
and 100 columns readable without splitting a row (issue 28, item 1)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from rich.console import Console

from aebench.records import storage
from aebench.report import verdict
from aebench.report.build import build_boards
from aebench.report.formats import export, to_rich
from aebench.report.publication import mark_significance

PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "records" / "digits-v2"


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    """digits-v2's published records (default protocol, 3 seeds, 9 rows), alone in a folder."""
    if not PUBLISHED.is_dir():
        pytest.skip("results/records/digits-v2 absent")
    root = tmp_path_factory.mktemp("verdict") / "runs"
    shutil.copytree(PUBLISHED, root / "digits-v2")
    return root


@pytest.fixture(scope="module")
def board(records_dir):
    records, _ = storage.load_records(records_dir)
    (b,) = build_boards(records)
    mark_significance(b, records, n_boot=300)
    return b


def _means_from_files(root: Path, key: str) -> dict[str, float]:
    """Each model's mean of ``key`` over its seeds, read straight from the JSON files."""
    vals = defaultdict(list)
    for p in root.rglob("seed-*.json"):
        r = json.loads(p.read_text())
        if r["status"] == "ok" and isinstance(r["metrics"].get(key), (int, float)):
            vals[r["model"]["name"]].append(r["metrics"][key])
    return {m: float(np.mean(v)) for m, v in vals.items()}


def _compared(board, key):
    return [
        r
        for r in board.rows
        if not r.reference and not r.stale and not r.verdict and r.cells[key].n
    ]


def test_rows_are_best_first_and_the_verdict_names_the_best_and_the_tied(board, records_dir):
    means = _means_from_files(records_dir, "recon_mse")
    compared = _compared(board, "recon_mse")
    got = [r.cells["recon_mse"].mean for r in compared]
    assert got == sorted(got)  # best (lowest MSE) first
    assert board.rows[: len(compared)] == compared  # rows not compared come after
    assert board.rows[-1].reference and board.rows[-1].model == "mean"
    best = min((m for m in means if m in {r.model for r in compared}), key=means.get)
    assert compared[0].model == best and compared[0].cells["recon_mse"].best
    line = verdict.verdict_lines(board)[0]
    assert line.startswith(f"best recon. MSE: {best} {compared[0].cells['recon_mse'].text(5)}")
    tied = [r.model for r in board.rows if r.cells["recon_mse"].mark == "tied"]
    for name in tied:
        assert f"{name} (p " in line and board_cell(board, name).p > 0.05
    if tied:
        assert "not separable from it:" in line
    for r in board.rows:
        if r.cells["recon_mse"].mark == "worse":
            assert f"{r.model} (p" not in line and r.cells["recon_mse"].p <= 0.05


def board_cell(board, name, key="recon_mse"):
    return next(r for r in board.rows if r.model == name).cells[key]


def test_plain_text_keeps_the_marks_at_100_columns_and_no_row_wraps(board):
    console = Console(record=True, width=100, color_system=None)
    console.print(to_rich(board, width=100))
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(ln) <= 100 for ln in lines), max(lines, key=len)
    for row in board.rows:  # each row on exactly one line
        assert sum(ln.startswith(row.display + " ") for ln in lines) == 1, row.display
    best = next(r for r in board.rows if r.cells["recon_mse"].best)
    best_line = next(ln for ln in lines if ln.startswith(best.display + " "))
    assert f"{verdict.BEST} {best.cells['recon_mse'].text(5)}" in best_line
    for r in board.rows:
        line = next(ln for ln in lines if ln.startswith(r.display + " "))
        shown = f"{verdict.TIED} {r.cells['recon_mse'].text(5)}" in line
        assert shown == (r.cells["recon_mse"].mark == "tied")
    assert lines[0].startswith("best recon. MSE:")  # the answer first
    assert verdict.legend(board) in lines  # one line, even at 100 columns
    assert "left out to fit 100 columns" in " ".join(text.split())  # dropped columns named


def test_the_caption_is_four_lines_and_explain_gives_every_note(board):
    short = verdict.short_caption(board)
    assert len(short) <= 4 and "--explain" in short[-1]
    console = Console(record=True, width=1000, color_system=None)
    console.print(to_rich(board, explain=True))
    text = console.export_text()
    for line in board.caption:
        assert line in text
    assert "Intervals: [lo, hi] = mean ± t·SE" in text


def test_a_density_is_not_compared_with_bernoulli_likelihoods_and_the_header_says_so(board):
    nll = next(c for c in board.columns if c.key == "nll")
    pca = next(r for r in board.rows if r.model == "pca")
    assert "density: not compared" in nll.header
    assert "°" in pca.cells["nll"].flag and not pca.cells["nll"].best
    assert pca.cells["nll"].mean < min(  # the lowest number, and still not the best
        r.cells["nll"].mean for r in board.rows if r.cells["nll"].n and r.model != "pca"
    )


def test_markdown_leads_with_the_verdict_and_keeps_the_marks(board):
    md = export(board, "markdown")
    head, table = md.split("| model")[0], md.split("| model")[1]
    assert "best recon. MSE:" in head
    assert f"**{verdict.BEST} " in table
    assert verdict.legend(board) in md  # then every note, as before
    assert all(line in md for line in board.caption)


def test_one_seed_says_the_resampling_covers_test_examples_only(records_dir):
    records, _ = storage.load_records(records_dir)
    one = [r for r in records if r["seed"] == 0]
    (b,) = build_boards(one)
    mark_significance(b, one, n_boot=200)
    lines = verdict.verdict_lines(b)
    assert any("One seed" in ln and "not cover training randomness" in ln for ln in lines)


def test_show_at_100_columns_and_explain(records_dir):
    res = run_cli("show", "--results-dir", str(records_dir), env={"COLUMNS": "100"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("best recon. MSE:")
    assert all(len(ln) <= 100 for ln in lines), max(lines, key=len)
    assert verdict.BEST in res.stdout and "aebench show --explain" in res.stdout
    assert "Intervals: [lo, hi]" not in res.stdout
    res = run_cli("show", "--explain", "--results-dir", str(records_dir), env={"COLUMNS": "100"})
    assert res.returncode == 0 and "Intervals: [lo, hi] = mean" in res.stdout
