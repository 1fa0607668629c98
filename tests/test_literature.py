"""Reproduced vs published (aebench.report.literature): cells against scipy's t interval, the cells
without a figure, one-line errors on malformed files, and what publish writes."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from conftest import run_cli
from scipy import stats
from test_families import _records, _table

from aebench.errors import AebenchError
from aebench.report import literature, publish
from aebench.report.build import build_boards

FAMILY, MEMBER = "toy-oneclass-v1", "toy-oneclass-c{}-v1"


def _ours(model: str, protocol: str, comparable: bool = True, why: str = "") -> dict:
    return {"model": model, "protocol": protocol, "comparable": comparable, "why": why}


def _figure(k, value: float, aebench: dict | None = None, **more) -> dict:
    f = {"source": "paper", "dataset": "digits", "method": "CAE", "value": value}
    f.update({"normal_class": k} if isinstance(k, int) else {"setting": k})
    f["checked"] = "read in the paper's Table 2"
    if aebench is not None:
        f["aebench"] = aebench
    return {**f, **more}


def _doc() -> dict:
    return {
        "about": "test figures",
        "metric": "anomaly.auroc",
        "unit": "percent",
        "sources": {"paper": {"citation": "A. Author, 'A paper', 2020", "url": "https://x.org/p"}},
        "figures": [
            _figure(0, 55.0, _ours("pca", MEMBER.format(0)), std=1.5),
            _figure(1, 66.0, _ours("vae", MEMBER.format(1))),
            _figure("mean over classes", 60.0, _ours("pca", FAMILY)),
            _figure(2, 70.0, _ours("pca", MEMBER.format(2), False, "a budget 10x ours")),
            _figure(2, 71.0),
            _figure(7, 80.0, _ours("pca", MEMBER.format(7))),
            _figure(0, 81.0, _ours("rbm", MEMBER.format(0))),
        ],
        "not_comparable": [
            {"dataset": "digits", "source": "paper, Table 3", "why": "binarised digits"},
            {"dataset": "elsewhere", "source": "(none found)", "why": "no figure under ours"},
        ],
        "not_transcribed": "Table 4: no copy could be checked",
    }


def _write(folder: Path, doc: dict, name: str = "figures.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(doc))
    return folder / name


def _t(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % half-width of the Student t interval, in percent, by scipy directly."""
    m = sum(values) / len(values)
    lo, _ = stats.t.interval(0.95, len(values) - 1, loc=m, scale=stats.sem(values))
    return 100 * m, 100 * (m - lo)


def _tables(tmp_path: Path) -> dict[str, literature.Table]:
    docs = [literature.load(_write(tmp_path, _doc()))]
    return {t.dataset: t for t in literature.tables(docs, build_boards(_records()))}


def test_compared_cells_are_the_family_boards_against_scipys_t_interval(tmp_path):
    rows = _tables(tmp_path)["digits"].rows
    values = _table()
    expected = [
        _t([values[("pca", 0, s)] for s in range(3)]),  # a member: its family-board column
        _t([values[("vae", 1, s)] for s in range(2)]),  # vae has no seed 2 of member 1
        _t([sum(values[("pca", m, s)] for m in range(3)) / 3 for s in range(3)]),  # the mean
    ]
    for row, (mean, half), n in zip(rows[:3], expected, (3, 2, 3)):
        assert row.status == "compared" and row.n == n
        assert row.mean == pytest.approx(mean) and row.hi - row.mean == pytest.approx(half)
        assert row.text == f"{mean:.1f} ± {half:.1f} (n={n})"
    assert rows[0].figure.std == 1.5


def test_cells_without_a_figure_say_why_each_reason_given_once(tmp_path):
    table = _tables(tmp_path)["digits"]
    assert [r.status for r in table.rows[3:]] == [
        "not comparable",
        "no aebench counterpart",
        "not run",
        "not run",
    ]
    shown, reasons = literature.cells(table)
    assert [row[4] for row in shown[3:]] == [
        "not comparable [1]",
        "no aebench counterpart [2]",
        "not run [3]",
        "not run [4]",
    ]
    assert reasons[0] == "[1] not comparable: a budget 10x ours"
    assert "names no aebench model" in reasons[1]
    assert reasons[2] == f"[3] not run: no records of {MEMBER.format(7)} on digits"
    assert reasons[3].startswith("[4] not run: no rbm row on board digits")
    assert shown[0][3] == "55.0 (s.d. 1.5)" and shown[0][5] == f"pca · {MEMBER.format(0)}"


