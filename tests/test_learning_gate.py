"""The learning gate on the boards (aebench.report.gate): a planted model that never gets past
the training mean is flagged on every output (terminal, markdown, LaTeX, CSV, site, summary)
and left out of the ranks; a row still improving is marked not converged; speed cells are
never bold."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pytest

from aebench.records import storage
from aebench.report import gate, publish
from aebench.report.build import build_boards
from aebench.report.formats import export, to_rich
from aebench.report.rows import SPEED_COLUMNS, SPEED_NOTE

RECORDS = Path(__file__).parent / "data" / "records"


def _committed() -> list[dict]:
    records, _ = storage.load_records(RECORDS)
    for r in records:
        r.pop("_path", None)
    return records


def _copy(r: dict, name: str, **metrics) -> dict:
    out = copy.deepcopy(r)
    out["model"]["name"] = name
    out["metrics"].update(metrics)
    return out


def _planted() -> list[dict]:
    """The committed digits-v1 board (pca, mean) and "flat": the best test MSE and the fastest
    training on the board, but its validation error is the training mean's on every seed."""
    records = _committed()
    mean = {
        r["seed"]: r["metrics"]["val_recon_mse"] for r in records if r["model"]["name"] == "mean"
    }
    flat = [
        _copy(r, "flat", recon_mse=1e-4, val_recon_mse=mean[r["seed"]], fit_s=1e-6)
        for r in records
        if r["model"]["name"] == "pca"
    ]
    for r in flat:
        r["metrics"]["train_samples_per_s"] = 1e12
    return records + flat


def _store(results: Path, records: list[dict]) -> Path:
    for r in records:
        path = results / r["group"] / r["dataset"]["name"] / r["model"]["name"]
        path.mkdir(parents=True, exist_ok=True)
        (path / f"seed-{r['seed']}.json").write_text(json.dumps(r))
    return results


def _rows(board):
    return {r.model: r for r in board.rows}


def test_the_board_marks_a_row_that_never_learned_and_never_bolds_it():
    (board,) = build_boards(_planted())
    rows = _rows(board)
    flat, pca = rows["flat"], rows["pca"]
    assert flat.verdict == gate.DID_NOT_LEARN and flat.learn_ratio == pytest.approx(1.0)
    assert not any(c.best for c in flat.cells.values())
    assert all(c.verdict == gate.DID_NOT_LEARN for c in flat.cells.values())
    assert pca.verdict == "" and pca.cells["recon_mse"].best  # the best row that learned
    assert pca.learn_ratio < 0.95 and not rows["mean"].verdict  # a reference is never gated
    assert "[did not learn]" in flat.display
    assert "DID NOT LEARN (validation error 1.000× the training mean's)" in flat.status_text()
    line = next(ln for ln in board.caption if ln.startswith("did not learn:"))
    assert "1 of 2 learned rows" in line and "flat (1.000×)" in line and "0.95×" in line


def test_a_planted_model_that_never_learns_is_flagged_on_every_output_and_not_ranked(tmp_path):
    from rich.console import Console

    results = _store(tmp_path / "records", _planted())
    out = tmp_path / "results"
    publish.publish(results, out, figures=False, site=out / "site")

    md = (out / "digits-v1_digits.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| flat"))
    assert "DID NOT LEARN" in line and "**" not in line and "_" not in line.split("|")[3]
    assert "did not learn: 1 of 2 learned rows" in md

    table = list(csv.DictReader(io.StringIO((out / "digits-v1_digits.csv").read_text())))
    flat = next(r for r in table if r["model"] == "flat")
    assert flat["verdict"] == "did not learn" and float(flat["learn_ratio"]) == pytest.approx(1)
    assert not any(flat[k] for k in flat if k.endswith("_mark"))
    assert next(r for r in table if r["model"] == "pca")["verdict"] == ""

    page = (out / "site" / "boards" / "digits-v1_digits.html").read_text()
    assert 'class="did-not-learn"' in page and "DID NOT LEARN" in page
    model_page = (out / "site" / "boards" / "digits-v1_digits" / "flat.html").read_text()
    assert "DID NOT LEARN" in model_page

    summary = (out / "summary.md").read_text()
    ranked = [ln.split("|")[3].strip() for ln in summary.splitlines() if ln.startswith("| recon")]
    assert "pca" in ranked and "flat" not in ranked
    assert "flat (did not learn (validation error 1.000× the training mean's) on digits/" in summary
    assert "flat" not in [
        row[2] for row in csv.reader(io.StringIO((out / "summary.csv").read_text()))
    ]
    assert "flat" in (out / "site" / "index.html").read_text()  # named among the left out

    (board,) = build_boards(_planted())
    console = Console(record=True, width=400)
    console.print(to_rich(board))
    text = console.export_text()
    assert "DID NOT LEARN" in text and "[did not learn]" in text
    tex = export(board, "latex")
    flat_tex = next(ln for ln in tex.splitlines() if ln.lstrip().startswith("flat"))
    assert "\\textbf" not in flat_tex and "DID NOT LEARN" in flat_tex


def test_records_with_their_own_learning_section_need_no_mean_row():
    records = [r for r in _committed() if r["model"]["name"] == "pca"]
    flat = [_copy(r, "flat") for r in records]
    for r, s in zip(records + flat, [0.3] * 3 + [0.97, 0.99, 0.93]):
        r["learning"] = {
            "val_recon_mse": s,
            "baseline": "training mean",
            "baseline_val_recon_mse": 1.0,
            "ratio": s,
            "gate_ratio": 0.95,
            "learned": s < 0.95,
            "converged": True,
        }
    (board,) = build_boards(records + flat)
    rows = _rows(board)
    # the mean over seeds decides, not one seed: 0.93 alone would have learned
    assert rows["flat"].verdict == gate.DID_NOT_LEARN
    assert rows["flat"].learn_ratio == pytest.approx(0.9633333)
    assert rows["pca"].verdict == "" and rows["pca"].cells["recon_mse"].best


