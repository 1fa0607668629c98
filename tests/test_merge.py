"""Several --results-dir merged into one board (aebench.records.merge): a plugin author's runs
beside the published ones, refused where they cannot share a board, speed marked where it does
not compare."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from aebench.records import merge
from aebench.report import publication
from aebench.report.formats import export
from aebench.report.rows import FOREIGN_SIGN, SPEED_COLUMNS


@pytest.fixture
def together(digits_records) -> Path:
    """pca and mean, seeds 0 and 1, run together into one directory (the session's shared
    records, conftest.DIGITS_GRID: read only; ``_split`` copies them)."""
    return digits_records


def _split(together: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The same records in two directories: "published" holds pca, "mine" holds mean."""
    pub, mine = tmp_path / "published", tmp_path / "mine"
    shutil.copytree(together, pub)
    shutil.copytree(together, mine)
    for d, drop in ((pub, "mean"), (mine, "pca")):
        for folder in d.glob(f"*/*/{drop}"):
            shutil.rmtree(folder)
    return pub, mine


def _edit(folder: Path, change) -> None:
    for path in folder.rglob("seed-*.json"):
        rec = json.loads(path.read_text())
        change(rec)
        path.write_text(json.dumps(rec))


def _csv(dirs: list[Path]) -> str:
    pub = publication.compose(merge.load(dirs)[0])
    return "".join(export(b, "csv") for b in pub.boards)


def test_merged_rows_are_treated_as_if_run_together(together, tmp_path):
    pub, mine = _split(together, tmp_path)
    assert _csv([pub, mine]) == _csv([together])  # intervals, marks, p-values: all the same


def test_show_merges_directories_end_to_end(together, tmp_path):
    pub, mine = _split(together, tmp_path)
    res = run_cli("show", "--results-dir", str(pub), "--results-dir", str(mine))
    assert res.returncode == 0, res.stderr
    assert "pca" in res.stdout and "mean" in res.stdout
    assert res.stdout.count("digits · digits-v2") == 1  # one board, not one per directory
    alone = run_cli("show", "--results-dir", str(pub))
    firsts = [{ln.split()[0] for ln in r.stdout.splitlines() if ln.split()} for r in (res, alone)]
    assert "mean" in firsts[0] and "mean" not in firsts[1]  # a row of its own, from mine


def test_a_record_of_another_protocol_is_refused_naming_the_field(together, tmp_path):
    pub, mine = _split(together, tmp_path)

    def other_lr(rec):
        rec["protocol"]["lr"] = 0.01
        rec["protocol"]["fingerprint"] = "0123456789ab"

    _edit(mine, other_lr)
    res = run_cli("show", "--results-dir", str(pub), "--results-dir", str(mine))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "protocol field 'lr' (0.01, not 0.001)" in lines[0], res.stderr
    assert "cannot share board digits-v2" in lines[0]


def test_a_record_of_other_data_files_is_refused(together, tmp_path):
    pub, mine = _split(together, tmp_path)

    def other_file(rec):
        for meta in rec["dataset"]["files"].values():
            meta["sha256"] = "f" * 64

    _edit(mine, other_file)
    with pytest.raises(Exception, match=r"data file 'digits.csv.gz' \(sha256 ffffffffffff"):
        merge.load([pub, mine])


def test_the_same_run_in_two_directories_is_refused(together, tmp_path):
    pub, _ = _split(together, tmp_path)
    res = run_cli("export", "--results-dir", str(together), "--results-dir", str(pub))
    assert res.returncode == 2
    assert re.search(
        r"the same run \(pca seed 0 on digits-v2~\w+, digits\) twice; keep one", res.stderr
    )


def test_a_missing_directory_is_one_line(together, tmp_path):
    res = run_cli("show", "--results-dir", str(together), "--results-dir", str(tmp_path / "nope"))
    assert res.returncode == 2
    assert res.stderr.strip().endswith("no such directory; pass an existing one")


def test_speed_from_another_environment_is_marked_quality_is_not(together, tmp_path):
    pub, mine = _split(together, tmp_path)

    def elsewhere(rec):
        rec["software"]["torch"] = "9.9.9"
        rec["device"]["name"] = "Other CPU"

    _edit(mine, elsewhere)
    (board,) = publication.compose(merge.load([pub, mine])[0]).boards
    rows = {r.model: r for r in board.rows}
    for key in SPEED_COLUMNS:
        assert rows["mean"].cells[key].flag == FOREIGN_SIGN
        assert rows["pca"].cells[key].flag == ""
    assert rows["mean"].cells["recon_mse"].flag == ""
    note = next(c for c in board.caption if c.startswith(FOREIGN_SIGN))
    assert "device cpu Other CPU, not cpu" in note and "torch 9.9.9, not" in note
    # the quality columns and their statistics are those of the unmarked merge
    (plain,) = publication.compose(merge.load([together])[0]).boards
    for r in plain.rows:
        for key in ("recon_mse", "nll"):
            a, b = r.cells[key], rows[r.model].cells[key]
            assert (a.mean, a.lo, a.hi, a.mark, a.p) == (b.mean, b.lo, b.hi, b.mark, b.p)


def test_the_reference_environment_is_the_first_directorys():
    def rec(source, torch):
        return {
            "_source": source,
            "group": "g",
            "dataset": {"name": "d"},
            "device": {"type": "cpu", "name": "X", "threads": 1},
            "software": {"torch": torch, "aebench": "1"},
        }

    recs = [rec(1, "b"), rec(1, "b"), rec(1, "b"), rec(0, "a")]
    assert merge.foreign(recs) == ["torch b, not a"] * 3 + [None]


def test_publish_merges_directories_into_tables_and_a_site(together, tmp_path):
    pub, mine = _split(together, tmp_path)
    out = tmp_path / "board"
    res = run_cli(
        "publish",
        *("--results-dir", str(pub), "--results-dir", str(mine)),
        *("--out-dir", str(out), "--no-figures", "--site", str(out / "site")),
    )
    assert res.returncode == 0, res.stderr
    (table,) = out.glob("digits-v2~*_digits.md")
    assert "| mean" in table.read_text() and "| pca" in table.read_text()
    (page,) = (out / "site" / "boards").glob("digits-v2*.html")
    models = page.with_suffix("")  # one page per row, beside the board's
    assert sorted(p.name for p in models.iterdir()) == ["mean.html", "pca.html"]
    assert f'href="../boards/{models.name}/mean.html"' in page.read_text()


def test_publish_to_a_site_that_cannot_be_written_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "afile").write_text("")
    records = Path(__file__).parent / "data" / "records"
    out = tmp_path / "out"
    res = run_cli(
        "publish", "--results-dir", str(records), "--out-dir", str(out), "--no-figures",
        "--site", str(tmp_path / "afile" / "site"),
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "--site" in line and "afile" in line and "pass another folder" in line
    assert not any(out.rglob("*.md"))
