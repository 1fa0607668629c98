"""PCA baseline: the optimal linear autoencoder, fitted exactly, with its PPCA likelihood.

Encoder and decoder are the top-k eigenvectors of the training covariance (computed exactly
in float64 by a symmetric eigendecomposition). The likelihood column is probabilistic PCA
(Tipping & Bishop 1999, "Probabilistic principal component analysis", JRSS-B): the maximum-
likelihood Gaussian with covariance W Wᵀ + σ²I, σ² the mean of the discarded eigenvalues.
It is a continuous density, so its "NLL" is not comparable with Bernoulli likelihoods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, LikelihoodEstimate, Model, hookimpl


@dataclass(frozen=True)
class PCAConfig:
    whiten: bool = False

    @classmethod
    def tiny(cls) -> PCAConfig:
        return cls()


class PCA(Model):
    """PCA (exact eigendecomposition) with a probabilistic-PCA likelihood."""

    capabilities = Capabilities(inputs=("vector", "image", "sequence"), likelihood="density")

    def __init__(self, spec: DataSpec, code_size: int, config: PCAConfig) -> None:
        super().__init__(spec, code_size, config)
        self.k = min(code_size, spec.dim)
        self.mean: Tensor | None = None
        self.components: Tensor | None = None  # (D, k), orthonormal columns
        self.eigvals: Tensor | None = None  # (k,) retained variances
        self.noise_var = 0.0

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        x = train.double()
        n, d = x.shape
        mean = x.mean(0)
        xc = x - mean
        cov = (xc.T @ xc) / n  # the MLE covariance, as in Tipping & Bishop
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        evals, evecs = evals.flip(0).clamp_min(0.0), evecs.flip(1)
        k = self.k
        # Fix the sign of each eigenvector (largest |entry| positive) so runs are reproducible.
        signs = torch.sign(evecs[evecs.abs().argmax(0), torch.arange(d, device=x.device)])
        evecs = evecs * torch.where(signs == 0, torch.ones_like(signs), signs)
        self.mean = mean.float()
        self.components = evecs[:, :k].float().contiguous()
        self.eigvals = evals[:k].float()
        rest = evals[k:]
        floor = 1e-6  # pixels that never vary would make σ² = 0 and the density degenerate
        self.noise_var = max(float(rest.mean()) if rest.numel() else floor, floor)
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
