"""PCA baseline: the optimal linear autoencoder, fitted exactly, with its PPCA likelihood.

Encoder and decoder are the top-k eigenvectors of the training covariance, computed in float64.
The likelihood column is probabilistic PCA (Tipping & Bishop 1999, "Probabilistic principal
component analysis", JRSS-B): the maximum-likelihood Gaussian with covariance W Wᵀ + σ²I, σ²
the mean of the discarded eigenvalues. It is a continuous density, so its "NLL" is not
comparable with Bernoulli likelihoods. σ² needs no full spectrum: the discarded variance is
the total variance (the covariance's trace) minus the k kept eigenvalues.

How the top k eigenpairs are found depends on the shape of the n × D fit split, because an
exact eigendecomposition costs the cube of its size (sms-spam-v3's D × D one took 50–95 s).
Features that never vary are left out first (zero variance, zero loading: 117 of mnist-v1's 784
pixels). Then ``choose_method`` picks three things:

- side. ``covariance`` when D ≤ n: the D × D matrix X_cᵀX_c / n (X_c the centred data); images
  (mnist-v1: 9,000 × 784) take it. ``gram`` when n < D: the n × n matrix X_c X_cᵀ / n, which has
  the same nonzero eigenvalues, component i being X_cᵀu_i / √(nλ_i); text (sms-spam-v3: 3,038 ×
  6,972) takes it. If k ≥ n, or a kept Gram eigenvalue is ~0 (data of rank below k), the Gram
  matrix cannot give k components and the covariance side runs instead. Let m be the side's size.
- form. ``dense``: the m × m matrix is formed from float64 X_c by one BLAS ``syrk``. ``sparse``
  when at most ``SPARSE_MAX`` of the entries are nonzero (bags of words), m > ``DENSE_MAX`` and
  4k < m: neither X_c nor the m × m matrix is formed; the centred matrix is applied through two
  sparse products (forming sms-spam-v3's Gram matrix alone would take longer than its fit).
- solver. ``lanczos`` when 4k < m and m ≥ ``LANCZOS_MIN`` (always for the sparse form): ARPACK's
  implicitly restarted Lanczos (``eigsh``), tolerance 0 (machine precision) and a fixed start
  vector. Its eigenvalues agree with LAPACK's to ~1e-15 relative on both data sets' matrices.
  Otherwise ``eigh``: LAPACK ``syevr``, exactly, computing only the top k pairs.

``tests/test_pca.py`` checks each combination against a full SVD. The thresholds are speed
settings, not chosen on any metric, and change results only at rounding level (the sms-spam-v3
and mnist-v1 records' σ² agree with the D × D solve's to 1e-13). Timed on one core: LAPACK's
top-32 solve beats Lanczos at m = 200 and 400 (12 and 44 ms vs 18 and 59 ms on random Wishart
spectra) and loses on mnist-v1's 667 × 667 covariance (0.13 s vs 0.055 s), hence
``LANCZOS_MIN``; a dense m × m matrix with m ≤ ``DENSE_MAX`` forms in under a second at these
n; ``SPARSE_MAX`` is a cost estimate (a few hundred Lanczos steps of two sparse products
against forming the matrix, n·D·m multiply-adds), not tuned: on sms-spam-v3 (1.2 % nonzero)
forming the Gram matrix takes 2.8 s sparse and 10 s dense, the whole sparse fit under 1 s.
Speed against scikit-learn: ``tests/benchmarks/test_pca_speed.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import eigh
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, LikelihoodEstimate, Model, hookimpl

DENSE_MAX = 1000  # m = min(n, D) up to which the m × m matrix is always formed
SPARSE_MAX = 0.05  # fraction of nonzero entries up to which data count as sparse
LANCZOS_MIN = 500  # m below which LAPACK's exact solve is faster than Lanczos
RANK_TOL = 1e-10  # a Gram eigenvalue below this × the largest has no reliable component


@dataclass(frozen=True)
class PCAConfig:
    whiten: bool = False

    @classmethod
    def tiny(cls) -> PCAConfig:
        return cls()


def choose_method(n: int, d: int, k: int, density: float) -> tuple[str, str, str]:
    """(side, form, solver) for k components of an n × d fit split (d: the features that vary)
    with this fraction of nonzero entries; see the module docstring."""
    side = "gram" if n < d and k < n else "covariance"
    m = n if side == "gram" else d
    few = 4 * k < m  # Lanczos needs k well below m
    form = "sparse" if density <= SPARSE_MAX and m > DENSE_MAX and few else "dense"
    solver = "lanczos" if few and (form == "sparse" or m >= LANCZOS_MIN) else "eigh"
    return side, form, solver


def top_components(x: np.ndarray, mean: np.ndarray, k: int, side: str, form: str, solver: str):
    """Top-k covariance eigenvalues (descending), their eigenvectors (D × k), the total
    variance of ``x`` (n × D, column means ``mean``), all float64, and the (side, form, solver)
    that gave them: the ones asked for, or the covariance side's if the Gram side could not."""
    n, d = x.shape
    m = n if side == "gram" else d
    if form == "sparse":
        xs = _csr(x)
        total = float(xs.data @ xs.data) / n - float(mean @ mean)
        vals, vecs = _lanczos(_centred_operator(xs, mean, side), k)
        if side == "gram":  # X_cᵀu = Xᵀu: u ⊥ 1, the centred Gram matrix's null vector
            vecs = xs.T @ vecs
    else:
        xc = np.subtract(x, mean, dtype=np.float64)
        total = float(np.dot(xc.ravel(), xc.ravel())) / n
        a = (xc @ xc.T if side == "gram" else xc.T @ xc) / n  # numpy calls syrk for Aᵀ A
        if solver == "lanczos":
            vals, vecs = _lanczos(a, k)
        else:
            vals, vecs = eigh(a, subset_by_index=[m - k, m - 1], driver="evr")
        if side == "gram":
            vecs = xc.T @ vecs
    vals, vecs = vals[::-1].clip(min=0.0), vecs[:, ::-1]
    if side == "gram":
        if vals[-1] <= RANK_TOL * vals[0]:  # rank below k: the Gram side cannot give k axes
            return top_components(x, mean, k, "covariance", form, solver)
        vecs = vecs / np.sqrt(n * vals)
    return vals, vecs, total, (side, form, solver)