def test_a_data_set_with_notes_only_says_there_is_nothing_to_compare(tmp_path):
    tables = _tables(tmp_path)
    md = literature.to_markdown(tables["elsewhere"])
    assert not tables["elsewhere"].rows and "nothing to compare" in md
    assert "Not compared ((none found)): no figure under ours" in md
    md = literature.to_markdown(tables["digits"])
    assert "both in percent" in md and "Not compared (paper, Table 3): binarised digits" in md
    assert "Not transcribed (figures.json): Table 4" in md and "<https://x.org/p>" in md


def test_a_fraction_file_beside_a_percent_one_is_shown_in_percent(tmp_path):
    other = {**_doc(), "unit": "fraction", "not_comparable": [], "not_transcribed": ""}
    other["figures"] = [_figure(0, 0.55, _ours("pca", MEMBER.format(0)))]
    docs = [literature.load(_write(tmp_path, d, n)) for d, n in ((_doc(), "a"), (other, "b"))]
    (table,) = [t for t in literature.tables(docs, build_boards(_records())) if t.rows]
    assert table.rows[-1].figure.value == pytest.approx(55.0)
    assert table.rows[-1].mean == pytest.approx(table.rows[0].mean)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["figures"][1].pop("value"), "figures[1].value"),
        (lambda d: d["figures"][1].update(value="66"), "figures[1].value"),
        (lambda d: d["figures"][1].update(value=0.66 * 1000), "figures[1].value"),
        (lambda d: d["figures"][0].update(source="nobody"), "figures[0].source"),
        (lambda d: d["figures"][0].pop("checked"), "figures[0].checked"),
        (lambda d: d["figures"][0].pop("normal_class"), "'normal_class' or a 'setting'"),
        (lambda d: d["figures"][0]["aebench"].pop("protocol"), "name its 'model' and 'protocol'"),
        (lambda d: d["figures"][3]["aebench"].update(why=""), "figures[3].aebench.why"),
        (lambda d: d["figures"][0]["aebench"].update(comparable="yes"), "aebench.comparable"),
        (lambda d: d.update(unit="%"), "unit"),
        (lambda d: d.update(metric="auroc"), "metric"),
        (lambda d: d["not_comparable"][0].pop("why"), "not_comparable[0]"),
    ],
)
def test_a_malformed_file_is_one_line_naming_the_file_and_the_entry(tmp_path, change, named):
    doc = _doc()
    change(doc)
    with pytest.raises(AebenchError) as err:
        literature.load(_write(tmp_path, doc))
    message = str(err.value)
    assert "\n" not in message and "figures.json" in message and named in message
    assert "fix" in message


def test_invalid_json_and_a_missing_folder_are_one_line_each(tmp_path):
    (tmp_path / "bad.json").write_text('{"metric": "anomaly.auroc",')
    with pytest.raises(AebenchError, match=r"bad\.json: not valid JSON .*; fix the file"):
        literature.load_dir(tmp_path)
    with pytest.raises(AebenchError, match="no such folder"):
        literature.load_dir(tmp_path / "nowhere")


def _store(results: Path) -> Path:
    for r in _records():
        path = results / r["group"] / "digits" / r["model"]["name"] / f"seed-{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    return results


def test_publish_writes_the_table_from_out_dir_literature_and_the_site_shows_it(tmp_path):
    out = tmp_path / "results"
    _write(out / publish.LITERATURE, _doc())
    written = publish.publish(_store(tmp_path / "records"), out, figures=False, site=out / "site")
    assert {out / "literature_digits.md", out / "literature_elsewhere.csv"} <= set(written)
    md = (out / "literature_digits.md").read_text()
    assert "### Reproduced vs published · digits · AUROC" in md and "not run [3]" in md
    rows = list(csv.DictReader(io.StringIO((out / "literature_digits.csv").read_text())))
    mean, half = _t([_table()[("pca", 0, s)] for s in range(3)])
    assert float(rows[0]["aebench_mean"]) == pytest.approx(mean)
    assert float(rows[0]["aebench_hi"]) == pytest.approx(mean + half)
    assert rows[3]["status"] == "not comparable" and rows[3]["why"] == "a budget 10x ours"
    index = (out / "site" / "index.html").read_text()
    assert "Reproduced vs published · digits · AUROC" in index and "https:" not in index
    assert not math.isnan(float(rows[2]["aebench_mean"]))


def test_cli_publish_stops_on_a_malformed_file_before_writing_any_table(tmp_path):
    doc = _doc()
    del doc["figures"][2]["value"]
    _write(tmp_path / "lit", doc)
    res = run_cli(
        "publish", "--results-dir", str(_store(tmp_path / "records")), "--no-figures",
        "--out-dir", str(tmp_path / "out"), "--literature", str(tmp_path / "lit"),
    )  # fmt: skip
    assert res.returncode != 0
    (line,) = res.stderr.strip().splitlines()
    assert "figures.json" in line and "figures[2].value" in line and "Traceback" not in line
    assert not list((tmp_path / "out").glob("*.md"))
