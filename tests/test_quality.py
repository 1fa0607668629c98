"""Quality on the real data in ``../shared/data`` (skipped where it is absent), run with
``pytest -m slow``: each check is a full ``aebench run`` in a subprocess, its stored record
compared with an independent computation or with the target an issue set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, run_cli

from aebench.dataset import carve_validation
from aebench_plugins.datasets.mnist import MNIST, MNIST_V1

pytestmark = pytest.mark.slow


def aebench_run(tmp_path: Path, *args: str) -> None:
    done = run_cli(
        "run",
        "--data-dir",
        str(SHARED_DATA),
        "--no-download",
        "--results-dir",
        str(tmp_path),
        "--threads",
        "1",
        "--quiet",
        *args,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def record(tmp_path: Path, protocol: str, dataset: str, model: str, seed: int = 0) -> dict:
    r = json.loads((tmp_path / protocol / dataset / model / f"seed-{seed}.json").read_text())
    assert r["status"] == "ok", r.get("reason")
    return r


@pytest.mark.skipif(not (SHARED_DATA / "sms-spam").is_dir(), reason="no shared SMS data")
def test_sms_spam_v3_meets_the_anomaly_goal(tmp_path):
    """The goal of the anomaly issue, ham-only training: AUROC > 0.97 and F1 > 0.75 at the
    label-free threshold (checked here on one seed of a learned model)."""
    aebench_run(tmp_path, "-p", "sms-spam-v3", "-m", "denoising_ae", "--seeds", "0")
    m = record(tmp_path, "sms-spam-v3", "sms-spam", "denoising_ae")["metrics"]
    assert m["anomaly.auroc"] > 0.97 and m["anomaly.f1"] > 0.75, m


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="no shared MNIST data")
def test_mnist_pca_error_equals_scikit_learns(tmp_path):
    """aebench's PCA on mnist-v1 against scikit-learn's PCA fitted on the same fit slice."""
    from sklearn.decomposition import PCA

    aebench_run(tmp_path, "-p", "mnist-v1", "-m", "pca", "--seeds", "0")
    ours = record(tmp_path, "mnist-v1", "mnist", "pca")["metrics"]["recon_mse"]
    s = MNIST().load(MNIST_V1, SHARED_DATA, download=False)
    train = s.train_x.reshape(len(s.train_x), -1).double()
    test = s.test_x.reshape(len(s.test_x), -1)
    fit, _ = carve_validation(len(train), MNIST_V1.val_fraction, MNIST_V1.split_seed)
    pca = PCA(MNIST_V1.code_size, svd_solver="full").fit(train[fit].numpy())
    x = test.double().numpy()
    theirs = float(np.mean((pca.inverse_transform(pca.transform(x)) - x) ** 2))
    assert ours == pytest.approx(theirs, rel=1e-3)


def test_published_digits_board_reproduces_with_todays_code():
    """results/regenerate.sh --check: digits-v1 seed 0, every model, every non-timing metric
    equal to the published record (exactly on the CPU kind that made it; on another kind, bit
    for bit or within the tolerance measured for the model in results/reproducibility.json;
    see aebench.execute.reproduce)."""
    done = run_cli("reproduce", "-p", "digits-v1", "--seeds", "0", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok   ") >= 7, done.stdout
