"""What ranks across boards count, against independent computations: one board per data set
(a planted duplicate counted once), supervised and duplicate reference rows shown but not
ranked, Iman-Davenport against its formula and Demšar's worked example, the descriptive-only
wording, and a family board's interval against an independent hierarchical bootstrap."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from aebench.records import artifacts
from aebench.report import publication, ranking
from aebench.report.board import Board, Cell, Column, Row
from aebench.report.build import build_boards
from aebench.report.significance import spread

FIXTURE = (
    Path(__file__).parent / "data" / "records" / "digits-v1" / "digits" / "pca" / "seed-0.json"
)


def _board(group, dataset, values, reference=()):
    col = Column("anomaly.auroc", "AUROC", "higher", 3)
    rows = [
        Row(m, "ok", m in reference, 32, "", {"anomaly.auroc": Cell(v, None, 3)})
        for m, v in values.items()
    ]
    return Board(group, dataset, group, [], [col], rows)


def _stub(group, dataset, model, value, seed=0, stochastic=False, supervised=False, train="normal"):
    """The fields of a record that the counting rules read."""
    caps = {"stochastic": stochastic, "supervised": supervised}
    return {
        "group": group,
        "dataset": {"name": dataset},
        "model": {"name": model, "capabilities": caps, "tags": []},
        "protocol": {"anomaly_train": train},
        "status": "ok",
        "seed": seed,
        "metrics": {"anomaly.auroc": value},
    }


def _planted(n_boards=4):
    """``n_boards`` data sets, rows a, b, c and d."""
    rng = np.random.default_rng(3)
    boards, records = [], []
    for i in range(n_boards):
        vals = dict(zip("abcd", rng.uniform(0.5, 1.0, 4).round(4)))
        boards.append(_board(f"p{i}-v1", f"d{i}", vals))
        records += [_stub(f"p{i}-v1", f"d{i}", m, v, stochastic=m == "d") for m, v in vals.items()]
    return boards, records


def test_a_planted_duplicate_board_is_counted_once():
    boards, records = _planted()
    # a copy of d0's board under another data set: three of its four rows' scores are d0's on
    # every seed, one differs (a model the second protocol's change reaches)
    src = {r.model: r.cells["anomaly.auroc"].mean for r in boards[0].rows}
    copy_vals = dict(src, d=src["d"] - 0.2)
    boards.append(_board("copy-v1", "dx", copy_vals))
    records += [_stub("copy-v1", "dx", m, v, stochastic=m == "d") for m, v in copy_vals.items()]
    # a supervised row may differ (a protocol may change only what it trains on): not compared
    for group, dataset, v in (("p0-v1", "d0", 0.99), ("copy-v1", "dx", 0.98)):
        records.append(_stub(group, dataset, "sup", v, supervised=True))
    tr = ranking.task_ranks(boards, {}, "anomaly", records)
    assert tr.boards == [f"d{i}/p{i}-v1" for i in range(4)]
    assert "dx/copy-v1" in tr.not_counted and "d0/p0-v1" in tr.not_counted["dx/copy-v1"]
    assert "duplicate" in ranking.task_note(tr, None)
    # a second row off by 1e-4: two of four equal is not more than half, so a board of its own
    records[-6]["metrics"]["anomaly.auroc"] += 1e-4
    assert "dx/copy-v1" in ranking.task_ranks(boards, {}, "anomaly", records).boards


def test_one_board_per_data_set_by_a_fixed_order_of_protocols():
    boards, records = _planted(2)
    for group, train, shift in (("spam-contaminated-v2", "all", 0.1), ("spam-v1", "normal", 0)):
        vals = {m: 0.6 + 0.1 * j + shift for j, m in enumerate("abcd")}
        boards.append(_board(group, "spam", vals))
        records += [_stub(group, "spam", m, v, train=train) for m, v in vals.items()]
    tr = ranking.task_ranks(boards, {}, "anomaly", records)
    assert "spam/spam-v1" in tr.boards and "spam/spam-contaminated-v2" not in tr.boards
    assert tr.not_counted == {"spam/spam-contaminated-v2": "spam/spam-v1 counts data set spam"}
    assert "Not counted" in ranking.task_note(tr, None)


def test_supervised_rows_and_duplicate_references_are_shown_not_ranked():
    boards, records = _planted()
    for b in boards:
        a = next(r for r in b.rows if r.model == "a").cells["anomaly.auroc"].mean
        for name, v in (("iso", 0.7), ("pyod-iso", 0.7), ("ref-a", a), ("logreg", 0.99)):
            b.rows.append(Row(name, "ok", True, 32, "", {"anomaly.auroc": Cell(v, None, 3)}))
            records.append(_stub(b.group, b.dataset, name, v, supervised=name == "logreg"))
    tr = ranking.task_ranks(boards, {}, "anomaly", records)
    assert tr.models == ["a", "b", "c", "d", "iso"]
    assert set(tr.unranked) == {"pyod-iso", "ref-a", "logreg"}
    assert "supervised" in tr.unranked["logreg"] and "iso" in tr.unranked["pyod-iso"]
    assert "the same value as a " in tr.unranked["ref-a"]  # a model is kept over a reference
    text, _, rows = ranking.summary([tr], {})
    assert "Shown, not ranked: logreg (supervised" in text
    assert [r[4] for r in rows if r[2] == "logreg"] == ["not ranked"]


def test_iman_davenport_against_its_formula_and_demsar_example():
    # Demšar (2006), §3.2.2: N = 14 data sets, k = 4 classifiers, χ²_F = 9.28 gives F_F = 3.69
    f, p = ranking.iman_davenport(9.28, 14, 4)
    assert f == pytest.approx(3.69, abs=0.005) and p < 0.05
    assert p == pytest.approx(1 - stats.f.cdf(f, 3, 39))
    boards, records = _planted(6)
    tr = ranking.task_ranks(boards, {}, "anomaly", records)
    n, k = tr.ranks.shape
    chi2 = stats.friedmanchisquare(*tr.ranks.T).statistic
    expected = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert tr.iman_davenport[0] == pytest.approx(expected)
    assert tr.iman_davenport[1] == pytest.approx(
        1 - stats.f.cdf(expected, k - 1, (k - 1) * (n - 1))
    )
    assert "Iman-Davenport F" in ranking.task_note(tr, None)


def test_fewer_than_five_boards_are_descriptive_only():
    for n, descriptive in ((4, True), (5, False)):
        boards, records = _planted(n)
        tr = ranking.task_ranks(boards, {}, "anomaly", records)
        assert tr.descriptive is descriptive
        assert ("DESCRIPTIVE ONLY" in ranking.task_note(tr, None)) is descriptive
        assert ("DESCRIPTIVE ONLY" in ranking.diagram_title(tr)) is descriptive


# -- a family board's interval ----------------------------------------------------------------


def _family_record(tmp, model, member, seed, scores, labels):
    r = copy.deepcopy(json.loads(FIXTURE.read_text()))
    key = f"toy-oneclass-c{member}-v1"
    r["group"] = key
    r["protocol"].update(
        name=f"toy-oneclass-c{member}",
        key=key,
        task="anomaly",
        family="toy-oneclass-v1",
        family_column=str(member),
        params={"normal_class": member},
    )
    r["model"]["name"], r["model"]["tags"], r["seed"], r["status"] = model, [], seed, "ok"
    r["metrics"] = {"anomaly.auroc": _auroc(scores, labels), "anomaly.threshold": 0.0}
    path = tmp / key / model / f"seed-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"test_scores": scores, "test_anomalous": labels}
    r["arrays_sha256"] = artifacts.write(artifacts.sidecar(path), arrays)
    path.write_text(json.dumps(r))
    r["_path"] = str(path)
    return r


def _auroc(scores, labels):
    pos, neg = scores[labels], scores[~labels]
    gt = (pos[:, None] > neg[None, :]).mean()
    return float(gt + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_family_interval_matches_an_independent_hierarchical_bootstrap(tmp_path):
    rng = np.random.default_rng(21)
    n, members, seeds = 80, 3, 3
    labels = {m: np.arange(n) % 5 == m for m in range(members)}  # each member its own anomalies
    records, data = [], {}
    for model, signal in (("good", 1.5), ("noisy", 0.1)):
        for m in range(members):
            for s in range(seeds):
                # seeds disagree (a seed-level shift of the separation), examples vary too
                sep = signal * (1 + 0.3 * (s - 1))
                scores = rng.normal(0, 1, n).astype(np.float32) + sep * labels[m]
                data[(model, m, s)] = scores
                records.append(_family_record(tmp_path, model, m, s, scores, labels[m]))
    (family,) = [b for b in build_boards(records) if b.members]
    publication.mark_significance(family, records, n_boot=1000)
    cells = {r.model: r.cells["anomaly.auroc"] for r in family.rows}

    # independent: draw seeds once for all members, a class-stratified example draw per member
    # (one per member, shared by its seeds: a fixed split), the family mean per resample
    b_boot = 1000
    draw = np.random.default_rng(5)
    for model in ("good", "noisy"):
        per_seed = [np.mean([_auroc(data[(model, m, s)], labels[m]) for m in range(members)])
                    for s in range(seeds)]  # fmt: skip
        res = np.empty(b_boot)
        for b in range(b_boot):
            units = draw.integers(0, seeds, seeds)
            total = 0.0
            for m in range(members):
                y = labels[m]
                strata = (np.flatnonzero(y), np.flatnonzero(~y))
                idx = np.concatenate([g[draw.integers(0, len(g), len(g))] for g in strata])
                total += np.mean([_auroc(data[(model, m, u)][idx], y[idx]) for u in units])
            res[b] = total / members
        se, df = spread(res, per_seed)
        half = stats.t.ppf(0.975, df) * se
        mean = float(np.mean(per_seed))
        cell = cells[model]
        assert cell.mean == pytest.approx(mean)
        assert cell.hi - cell.lo == pytest.approx(
            min(1.0, mean + half) - max(0.0, mean - half), rel=0.1
        )
        assert 0.0 <= cell.lo <= cell.mean <= cell.hi <= 1.0
    assert cells["good"].mark == "best" and cells["noisy"].mark == "worse"
    assert any("each member's test examples" in line for line in family.caption)
    assert not any(line.startswith("Mean ± 95% CI over seeds") for line in family.caption)
    # a member column's interval is its member board's
    member = next(b for b in build_boards(records) if b.group == "toy-oneclass-c1-v1")
    publication.mark_significance(member, records, n_boot=1000)
    mine = next(r for r in member.rows if r.model == "good").cells["anomaly.auroc"]
    theirs = next(r for r in family.rows if r.model == "good").cells["toy-oneclass-c1-v1"]
    assert (theirs.lo, theirs.hi) == pytest.approx((mine.lo, mine.hi))


def test_family_cells_without_arrays_keep_seed_intervals_within_range():
    from test_families import _record

    recs = [
        _record(model, m, s, v)
        for model, spread_ in (("wild", 0.4), ("calm", 0.01))
        for m in range(2)
        for s, v in enumerate([0.5 - spread_, 0.5, 0.5 + spread_])
    ]
    (family,) = [b for b in build_boards(recs) if b.members]
    publication.mark_significance(family, recs, n_boot=100)
    cell = next(r for r in family.rows if r.model == "wild").cells["toy-oneclass-c0-v1"]
    assert cell.lo == 0.0 and cell.hi == 1.0 and not cell.mark  # t over 3 seeds: clipped
    assert any("clipped to the metric's range" in line for line in family.caption)
    assert not math.isnan(cell.mean)
