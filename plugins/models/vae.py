"""Variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes", ICLR),
with the importance-weighted bound of Burda, Grosse & Salakhutdinov 2016 ("Importance Weighted
Autoencoders", ICLR) as its likelihood estimate.

As in the lecture notes: a Gaussian MLP encoder ``h = relu(x W + b)``, ``μ, log σ² = h W' + b'``
(one linear head holding both, which is the notes' two heads side by side); a sample by the
reparameterisation ``z = μ + σ ⊙ ε``; the closed-form KL to ``N(0, I)`` (notes 000, eq. 14);
an MLP decoder ``z -> relu -> output``. Training minimises the mean negative ELBO (nats/example).

Decoders (``VAEConfig.decoder``):

- ``"bernoulli"`` (default): the output is the pixels' logits; ``-log p(x|z)`` is the binary
  cross-entropy with logits summed over pixels. The model trains on dynamically binarised data
  (``capabilities.binary``) and ``decode`` returns ``sigmoid(logits)``.
- ``"gaussian"``: the output is the mean (linear, as in the notes), ``p(x|z) = N(mean, diag σ²)``
  with σ² either ``"learned"`` (one free variance per pixel, independent of z, kept above
  ``min_variance`` so pixels that never vary cannot drive the density to infinity) or
  ``"fixed"`` (``variance``). The notes' decoder has a z-dependent log σ² head instead; a
  variance shared across z is the stabler usual choice, and a floor is needed either way. It
  is for continuous data: its likelihoods are densities, not comparable with discrete ones.
  ``capabilities`` is a class attribute and advertises the Bernoulli decoder (``binary=True``,
  ``likelihood="bound"``); :meth:`VAE.capabilities_for` gives the honest flags per config,
  for a harness that asks per config.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aebench import Capabilities, DataSpec, FitContext, LikelihoodEstimate, TorchModel, hookimpl
from aebench.model import EvalContext
from aebench.nn import mlp
from aebench.tuning import Float

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig:
    decoder: str = "bernoulli"  # "bernoulli" | "gaussian"
    #: Gaussian decoder only: "learned" (per-pixel, ≥ min_variance) or "fixed" (= variance)
    gaussian_variance: str = "learned"
    variance: float = 1.0
    min_variance: float = 1e-3
    #: ε draws per example for ``anomaly_score``'s -ELBO (fixed seed, so scores are repeatable)
    score_samples: int = 8
    #: decoder rows (examples × importance samples) evaluated at once by the estimators
    eval_rows: int = 16384
    lr: float | None = None  # None: the protocol's learning rate

    def __post_init__(self) -> None:
        if self.decoder not in ("bernoulli", "gaussian"):
            raise ValueError("decoder must be 'bernoulli' or 'gaussian'")
        if self.gaussian_variance not in ("learned", "fixed"):
            raise ValueError("gaussian_variance must be 'learned' or 'fixed'")

    @classmethod
    def tiny(cls) -> VAEConfig:
        return cls(score_samples=2, eval_rows=4096)


#: what ``aebench tune`` searches (validation data only); the decoder stays Bernoulli, since a
#: Gaussian one changes what the likelihood column means
SEARCH_SPACE = {"lr": Float(1e-4, 1e-2, log=True)}


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) per row: ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) (notes eq. 14)."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(-1)


class VAE(TorchModel):
    """Gaussian-encoder VAE; Bernoulli (default) or Gaussian decoder; IWAE likelihood."""

    capabilities = Capabilities(
        inputs=("vector", "image", "sequence"),
        likelihood="bound",
        binary=True,
        stochastic=True,
        generative=True,
    )

    @classmethod
    def capabilities_for(cls, config: VAEConfig) -> Capabilities:
        """The flags that hold for ``config``: a Gaussian decoder is a density on raw data."""
        if config.decoder == "bernoulli":
            return cls.capabilities
        return Capabilities(
            inputs=cls.capabilities.inputs, likelihood="density", stochastic=True, generative=True
        )

    def __init__(self, spec: DataSpec, code_size: int, config: VAEConfig) -> None:
        super().__init__(spec, code_size, config)
        d, h, j = spec.dim, spec.hidden_size, code_size
        self.encoder = mlp([d, h, 2 * j])  # -> [μ | log σ²]
        self.decoder = mlp([j, h, d])  # -> logits (Bernoulli) or means (Gaussian)
        self.bernoulli = config.decoder == "bernoulli"
        self.raw_var: nn.Parameter | None = None
        if not self.bernoulli:
            if config.gaussian_variance == "learned":
                # var = min_variance + exp(raw): starts at 1 + min_variance, never below the floor
                self.raw_var = nn.Parameter(torch.zeros(d))
            else:
                self.register_buffer("fixed_logvar", torch.full((d,), math.log(config.variance)))
        self._noise: torch.Generator | None = None  # the run's generator, set by fit
        self._fitted = False

    # -- the parts ------------------------------------------------------------------------------
    def _posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def _decoder_logvar(self) -> Tensor:
        if self.raw_var is not None:
            floor = math.log(self.config.min_variance)
            return torch.logaddexp(self.raw_var, torch.full_like(self.raw_var, floor))
        return self.fixed_logvar

    def _nll_x_given_z(self, out: Tensor, x: Tensor) -> Tensor:
        """-log p(x|z) per row, summed over features; ``out`` is the decoder's raw output."""
        if self.bernoulli:
            # BCE(l, x) = softplus(l) − x·l. Summed per row, x·l is a batched dot product over
            # (samples, examples): about twice as fast as the element-wise BCE in the estimators.
            n, d = x.shape
            dot = torch.einsum("kbd,bd->kb", out.reshape(-1, n, d), x).reshape(out.shape[:-1])
            return F.softplus(out).sum(-1) - dot
        logvar = self._decoder_logvar()
        return 0.5 * (((x - out) ** 2) * torch.exp(-logvar) + logvar + _LOG_2PI).sum(-1)

    def _randn(self, shape: tuple[int, ...], like: Tensor, g: torch.Generator | None) -> Tensor:
        return torch.randn(shape, generator=g, device=like.device, dtype=like.dtype)

    # -- training -------------------------------------------------------------------------------
    def fit(self, train: Tensor, ctx: FitContext) -> None:
        if not self._fitted:
            # Start the decoder at the data's marginal (output bias = logit of the pixel means,
            # as in Burda et al.'s IWAE code), not at p = 0.5 everywhere: training starts past
            # the phase where the decoder only learns the mean image.
            mean = train.mean(0)
            with torch.no_grad():
                bias = self.decoder[-1].bias
                bias.copy_(torch.logit(mean.clamp(1e-3, 1 - 1e-3)) if self.bernoulli else mean)
            self._fitted = True
        # loss() gets no context: the reparameterisation noise comes from the run's generator.
        self._noise = ctx.generator
        try:
            super().fit(train, ctx)
        finally:
            self._noise = None

    def loss(self, batch: Tensor) -> Tensor:
        """Mean negative ELBO (nats per example): 1-sample reconstruction + closed-form KL."""
        mu, logvar = self._posterior(batch)
        std = torch.exp(0.5 * logvar)
        z = torch.addcmul(mu, std, self._randn(mu.shape, mu, self._noise))
        out = self.decoder(z)
        if self.bernoulli:
            rec = F.binary_cross_entropy_with_logits(out, batch, reduction="sum")
        else:
            rec = self._nll_x_given_z(out, batch).sum()
        # Σ_rows ½ Σ_j (μ² + σ² − log σ²) − ½ J N, i.e. eq. 14 summed over the batch in one pass
        kl = 0.5 * (mu * mu + std * std - logvar).sum() - 0.5 * mu.numel()
        return (rec + kl) / batch.shape[0]

    # -- the model contract ---------------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        return self._posterior(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.bernoulli else out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        p = next(self.parameters())
        return self.decode(torch.randn((n, self.code_size), generator=generator, device=p.device))

    @torch.no_grad()
    def anomaly_score(self, x: Tensor) -> Tensor:
        """-ELBO per example: closed-form KL + reconstruction averaged over ``score_samples``
        draws from a generator with a fixed seed, so the score of an input never changes."""
        g = torch.Generator(device=x.device).manual_seed(0)
        rec, kl = self._neg_elbo(x, g, self.config.score_samples)
        return rec + kl

    @torch.no_grad()
    def likelihood(self, x: Tensor, ctx: EvalContext) -> dict[str, LikelihoodEstimate]:
        """IWAE-k NLL on the first ``ctx.iwae_examples`` examples (headline) and -ELBO on all.

        Both are (stochastic estimates of) upper bounds on the NLL, hence kind ``bound``. The
        IWAE tensor has one entry per example evaluated, which is fewer than ``len(x)`` when
        ``ctx.iwae_examples`` is set. The -ELBO uses the closed-form KL and a 1-sample
        reconstruction term drawn with ``ctx.generator``.
        """
        kind = "bound" if self.bernoulli else "density"
        n = x.shape[0] if ctx.iwae_examples is None else min(ctx.iwae_examples, x.shape[0])
        k = int(ctx.iwae_k)
        nll, ess = self._iwae(x[:n], k, ctx.generator, ctx.batch_size)
        info = {"k": k, "examples": n, "mean_ess_fraction": float(ess.mean()) / k}
        iwae = LikelihoodEstimate(nll.float(), kind, f"IWAE k={k}", info)
        rec, kl = self._neg_elbo(x, ctx.generator, 1)
        elbo = LikelihoodEstimate(
            rec + kl,
            kind,
            "-ELBO",
            {"samples": 1, "kl": "closed form"},
            parts={"reconstruction": rec, "kl": kl},
        )
        return {"iwae": iwae, "elbo": elbo}

    # -- estimators -----------------------------------------------------------------------------
    def _chunks(self, n: int, size: int) -> Iterator[slice]:
        for i in range(0, n, max(1, size)):
            yield slice(i, min(i + size, n))

    def _neg_elbo(self, x: Tensor, g: torch.Generator, samples: int) -> tuple[Tensor, Tensor]:
        """(−E_q log p(x|z), KL) per example; the expectation over ``samples`` draws."""
        recs, kls = [], []
        for sl in self._chunks(x.shape[0], max(1, self.config.eval_rows // samples)):
            xb = x[sl]
            mu, logvar = self._posterior(xb)
            eps = self._randn((samples, *mu.shape), mu, g)
            z = mu + torch.exp(0.5 * logvar) * eps
            recs.append(self._nll_x_given_z(self.decoder(z), xb).mean(0))
            kls.append(gaussian_kl(mu, logvar))
        return torch.cat(recs), torch.cat(kls)

    def _iwae(self, x: Tensor, k: int, g: torch.Generator, batch: int) -> tuple[Tensor, Tensor]:
        """−log (1/k Σ_i p(x, z_i) / q(z_i|x)), z_i ~ q(z|x), per example (float64), and the
        effective sample size (Σw)² / Σw² of the importance weights.

        Examples go in batches of ``batch`` and the k draws in chunks that keep
        (chunk × batch) decoder rows ≤ ``eval_rows``; log-weights are reduced with a running
        logsumexp in float64 so that no (k × N) tensor is ever held.
        """
        nlls, esss = [], []
        for sl in self._chunks(x.shape[0], batch):
            xb = x[sl]
            mu, logvar = self._posterior(xb)
            std = torch.exp(0.5 * logvar)
            lse1 = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
            lse2 = lse1.clone()
            step = max(1, self.config.eval_rows // xb.shape[0])
            for ks in self._chunks(k, step):
                eps = self._randn((ks.stop - ks.start, *mu.shape), mu, g)
                z = mu + std * eps
                # log p(z) − log q(z|x): the ½ log 2π terms cancel, and (z−μ)/σ = ε exactly.
                log_pz_qz = 0.5 * (eps * eps - z * z + logvar).sum(-1)
                logw = (log_pz_qz - self._nll_x_given_z(self.decoder(z), xb)).double()
                lse1 = torch.logaddexp(lse1, torch.logsumexp(logw, 0))
                lse2 = torch.logaddexp(lse2, torch.logsumexp(2 * logw, 0))
            nlls.append(math.log(k) - lse1)
            esss.append(torch.exp(2 * lse1 - lse2))
        return torch.cat(nlls), torch.cat(esss)


@hookimpl
def aebench_register_models(register):
    register(
        "vae",
        VAE,
        config=VAEConfig,
        description="Variational autoencoder (Kingma & Welling 2014), IWAE likelihood",
        tags=("generative", "probabilistic"),
        search_space=SEARCH_SPACE,
    )
