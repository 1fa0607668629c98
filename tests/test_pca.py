"""PCA against scikit-learn's full SVD, and its PPCA likelihood against a dense Gaussian density,
for every way the fit can be solved (``choose_method``: covariance or Gram side, dense or sparse
form, LAPACK or Lanczos) and for the choice itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA as SkPCA

from aebench import DataSpec, FitContext
from aebench_plugins.models import pca as pca_module
from aebench_plugins.models.pca import PCA, PCAConfig, choose_method


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


# -- which eigenproblem runs ------------------------------------------------------------------

METHODS = [
    ("covariance", "dense", "eigh"),
    ("covariance", "dense", "lanczos"),
    ("covariance", "sparse", "lanczos"),
    ("gram", "dense", "eigh"),
    ("gram", "dense", "lanczos"),
    ("gram", "sparse", "lanczos"),
]


@pytest.mark.parametrize(
    ("n", "d", "k", "density", "expected"),
    [
        (9_000, 667, 32, 0.22, ("covariance", "dense", "lanczos")),  # mnist-v1's varying pixels
        (3_038, 6_972, 32, 0.012, ("gram", "sparse", "lanczos")),  # sms-spam-v3
        (3_038, 6_972, 32, 0.5, ("gram", "dense", "lanczos")),  # the same shape, dense
        (1_200, 64, 16, 0.5, ("covariance", "dense", "eigh")),  # digits
        (100, 500, 8, 0.01, ("gram", "dense", "eigh")),  # few examples: small Gram matrix
        (50, 600, 60, 0.5, ("covariance", "dense", "lanczos")),  # k ≥ n: no k Gram axes
        (20_000, 2_000, 32, 0.01, ("covariance", "sparse", "lanczos")),
        (3_038, 6_972, 800, 0.012, ("gram", "dense", "eigh")),  # k too close to m for Lanczos
    ],
)
def test_choose_method_by_shape(n, d, k, density, expected):
    assert choose_method(n, d, k, density) == expected


def _sparse_binary(n: int, d: int, seed: int) -> np.ndarray:
    """Bag-of-words-like data: rare words, a few topics that switch sets of words on (so the
    spectrum decays), and three words that never occur (constant features)."""
    rng = np.random.default_rng(seed)
    topics = (rng.random((n, 5)) < 0.3).astype(float)
    words = np.where(rng.random((5, d)) < 0.15, 0.6 * rng.random((5, d)), 0.0)
    p = np.clip(0.05 * rng.random(d) ** 2 + topics @ words, 0.0, 1.0)
    x = (rng.random((n, d)) < p).astype(np.float32)
    x[:, [0, d // 2, d - 1]] = 0.0
    return x


@pytest.fixture(params=["covariance", "gram"])
def regime(request):
    """(train, test, k): n > D for the covariance side, n < D for the Gram side."""
    n, d = (600, 150) if request.param == "covariance" else (150, 600)
    x = _sparse_binary(n + 200, d, seed=1)
    return request.param, x[:n], x[n:], 12


def _forced(monkeypatch, method):
    monkeypatch.setattr(pca_module, "choose_method", lambda *args: method)


def _exact(train: np.ndarray, k: int):
    """The reference: scikit-learn's full SVD in float64, its eigenvalues rescaled to the MLE
    covariance (1/n) that PPCA uses."""
    sk = SkPCA(n_components=k, svd_solver="full").fit(train.astype(np.float64))
    n = len(train)
    xc = train.astype(np.float64) - train.mean(0, dtype=np.float64)
    lam = np.linalg.svd(xc, compute_uv=False) ** 2 / n
    return sk, lam


@pytest.mark.parametrize("method", METHODS, ids="-".join)
def test_each_method_reconstructs_as_a_full_svd(monkeypatch, regime, method):
    side, train, test, k = regime
    _forced(monkeypatch, (side, *method[1:]))
    ours = _fit(train, k)
    assert ours.method == (side, *method[1:])
    sk, lam = _exact(train, k)
    for x in (train, test):
        with torch.no_grad():
            rec = ours.reconstruct(torch.from_numpy(x)).double().numpy()
        sk_rec = sk.inverse_transform(sk.transform(x.astype(np.float64)))
        assert ((rec - x) ** 2).mean() == pytest.approx(((sk_rec - x) ** 2).mean(), rel=1e-5)
    assert np.allclose(ours.eigvals.double().numpy(), lam[:k], rtol=1e-6)
    d = train.shape[1]
    assert ours.noise_var == pytest.approx(lam[k:].sum() / (d - k), rel=1e-6)
    v = ours.components.double().numpy()
    assert np.allclose(v.T @ v, np.eye(k), atol=1e-5)
    assert not v[[0, d // 2, d - 1]].any()  # features that never vary load on nothing


def _dense_ppca_nll(train: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    """Tipping & Bishop's ML solution from a full SVD, as one dense Gaussian."""
    t = train.astype(np.float64)
    n, d = t.shape
    mu = t.mean(0)
    _, s, vt = np.linalg.svd(t - mu, full_matrices=False)
    lam = np.concatenate([s**2 / n, np.zeros(d - len(s))])
    s2 = lam[k:].mean()
    w = vt[:k].T * np.sqrt(lam[:k] - s2)
    return -multivariate_normal(mean=mu, cov=w @ w.T + s2 * np.eye(d)).logpdf(x)


