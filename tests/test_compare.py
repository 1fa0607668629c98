"""``aebench compare A B``: the difference of each metric with its interval and p-value from
the board's own paired bootstrap, and what the resampling covers (issue 28, item 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from aebench.records import storage
from aebench.report import significance
from aebench.report.compare import compare

PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "records" / "digits-v2"


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory):
    if not PUBLISHED.is_dir():
        pytest.skip("results/records/digits-v2 absent")
    root = tmp_path_factory.mktemp("compare") / "runs"
    shutil.copytree(PUBLISHED, root / "digits-v2")
    return root


def _mean(root: Path, model: str, key: str, seeds=None) -> float:
    vals = [
        json.loads(p.read_text())["metrics"][key]
        for p in (root / "digits-v2" / "digits" / model).glob("seed-*.json")
        if seeds is None or int(p.stem.split("-")[1]) in seeds
    ]
    return float(np.mean(vals))


def test_the_difference_is_b_minus_a_with_an_interval_and_the_boards_p(records_dir):
    records, _ = storage.load_records(records_dir)
    (cmp,) = compare(records, "conv_ae", "vae", "digits-v2", n_boot=300)
    mse = next(d for d in cmp.differences if d.key == "recon_mse")
    expect = _mean(records_dir, "vae", "recon_mse") - _mean(records_dir, "conv_ae", "recon_mse")
    assert mse.diff == pytest.approx(expect, rel=1e-9)  # from the JSON files themselves
    assert mse.lo < mse.diff < mse.hi
    assert 0 <= mse.p <= 1
    # the verdict follows the sign and the p-value
    if mse.p <= significance.ALPHA:
        assert mse.verdict == ("A better" if mse.diff > 0 else "B better")  # lower is better
    else:
        assert mse.verdict == "not separable"
    # swapping A and B flips the difference and keeps the p-value
    (back,) = compare(records, "vae", "conv_ae", "digits-v2", n_boot=300)
    flipped = next(d for d in back.differences if d.key == "recon_mse")
    assert flipped.diff == pytest.approx(-mse.diff) and flipped.p == pytest.approx(mse.p)
    assert "3 seeds" in cmp.covers and "training randomness and the finite test set" in cmp.covers
    nll = next(d for d in cmp.differences if d.key == "nll")
    assert nll.verdict == "not on both rows"  # conv_ae has no likelihood


def test_a_density_is_not_compared_with_a_bernoulli_likelihood(records_dir):
    records, _ = storage.load_records(records_dir)
    (cmp,) = compare(records, "pca", "vae", "digits-v2", n_boot=100)
    nll = next(d for d in cmp.differences if d.key == "nll")
    assert nll.verdict.startswith("not comparable") and nll.diff is None


def test_one_seed_says_plainly_that_training_randomness_is_not_covered(records_dir):
    records, _ = storage.load_records(records_dir)
    one = [r for r in records if r["seed"] == 0]
    (cmp,) = compare(one, "conv_ae", "denoising_ae", "digits-v2", n_boot=200)
    assert "ONE seed" in cmp.covers and "NOT training randomness" in cmp.covers
    mse = next(d for d in cmp.differences if d.key == "recon_mse")
    expect = _mean(records_dir, "denoising_ae", "recon_mse", {0}) - _mean(
        records_dir, "conv_ae", "recon_mse", {0}
    )
    assert mse.diff == pytest.approx(expect, rel=1e-9)


def test_compare_command_and_a_row_no_board_has(records_dir):
    res = run_cli(
        "compare",
        "conv_ae",
        "lstm_ae",
        "-p",
        "digits-v2",
        "--results-dir",
        str(records_dir),
        env={"COLUMNS": "100"},
    )
    assert res.returncode == 0, res.stderr
    assert "B − A" in res.stdout and "recon. MSE" in res.stdout
    assert "covers training randomness" in " ".join(res.stdout.split())
    bad = run_cli("compare", "conv_ae", "nosuch", "--results-dir", str(records_dir))
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "'nosuch'" in bad.stderr
    assert "conv_ae" in bad.stderr  # names the rows there are
