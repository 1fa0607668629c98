"""End-to-end, in a subprocess: where derived files go by default, and -p names everywhere."""

from __future__ import annotations

import pytest
from conftest import run_cli

PUBLISHED = "published table: must survive a run from this checkout\n"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A folder like a checkout: published tables in results/, a fresh run's records in the
    default results directory (./aebench-runs)."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "results" / "figures").mkdir(parents=True)
    (root / "results" / "digits-v1_digits.md").write_text(PUBLISHED)
    (root / "results" / "summary.md").write_text(PUBLISHED)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AEBENCH_RESULTS", raising=False)
        res = run_cli("run", "-p", "digits", "-m", "mean,pca", "--seeds", "0", "-q", cwd=root)
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture
def cli(checkout, monkeypatch):
    monkeypatch.delenv("AEBENCH_RESULTS", raising=False)
    return lambda *args: run_cli(*args, cwd=checkout)


def _untouched(root):
    assert (root / "results" / "digits-v1_digits.md").read_text() == PUBLISHED
    assert (root / "results" / "summary.md").read_text() == PUBLISHED
    assert not any((root / "results" / "figures").iterdir())


def test_export_and_publish_write_beside_their_records(cli, checkout):
    res = cli("export")
    assert res.returncode == 0, res.stderr
    assert (checkout / "aebench-runs" / "published" / "digits-v1_digits.md").is_file()
    res = cli("publish", "--no-figures")
    assert res.returncode == 0, res.stderr
    assert (checkout / "aebench-runs" / "published" / "summary.md").is_file()
    _untouched(checkout)
    assert "RESULTS_DIR/published" in cli("export", "--help").stdout


def test_plot_writes_beside_its_records(cli, checkout):
    res = cli("plot")
    assert res.returncode == 0, res.stderr
    assert list((checkout / "aebench-runs" / "published" / "figures").glob("digits-v1_*.png"))
    _untouched(checkout)


def test_show_and_export_take_the_names_run_takes(cli, checkout):
    asked = "digits"  # as `run -p digits` took it
    res = cli("show", "-p", asked)
    assert res.returncode == 0, res.stderr
    assert "digits · digits-v1" in res.stdout and "mean" in res.stdout
    res = cli("export", "-p", asked, "--format", "csv", "--out-dir", "tables")
    assert res.returncode == 0, res.stderr
    assert (checkout / "tables" / "digits-v1_digits.csv").is_file()


@pytest.mark.parametrize("command", ["run", "show", "export", "plot"])
def test_an_unknown_protocol_is_one_line_naming_the_known_ones(cli, command):
    res = cli(command, "-p", "digts")
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "unknown protocol 'digts'; known:" in lines[0] and "digits-v1" in lines[0]


def test_a_protocol_without_records_says_which(cli):
    res = cli("show", "-p", "digits-novelty")
    assert res.returncode == 2 and "no records of digits-novelty-v1 in" in res.stderr
