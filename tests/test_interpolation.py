"""Latent interpolations (lecture 003): the stored paths against an independent computation, and
`aebench plot` / the site drawing them for every model with a decoder (in-process CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_cli

from aebench.records import artifacts


class _Linear:
    """encode z = x A, decode x̂ = z B: decoding a straight line between codes is the straight
    line between the two reconstructions, which numpy computes without the model."""

    def __init__(self, d: int, k: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.a = torch.randn(d, k, generator=g) * 0.3
        self.b = torch.randn(k, d, generator=g) * 0.3

    def encode(self, x):
        return x @ self.a

    def decode(self, z):
        return z @ self.b + 0.5


def test_paths_are_decoded_straight_lines_between_test_pair_codes():
    x = torch.rand(11, 16, generator=torch.Generator().manual_seed(1))
    model = _Linear(16, 3)
    out = artifacts.interpolations(model, x)
    assert out.dtype == torch.uint8
    assert out.shape == (artifacts.N_PAIRS, artifacts.N_STEPS, 16)
    xn, a, b = x.double().numpy(), model.a.double().numpy(), model.b.double().numpy()
    recon = xn @ a @ b + 0.5
    t = np.linspace(0, 1, artifacts.N_STEPS)[None, :, None]
    want = (1 - t) * recon[0:8:2, None] + t * recon[1:8:2, None]
    want = np.round(np.clip(want, 0, 1) * 255)
    assert np.abs(out.numpy().astype(float) - want).max() <= 1  # float32 vs float64 rounding
    # the ends are the pairs' reconstructions
    ends = np.round(np.clip(recon[:8], 0, 1) * 255)
    assert np.abs(out[:, 0].numpy() - ends[0::2]).max() <= 1
    assert np.abs(out[:, -1].numpy() - ends[1::2]).max() <= 1


def test_too_few_examples_or_no_code_store_nothing():
    assert artifacts.interpolations(_Linear(4, 2), torch.rand(1, 4)) is None
    assert artifacts.interpolations(_Linear(4, 0), torch.rand(6, 4)) is None


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """pca (a decoder) and mean (an empty code) on digits (offline), one seed."""
    rd = tmp_path_factory.mktemp("runs")
    res = run_cli(
        "run", "-m", "pca,mean", "-p", "digits-v2", "--seeds", "0", "--budget", "2000",
        "--threads", "1", "-q", "--results-dir", str(rd),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return rd


def test_plot_draws_interpolations_for_every_model_with_a_decoder(digits_runs, tmp_path):
    arrays = {}
    for npz in digits_runs.rglob("seed-0.npz"):
        arrays[npz.parent.name] = artifacts.read(npz)
    assert arrays["pca"]["interpolations"].shape == (4, 8, 64)
    assert arrays["pca"]["interpolations"].dtype == np.uint8
    assert "interpolations" not in arrays["mean"]  # an empty code has no path
    res = run_cli("plot", "--results-dir", str(digits_runs), "--out-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    made = sorted(
        p.name.rsplit("_interpolation_", 1)[1] for p in tmp_path.glob("*_interpolation_*")
    )
    assert made == ["pca.png"]


def test_site_shows_a_models_interpolations_on_its_page(digits_runs, tmp_path):
    out, site = tmp_path / "published", tmp_path / "site"
    res = run_cli(
        "publish", "--results-dir", str(digits_runs), "--out-dir", str(out), "--site", str(site)
    )
    assert res.returncode == 0, res.stderr
    pages = {p.stem: p.read_text() for p in site.rglob("*.html")}
    assert "Interpolations" in pages["pca"] and "_interpolation_pca.png" in pages["pca"]
    assert "Interpolations" not in pages["mean"]
