"""PCA against scikit-learn, and its PPCA likelihood against a dense Gaussian density."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA as SkPCA

from aebench import DataSpec, FitContext
from aebench_plugins.models.pca import PCA, PCAConfig


def _fit(x: np.ndarray, k: int) -> PCA:
    spec = DataSpec(dim=x.shape[1], shape=(x.shape[1],), kind="vector")
    model = PCA(spec, k, PCAConfig())
    ctx = FitContext(
        budget_samples=1,
        batch_size=1,
        lr=0.0,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator(),
        binarize=False,
    )
    model.fit(torch.from_numpy(x).float(), ctx)
    return model


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = (load_digits().data / 16.0).astype(np.float32)
    return x[:1200], x[1200:]


@pytest.mark.parametrize("k", [2, 8, 16])
def test_reconstruction_error_matches_sklearn(digits, k):
    train, test = digits
    ours = _fit(train, k)
    with torch.no_grad():
        rec = ours.reconstruct(torch.from_numpy(test)).numpy()
    our_mse = float(((rec - test) ** 2).mean())
    sk = SkPCA(n_components=k, svd_solver="full").fit(train.astype(np.float64))
    sk_rec = sk.inverse_transform(sk.transform(test.astype(np.float64)))
    sk_mse = float(((sk_rec - test) ** 2).mean())
    assert our_mse == pytest.approx(sk_mse, rel=1e-5)


def test_components_span_the_same_subspace_as_sklearn(digits):
    train, _ = digits
    ours = _fit(train, 8).components.double().numpy()
    sk = SkPCA(n_components=8, svd_solver="full").fit(train.astype(np.float64)).components_.T
    # projectors onto the two subspaces agree
    assert np.allclose(ours @ ours.T, sk @ sk.T, atol=1e-4)


def test_ppca_likelihood_matches_dense_gaussian():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 2))
    x = rng.normal(size=(400, 2)) @ w.T + 0.3 * rng.normal(size=(400, 6)) + 1.0
    model = _fit(x.astype(np.float32), 2)
    est = model.likelihood(torch.from_numpy(x[:50]).float(), None)["ppca"]
    # Independent computation: the Tipping–Bishop ML solution written out densely.
    mu = x.mean(0)
    cov = np.cov(x.T, bias=True)
    lam, u = np.linalg.eigh(cov)
    lam, u = lam[::-1], u[:, ::-1]
    s2 = lam[2:].mean()
    wml = u[:, :2] * np.sqrt(lam[:2] - s2)
    c = wml @ wml.T + s2 * np.eye(6)
    expected = -multivariate_normal(mean=mu, cov=c).logpdf(x[:50])
    assert np.allclose(est.nll.numpy(), expected, rtol=1e-4, atol=1e-3)
    assert est.kind == "density"