def test_a_row_with_no_baseline_is_not_gated_and_the_caption_says_so():
    records = [r for r in _committed() if r["model"]["name"] == "pca"]
    (board,) = build_boards(records)
    (pca,) = board.rows
    assert pca.verdict == "" and pca.ungated == "no baseline"
    assert any(ln.startswith("not gated (no baseline") and "pca" in ln for ln in board.caption)


def test_a_row_still_improving_is_marked_not_converged_and_not_ranked():
    records = _committed()
    slow = [_copy(r, "slow", recon_mse=1e-4) for r in records if r["model"]["name"] == "pca"]
    for r in slow:
        r["learning"] = {
            "val_recon_mse": 0.01,
            "baseline_val_recon_mse": 0.07,
            "gate_ratio": 0.95,
            "converged": r["seed"] == 2,  # seeds 0 and 1 still improving: most of them
            "converged_tolerance": 0.01,
        }
    (board,) = build_boards(records + slow)
    row = _rows(board)["slow"]
    assert row.verdict == gate.NOT_CONVERGED and "[not converged]" in row.display
    assert "2 of 3 seed(s) still improving by more than 0.01" in row.status_text()
    assert (
        not any(c.best for c in row.cells.values()) and _rows(board)["pca"].cells["recon_mse"].best
    )
    assert any(ln.startswith("not converged: 1 of 2 learned rows") for ln in board.caption)
    assert "not converged" in export(board, "csv")


def test_speed_cells_are_never_marked_best_and_the_caption_says_where_clean_figures_are():
    (board,) = build_boards(_planted())
    speed = [c for c in board.columns if c.key in SPEED_COLUMNS]
    assert speed
    assert not any(r.cells[c.key].best for r in board.rows for c in speed)
    assert SPEED_NOTE in board.caption and "results/benchmarks/" in SPEED_NOTE
    assert any("best per quality column in bold (never a timing)" in ln for ln in board.caption)
    md = export(board, "markdown")
    pca = next(ln for ln in md.splitlines() if ln.startswith("| pca")).split("|")
    heads = next(ln for ln in md.splitlines() if ln.startswith("| model")).split("|")
    for i, h in enumerate(heads):
        if "samples/s" in h or "fit" in h:
            assert "**" not in pca[i]


def _member(r: dict, member: int, model: str, auroc: float, val: float) -> dict:
    out = copy.deepcopy(r)
    key = f"toy-oneclass-c{member}-v1"
    out["group"] = key
    out["protocol"].update(
        name=f"toy-oneclass-c{member}",
        key=key,
        fingerprint=f"fp{member}",
        task="anomaly",
        family="toy-oneclass-v1",
        family_column=str(member),
    )
    out["model"]["name"] = model
    out["model"]["tags"] = ["reference"] if model == "mean" else ["autoencoder"]
    out["metrics"] = {"anomaly.auroc": auroc, "val_recon_mse": val}
    return out


def test_a_family_board_marks_each_member_cell_and_its_mean():
    """vae did not learn on member 1 (its mean column is then no result) although it has the
    best AUROC everywhere; pca learned on both."""
    template = _committed()[0]
    records = []
    for m in (0, 1):
        for s in (0, 1, 2):
            base = dict(template, seed=s)
            records.append(_member(base, m, "mean", 0.5, 1.0))
            records.append(_member(base, m, "pca", 0.6 + 0.01 * s, 0.5))
            records.append(_member(base, m, "vae", 0.9, 0.4 if m == 0 else 0.99))
    (family,) = [b for b in build_boards(records) if b.members]
    rows = _rows(family)
    c0, c1 = family.members
    vae = rows["vae"]
    assert vae.cells[c0].verdict == "" and vae.cells[c0].best  # it learned on member 0
    assert vae.cells[c1].verdict == gate.DID_NOT_LEARN and vae.cells[c1].flag == "✗"
    assert not vae.cells[c1].best and rows["pca"].cells[c1].best
    assert vae.cells["anomaly.auroc"].verdict and not vae.cells["anomaly.auroc"].best
    assert rows["pca"].cells["anomaly.auroc"].best
    assert vae.verdict == gate.DID_NOT_LEARN and "on 1 (1 of 2 members)" in vae.verdict_reason
    assert vae.display.endswith("[did not learn on 1 of 2]")
    assert any(
        "1 of 2 learned rows, in 1 of 4 of their member cells" in ln for ln in family.caption
    )
    md = export(family, "markdown")
    assert "✗" in md and "DID NOT LEARN" in md


def _rec(model, group, seed, val, split_seed=7, tags=()):
    return {
        "model": {"name": model, "tags": list(tags), "capabilities": {}},
        "group": group,
        "seed": seed,
        "status": "ok",
        "protocol": {},
        "metrics": {"val_recon_mse": val},
        "dataset": {"name": "d", "split_seed": split_seed, "n_fit": 90, "n_val": 10},
    }


def test_a_variant_board_borrows_its_protocols_training_mean_on_the_same_carve_only():
    from aebench.report import gate

    mean = _rec("mean", "p-v1", 0, 0.10, tags=("reference",))
    base = gate.baselines([mean])
    same_carve = _rec("ae", "p-v1~tuned-20", 0, 0.099)
    verdict, _, ungated, ratio = gate.judge([same_carve], base)
    assert verdict == gate.DID_NOT_LEARN and ratio == pytest.approx(0.99)
    other_carve = _rec("ae", "p-v1~abc", 0, 0.099, split_seed=8)
    assert gate.judge([other_carve], base)[2] == "no baseline"
