"""Statistics against hand computation; rendering against committed records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from aebench import render
from aebench.stats import mean_ci

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
    (board,) = render.build_boards(recs)
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
    (board,) = render.build_boards(_records())
    pca = next(r for r in board.rows if r.model == "pca")
    text = pca.cells["recon_mse"].text(5)
    md = render.export(board, "markdown")
    assert f"**{text}**" in md
    tex = render.export(board, "latex")
    assert "\\textbf{" in tex and "$\\pm$" in tex
    csv_text = render.export(board, "csv")
    assert str(pca.cells["recon_mse"].mean) in csv_text


def test_versions_never_mix():
    recs = _records()
    other = json.loads(json.dumps(recs[0]))
    other["group"] = "digits-v2"
    other["protocol"]["version"] = 2
    boards = render.build_boards(recs + [other])
    assert sorted(b.group for b in boards) == ["digits-v1", "digits-v2"]


def test_paired_tests_against_scipy_and_by_construction():
    from scipy import stats as st

    from aebench.stats import not_significantly_worse

    rng = np.random.default_rng(0)
    best = rng.normal(1.0, 0.1, 200)
    worse = best + 0.05 + rng.normal(0, 0.01, 200)
    ok, p = not_significantly_worse(best, worse, "lower", "example")
    assert not ok and p == pytest.approx(st.wilcoxon(worse - best, alternative="greater").pvalue)
    same = best + rng.normal(0, 0.01, 200)
    assert not_significantly_worse(best, same, "lower", "example")[0]
    # higher-is-better flips the direction
    assert not not_significantly_worse(worse, best, "higher", "example")[0]
    ok, p = not_significantly_worse([0.90, 0.91, 0.92], [0.80, 0.82, 0.81], "higher", "seed")
    expected = st.ttest_rel([0.90, 0.91, 0.92], [0.80, 0.82, 0.81], alternative="greater").pvalue
    assert not ok and p == pytest.approx(expected)


def test_average_ranks_by_hand():
    from aebench.stats import average_ranks

    tables = {"a": {"x": 0.1, "y": 0.2, "z": 0.3}, "b": {"x": 0.5, "y": 0.4}}
    ranks = average_ranks(tables, "lower")
    assert ranks == {"x": (1.5, 2), "y": (1.5, 2), "z": (3.0, 1)}


def test_summary_ranks_only_the_newest_version_of_each_protocol():
    from aebench.publish import summary_table

    col = render.Column("anomaly.auroc", "AUROC", "higher", 3)

    def board(group, dataset, values):
        rows = [
            render.Row(m, "ok", False, 32, "", {"anomaly.auroc": render.Cell(v, 0.0, 3)})
            for m, v in values.items()
        ]
        return render.Board(group, dataset, group, [], [col], rows)

    boards = [
        board("spam-v1", "spam", {"a": 0.1, "b": 0.9}),  # superseded: b would win it
        board("spam-v2", "spam", {"a": 0.9, "b": 0.8}),
        board("spam-v2~abc123", "spam", {"a": 0.1, "b": 0.9}),  # a --budget variant
        board("novelty-v1", "img", {"a": 0.7, "b": 0.6, "c": 0.8}),
    ]
    head, rows = summary_table(boards)
    got = {r[2]: (r[3], r[4], r[5]) for r in rows if r[1] == "anomaly.auroc"}
    assert got == {
        "a": ("1.50", "2", "img/novelty-v1, spam/spam-v2"),
        "b": ("2.50", "2", "img/novelty-v1, spam/spam-v2"),
        "c": ("1.00", "1", "img/novelty-v1"),
    }