def _csr(x: np.ndarray) -> sp.csr_array:
    """Float64 CSR copy of dense ``x``, built from flat indices (2-D ``nonzero`` is ~5× slower)."""
    n, d = x.shape
    mask = x != 0
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(mask.sum(1), out=indptr[1:])
    flat = np.flatnonzero(mask)
    return sp.csr_array((x.ravel()[flat].astype(np.float64), flat % d, indptr), shape=(n, d))


def _centred_operator(xs: sp.csr_array, mean: np.ndarray, side: str) -> LinearOperator:
    """X_cᵀX_c / n (covariance) or X_c X_cᵀ / n (gram) as products with sparse X, where
    X_c = X - 1μᵀ is never formed (it would be dense)."""
    n, d = xs.shape
    xt = xs.T.tocsr()

    def gram(v: np.ndarray) -> np.ndarray:
        t = xt @ v - mean * v.sum()
        return (xs @ t - mean @ t) / n

    def covariance(v: np.ndarray) -> np.ndarray:
        return xt @ (xs @ v - mean @ v) / n  # X_cᵀ = Xᵀ on X_c v, whose entries sum to 0

    m = n if side == "gram" else d
    matvec = gram if side == "gram" else covariance
    return LinearOperator((m, m), matvec=lambda v: matvec(v.ravel()), dtype=np.float64)


