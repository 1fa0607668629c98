"""``publish`` prints one unwrapped line per file, and ``--site`` alone puts the site beside
the tables (issue 28, item 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run_cli

PUBLISHED = Path(__file__).resolve().parent / "data" / "records" / "digits-v1"


def test_publish_never_wraps_a_path_and_site_defaults_beside_the_tables(tmp_path):
    runs = tmp_path / ("a-results-folder-with-a-long-name-" * 3) / "runs"
    shutil.copytree(PUBLISHED, runs / "digits-v1")
    res = run_cli(
        "publish",
        "--results-dir",
        str(runs),
        "--no-figures",
        "--site",
        "--plugin",
        "digits",
        env={"COLUMNS": "80"},
    )  # models not installed: their rows are shown as recorded, never STALE
    assert res.returncode == 0, res.stderr
    out = runs / "published"
    wrote = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert all(ln.startswith("wrote ") for ln in wrote), wrote  # no path split over lines
    assert any(len(ln) > 80 for ln in wrote)  # long enough that wrapping would have split it
    paths = [Path(ln[len("wrote ") :]) for ln in wrote]
    assert all(p.exists() for p in paths)
    assert (out / "site" / "index.html").exists()  # beside the tables, not in the cwd
    assert (out / "digits-v1_digits.md").exists()
    page = (out / "site" / "boards" / "digits-v1_digits.html").read_text()
    assert '<section class="verdict">' in page and "best recon. MSE: pca" in page  # answer first
    assert "▲" in page and "uncompared rows after" in page  # the mark and its legend
    md = (out / "digits-v1_digits.md").read_text()
    assert md.split("| model")[0].count("best recon. MSE: pca") == 1
