"""Family boards: one column per member protocol and their mean, against hand computation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import run_cli
from idx_helpers import write_mnist

from aebench.report import publish
from aebench.report.build import build_boards
from aebench.stats.intervals import mean_ci

FIXTURE = (
    Path(__file__).parent / "data" / "records" / "digits-v1" / "digits" / "pca" / "seed-0.json"
)


def _record(model: str, member: int, seed: int, auroc: float | None, variant: str = "") -> dict:
    """A stored record of one-class member ``member`` (a committed record, relabelled)."""
    r = copy.deepcopy(json.loads(FIXTURE.read_text()))
    key = f"toy-oneclass-c{member}-v1"
    r["group"] = key + variant
    r["protocol"].update(
        name=f"toy-oneclass-c{member}",
        key=key,
        fingerprint=f"fp{member}",
        task="anomaly",
        family="toy-oneclass-v1",
        family_column=str(member),
        params={"normal_class": member},
        budget_samples=500 if variant else r["protocol"]["budget_samples"],
    )
    r["model"]["name"] = model
    r["seed"] = seed
    r["status"] = "ok" if auroc is not None else "failed"
    r["metrics"] = {"anomaly.auroc": auroc} if auroc is not None else {}
    return r


def _table():
    """AUROC per (model, member, seed): pca has every seed, vae misses member 1 at seed 2."""
    values = {}
    for m in range(3):
        for s in range(3):
            values[("pca", m, s)] = 0.5 + 0.1 * m + 0.01 * s
            values[("vae", m, s)] = 0.6 + 0.05 * m - 0.02 * s
    values[("vae", 1, 2)] = None
    return values


def _records():
    return [_record(model, m, s, v) for (model, m, s), v in _table().items()]


def test_family_board_columns_cells_and_mean_by_hand():
    boards = build_boards(_records())
    members = [b for b in boards if b.family == "toy-oneclass-v1"]
    assert sorted(b.group for b in members) == [f"toy-oneclass-c{m}-v1" for m in range(3)]
    (family,) = [b for b in boards if b.members]
    assert family.group == "toy-oneclass-v1" and family.dataset == "digits"
    assert [c.key for c in family.columns] == [b.group for b in members] + ["anomaly.auroc"]
    assert [c.header for c in family.columns[:3]] == ["0", "1", "2"]
    values = _table()
    rows = {r.model: r for r in family.rows}
    for model in ("pca", "vae"):
        for m in range(3):
            vals = [values[(model, m, s)] for s in range(3) if values[(model, m, s)] is not None]
            cell = rows[model].cells[f"toy-oneclass-c{m}-v1"]
            assert (cell.mean, cell.half, cell.n) == pytest.approx(mean_ci(vals))
        # the mean column: per seed over members, only seeds every member has
        seeds = [s for s in range(3) if all(values[(model, m, s)] is not None for m in range(3))]
        per_seed = [sum(values[(model, m, s)] for m in range(3)) / 3 for s in seeds]
        cell = rows[model].cells["anomaly.auroc"]
        assert (cell.mean, cell.half, cell.n) == pytest.approx(mean_ci(per_seed))
    assert rows["vae"].cells["anomaly.auroc"].n == 2
    assert rows["vae"].status.startswith("ok 8/9")
    assert rows["vae"].cells["anomaly.auroc"].best  # 0.645 against pca's 0.61
    assert "3 protocols, one per column" in family.caption[0]


def test_family_board_filters_and_variants():
    recs = _records() + [_record("pca", m, 0, 0.9, variant="~abc") for m in range(3)]
    boards = build_boards(recs, "toy-oneclass-v1")
    groups = sorted(b.group for b in boards)
    assert groups[0] == "toy-oneclass-v1" and groups[1].startswith("toy-oneclass-v1~")
    variant = next(b for b in boards if "~" in b.group)
    assert "VARIANT" in variant.caption[0]
    assert set(variant.members) == {f"toy-oneclass-c{m}-v1~abc" for m in range(3)}
    assert build_boards(recs, "toy-oneclass-c1-v1")[0].group == "toy-oneclass-c1-v1"


def test_summary_ranks_the_family_once_not_its_members():
    from aebench.report import ranking

    boards = build_boards(_records())
    tr = ranking.task_ranks(boards, {}, "anomaly")
    assert tr.boards == ["digits/toy-oneclass-v1"]


def test_publish_writes_the_family_board_without_figures(tmp_path):
    results = tmp_path / "records"
    for r in _records():
        path = results / r["group"] / "digits" / r["model"]["name"] / f"seed-{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    written = publish.publish(results, tmp_path / "out", figures=False)
    names = {p.name for p in written}
    assert "toy-oneclass-v1_digits.md" in names and "toy-oneclass-c0-v1_digits.md" in names
    text = (tmp_path / "out" / "toy-oneclass-v1_digits.md").read_text()
    assert "mean AUROC" in text and "Underlined" not in text


def test_cli_runs_a_family_and_shows_its_board(tmp_path):
    write_mnist(tmp_path / "data" / "mnist", n_train=60, n_test=40)
    res = run_cli(
        "run", "-m", "mean", "-p", "mnist-oneclass", "--seeds", "0", "--no-download",
        "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "runs"), "-q",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "mnist · mnist-oneclass-v1" in res.stdout and "mean AUROC" in res.stdout
    made = sorted(p.parent.parent.parent.name for p in (tmp_path / "runs").rglob("seed-0.json"))
    assert made == sorted(f"mnist-oneclass-c{k}-v1" for k in range(10))
    for asked in ("mnist-oneclass-v1", "mnist-oneclass"):  # the family is a -p name to show
        shown = run_cli("show", "-p", asked, "--results-dir", str(tmp_path / "runs"))
        assert shown.returncode == 0, shown.stderr
        assert "mnist · mnist-oneclass-v1" in shown.stdout


def test_a_family_board_says_which_columns_lack_protocol_seeds():
    recs = _records()
    (family,) = [b for b in build_boards(recs) if b.members]
    assert not any("INCOMPLETE" in line for line in family.caption)  # vae's failed run is a run
    partial = [
        r
        for r in recs
        if not (r["model"]["name"] == "vae" and r["group"] == "toy-oneclass-c2-v1")
        and not (r["model"]["name"] == "pca" and r["group"] == "toy-oneclass-c0-v1" and r["seed"])
    ]
    (family,) = [b for b in build_boards(partial) if b.members]
    (line,) = [c for c in family.caption if c.startswith("INCOMPLETE")]
    assert "pca: 0: 1, 2" in line and "vae: 2: all" in line