def _lanczos(a, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenpairs of symmetric ``a`` (matrix or operator), ascending as ``eigh`` gives
    them. Tolerance 0 is machine precision; a fixed start vector makes runs reproducible (not
    the all-ones vector: it is in the centred Gram matrix's null space)."""
    v0 = np.random.default_rng(0).standard_normal(a.shape[0])
    vals, vecs = eigsh(a, k=k, which="LA", tol=0.0, v0=v0)
    order = np.argsort(vals)
    return vals[order], vecs[:, order]


class PCA(Model):
    """PCA (top-k eigenpairs in float64, solved as the shape suits) with a PPCA likelihood."""

    capabilities = Capabilities(inputs=("vector", "image", "sequence"), likelihood="density")

    def __init__(self, spec: DataSpec, code_size: int, config: PCAConfig) -> None:
        super().__init__(spec, code_size, config)
        self.k = min(code_size, spec.dim)
        self.mean: Tensor | None = None
        self.components: Tensor | None = None  # (D, k), orthonormal columns
        self.eigvals: Tensor | None = None  # (k,) retained variances
        self.noise_var = 0.0
        self.method: tuple[str, str, str] | None = None  # (side, form, solver) of the last fit

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        x = train.detach().cpu()
        x = (x if x.dtype in (torch.float32, torch.float64) else x.float()).numpy()
        n, d = x.shape
        k = self.k
        # Features that never vary have zero variance and zero loading on every component with
        # a nonzero eigenvalue: leave them out of the solve (mnist-v1: 117 of 784 pixels).
        mean = x.mean(0, dtype=np.float64)
        varying = np.flatnonzero(x.max(0) != x.min(0))
        if not k <= len(varying) < d:
            varying = np.arange(d)
        xv = np.take(x, varying, axis=1) if len(varying) < d else x
        method = choose_method(n, xv.shape[1], k, np.count_nonzero(xv) / xv.size)
        evals, evecs, total, self.method = top_components(xv, mean[varying], k, *method)
        if len(varying) < d:
            full = np.zeros((d, k))
            full[varying] = evecs
            evecs = full
        # Fix the sign of each eigenvector (largest |entry| positive) so runs are reproducible.
        signs = np.sign(evecs[np.abs(evecs).argmax(0), np.arange(k)])
        evecs = evecs * np.where(signs == 0, 1.0, signs)
        dev = train.device
        self.mean = torch.from_numpy(mean).float().to(dev)
        self.components = torch.from_numpy(evecs).float().contiguous().to(dev)
        self.eigvals = torch.from_numpy(evals.copy()).float().to(dev)
        floor = 1e-6  # pixels that never vary would make σ² = 0 and the density degenerate
        rest = (total - float(evals.sum())) / (d - k) if d > k else floor
        self.noise_var = max(rest, floor)
        ctx.samples_seen, ctx.closed_form = n, True

    def encode(self, x: Tensor) -> Tensor:
        z = (x - self.mean) @ self.components
        if self.config.whiten:
            z = z / self.eigvals.clamp_min(1e-12).sqrt()
        return z

    def decode(self, z: Tensor) -> Tensor:
        if self.config.whiten:
            z = z * self.eigvals.clamp_min(1e-12).sqrt()
        return z @ self.components.T + self.mean

    def likelihood(self, x: Tensor, ctx) -> dict[str, LikelihoodEstimate]:
        d, k, s2 = self.spec.dim, self.k, self.noise_var
        lam = self.eigvals.double().clamp_min(s2)  # PPCA keeps only components above the noise
        xc = (x - self.mean).double()
        proj = xc @ self.components.double()
        # C⁻¹ = (I - U diag(1 - σ²/λ) Uᵀ) / σ²  and  log|C| = Σ log λ + (d - k) log σ².
        maha = ((xc * xc).sum(1) - (proj * proj * (1.0 - s2 / lam)).sum(1)) / s2
        logdet = torch.log(lam).sum() + (d - k) * math.log(s2)
        nll = 0.5 * (d * math.log(2 * math.pi) + logdet + maha)
        info = {"noise_variance": s2, "components": k}
        return {"ppca": LikelihoodEstimate(nll.float(), "density", "PPCA", info)}

    def to(self, device: torch.device) -> PCA:
        for name in ("mean", "components", "eigvals"):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.to(device))
        return self

    def parameter_count(self) -> int:
        return self.spec.dim * (self.k + 1)

    def state_dict(self) -> dict[str, Tensor]:
        return {
            "mean": self.mean,
            "components": self.components,
            "eigvals": self.eigvals,
            "noise_var": torch.tensor(self.noise_var),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.mean, self.components = state["mean"], state["components"]
        self.eigvals, self.noise_var = state["eigvals"], float(state["noise_var"])


@hookimpl
def aebench_register_models(register):
    register("pca", PCA, config=PCAConfig, tags=("baseline", "linear"))