@pytest.mark.parametrize("method", METHODS, ids="-".join)
def test_each_method_gives_the_ppca_likelihood_of_a_full_svd(monkeypatch, regime, method):
    side, train, test, k = regime
    _forced(monkeypatch, (side, *method[1:]))
    ours = _fit(train, k)
    est = ours.likelihood(torch.from_numpy(test), None)["ppca"]
    assert np.allclose(est.nll.double().numpy(), _dense_ppca_nll(train, k, test), rtol=1e-5)
    assert est.kind == "density" and est.info == {"noise_variance": ours.noise_var, "components": k}


@pytest.mark.parametrize("side", ["covariance", "gram"])
def test_sparse_operator_is_the_centred_matrix(side):
    """The sparse form never builds X_c; applied to the identity it must give X_cᵀX_c / n or
    X_c X_cᵀ / n exactly (Lanczos would still find some eigenpairs of a wrong operator)."""
    x = _sparse_binary(40, 70, seed=4)
    mean = x.mean(0, dtype=np.float64)
    xc = x - mean
    op = pca_module._centred_operator(pca_module._csr(x), mean, side)
    expected = (xc.T @ xc if side == "covariance" else xc @ xc.T) / len(x)
    assert np.allclose(op @ np.eye(len(expected)), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((400, 120), ("covariance", "dense", "eigh")), ((120, 400), ("gram", "dense", "eigh"))],
)
def test_fit_solves_on_the_side_its_shape_chooses(shape, expected):
    """Without forcing: n > D fits the covariance, n < D the Gram matrix, and both still give
    the full SVD's reconstruction error."""
    x = _sparse_binary(*shape, seed=2)
    ours = _fit(x, 8)
    assert ours.method == expected
    with torch.no_grad():
        rec = ours.reconstruct(torch.from_numpy(x)).double().numpy()
    sk, _ = _exact(x, 8)
    sk_rec = sk.inverse_transform(sk.transform(x.astype(np.float64)))
    assert ((rec - x) ** 2).mean() == pytest.approx(((sk_rec - x) ** 2).mean(), rel=1e-5)


@pytest.mark.parametrize("method", [m for m in METHODS if m[0] == "gram"], ids="-".join)
def test_gram_side_hands_over_when_the_data_have_rank_below_k(monkeypatch, method):
    """60 examples that are 6 distinct rows (rank 5 once centred) cannot give 10 Gram axes:
    the covariance side runs, and the components stay orthonormal."""
    rows = _sparse_binary(6, 300, seed=3)
    rows[:, 1:6] = np.eye(6)[:, 1:]  # make the 6 rows affinely independent
    x = np.repeat(rows, 10, axis=0)
    _forced(monkeypatch, method)
    ours = _fit(x, 10)
    assert ours.method == ("covariance", *method[1:])
    v = ours.components.double().numpy()
    assert np.allclose(v.T @ v, np.eye(10), atol=1e-5)
    _, lam = _exact(x, 10)
    assert np.allclose(ours.eigvals.double().numpy(), lam[:10], rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        assert np.allclose(ours.reconstruct(torch.from_numpy(x)).numpy(), x, atol=1e-5)
