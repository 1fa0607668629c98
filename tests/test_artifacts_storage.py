"""What a run stores beside its record: every per-example value a statistic resamples, for
every seed; figure-only arrays (pictures, samples, codes) for the first seed only, and pictures
only of image data. ``python -m aebench.artifacts compact`` applies the same rule to stored
records without changing what a table or a statistic reads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from aebench import artifacts, storage


def test_keeps_figures_for_the_first_protocol_seed_and_for_a_users_own_seed():
    assert artifacts.keeps_figures(0, [0, 1, 2])
    assert not artifacts.keeps_figures(1, [0, 1, 2]) and not artifacts.keeps_figures(2, [0, 1, 2])
    assert artifacts.keeps_figures(7, [0, 1, 2])  # outside the protocol's seeds
    assert artifacts.is_image([1, 8, 8]) and not artifacts.is_image([6998])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    rd = tmp_path_factory.mktemp("records")
    cmd = [sys.executable, "-m", "aebench.cli", "run", "-m", "vae,pca", "-p", "digits-v2"]
    cmd += ["--seeds", "0,1", "--budget", "256", "--threads", "1", "--quiet"]
    res = subprocess.run([*cmd, "--results-dir", str(rd)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return rd


def _arrays(rd, model, seed):
    (path,) = rd.rglob(f"{model}/seed-{seed}.json")
    return path, artifacts.of_record({**storage.read_record(path), "_path": str(path)})


def test_a_run_stores_statistics_for_every_seed_and_pictures_for_the_first(runs):
    _, first = _arrays(runs, "vae", 0)
    _, second = _arrays(runs, "vae", 1)
    assert {"recon_mse", "nll", "picture_inputs", "picture_recons", "samples", "codes"} <= set(
        first
    )
    assert {"recon_mse", "nll"} <= set(second)
    assert not set(artifacts.FIGURE_ONLY) & set(second)


def test_compact_drops_only_figure_arrays_and_keeps_the_record_readable(runs, tmp_path):
    path, before = _arrays(runs, "vae", 0)
    # a record made before the rule: figure arrays on a later seed
    later = path.with_name("seed-1.json")
    record = storage.read_record(later)
    extra = {**artifacts.of_record({**record, "_path": str(later)}), "codes": before["codes"]}
    record["arrays_sha256"] = artifacts.write(artifacts.sidecar(later), extra)
    storage.write_record(later, record)
    res = subprocess.run(
        [sys.executable, "-m", "aebench.artifacts", "compact", str(runs)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "compacted 1 record(s)" in res.stdout
    _, after = _arrays(runs, "vae", 1)  # the sha in the record matches the new file
    assert "codes" not in after
    np.testing.assert_array_equal(after["recon_mse"], extra["recon_mse"])
    np.testing.assert_array_equal(after["nll"], extra["nll"])
    _, first = _arrays(runs, "vae", 0)  # the first seed's figures are untouched
    np.testing.assert_array_equal(first["codes"], before["codes"])


def test_compact_refuses_a_missing_directory(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "aebench.artifacts", "compact", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "no such results directory" in res.stdout
