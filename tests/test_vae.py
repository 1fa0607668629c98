"""The VAE's math against independent computations: the closed-form KL against Monte Carlo,
the loss against torch.distributions, the IWAE bound's ordering in k, and the IWAE estimate
against the exact marginal likelihood of a linear-Gaussian model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from aebench.model import DataSpec, EvalContext, FitContext
from aebench_plugins.models.vae import VAE, VAEConfig, gaussian_kl

CONFIGS = {
    "bernoulli": VAEConfig.tiny(),
    "gaussian-learned": VAEConfig(decoder="gaussian", score_samples=2),
    "gaussian-fixed": VAEConfig(decoder="gaussian", gaussian_variance="fixed", variance=0.3),
}


def _spec(dim: int = 16, hidden: int = 12) -> DataSpec:
    return DataSpec(dim=dim, shape=(dim,), kind="vector", hidden_size=hidden, binary=True)


def _eval_ctx(k: int, seed: int = 0, examples: int | None = None, batch: int = 64) -> EvalContext:
    return EvalContext(
        generator=torch.Generator().manual_seed(seed),
        device=torch.device("cpu"),
        batch_size=batch,
        iwae_k=k,
        iwae_examples=examples,
        ais_chains=1,
        ais_betas=1,
        ais_runs=1,
    )


def _fit_ctx(seed: int, budget: int = 3000, binarize: bool = True) -> FitContext:
    return FitContext(
        budget_samples=budget,
        batch_size=32,
        lr=3e-3,
        optimizer="adam",
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(seed),
        binarize=binarize,
    )


def _binary_mixture(n: int, dim: int = 16, seed: int = 0) -> torch.Tensor:
    """Pixel intensities of a 4-prototype mixture: binarised, a multimodal posterior over z."""
    protos = torch.bernoulli(torch.full((4, dim), 0.5), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)  # which prototype each example shows
    return (protos * 0.8 + 0.1)[torch.randint(0, 4, (n,), generator=g)]


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 4, generator=g, dtype=torch.float64) * 1.5
    logvar = torch.randn(5, 4, generator=g, dtype=torch.float64)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    z = q.sample((200_000,))
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # (S, 5), independent of eq. 14
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    # The MC mean is Gaussian to excellent approximation at 200k draws: 5 standard errors is a
    # 1-in-1.7-million false alarm, while the standard errors here are ~0.005 nats.
    assert torch.all((gaussian_kl(mu, logvar) - mc).abs() < 5 * se)
    assert torch.all(se < 0.02)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_loss_matches_torch_distributions(name):
    torch.manual_seed(0)
    cfg = CONFIGS[name]
    m = VAE(_spec(), 3, cfg)
    x = torch.bernoulli(_binary_mixture(40))
    m._noise = torch.Generator().manual_seed(7)
    loss = m.loss(x)
    # The same ε (same seed, same shape), everything else by torch.distributions.
    mu, logvar = m.encoder(x).chunk(2, -1)
    std = (0.5 * logvar).exp()
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
    out = m.decoder(mu + std * eps)
    if cfg.decoder == "bernoulli":
        log_px = Bernoulli(logits=out).log_prob(x).sum(-1)
    else:
        var = (
            cfg.min_variance + m.raw_var.exp()
            if cfg.gaussian_variance == "learned"
            else torch.full_like(out, cfg.variance)
        )
        log_px = Normal(out, var.sqrt()).log_prob(x).sum(-1)
    kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(-1)
    expected = (kl - log_px).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_loss_finite_and_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    m = VAE(_spec(), 3, CONFIGS[name])
    loss = m.loss(torch.bernoulli(_binary_mixture(32)))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


def test_elbo_parts_and_shapes():
    torch.manual_seed(0)
    m = VAE(_spec(), 3, VAEConfig.tiny()).eval()
    x = torch.bernoulli(_binary_mixture(50))
    est = m.likelihood(x, _eval_ctx(k=20, examples=30))
    assert list(est) == ["iwae", "elbo"]  # the IWAE estimate is the headline
    iwae, elbo = est["iwae"], est["elbo"]
    assert iwae.nll.shape == (30,) and iwae.info["k"] == 20 and iwae.info["examples"] == 30
    assert elbo.nll.shape == (50,) and iwae.kind == elbo.kind == "bound"
    torch.testing.assert_close(elbo.nll, elbo.parts["reconstruction"] + elbo.parts["kl"])
    mu, logvar = m.encoder(x).chunk(2, -1)
    torch.testing.assert_close(elbo.parts["kl"], gaussian_kl(mu, logvar).detach())
    assert torch.all(elbo.parts["kl"] >= 0) and torch.all(elbo.parts["reconstruction"] > 0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_elbo_reconstruction_matches_torch_distributions(name):
    torch.manual_seed(0)
    cfg = CONFIGS[name]
    m = VAE(_spec(), 3, cfg).eval()
    with torch.no_grad():  # σ_z = e⁻¹⁵: every z drawn is μ up to ~1e-7
        m.encoder[-1].weight[3:].zero_()
        m.encoder[-1].bias[3:].fill_(-30.0)
    x = torch.bernoulli(_binary_mixture(40))
    rec = m.likelihood(x, _eval_ctx(k=2))["elbo"].parts["reconstruction"]
    out = m.decoder(m.encode(x)).detach()
    if cfg.decoder == "bernoulli":
        log_px = Bernoulli(logits=out).log_prob(x).sum(-1)
    else:
        var = cfg.min_variance + m.raw_var.exp() if m.raw_var is not None else cfg.variance
        log_px = Normal(out, torch.as_tensor(var).sqrt()).log_prob(x).sum(-1)
    torch.testing.assert_close(rec, -log_px.detach(), rtol=1e-5, atol=1e-4)


def test_iwae_bound_tightens_with_k():
    torch.manual_seed(0)
    m = VAE(_spec(), 4, VAEConfig(eval_rows=65536))  # few, large chunks: fast on a busy CPU
    m.fit(_binary_mixture(512), _fit_ctx(seed=0, budget=10_000))
    # Many examples, so the mean gaps stand far above their Monte-Carlo standard errors
    # (the smallest step, k=10 -> 100, was 6.3-8.7 of them over training seeds 0-4).
    x = torch.bernoulli(_binary_mixture(4000, seed=1), generator=torch.Generator().manual_seed(2))
    nll = {
        k: m.likelihood(x, _eval_ctx(k, seed=k, batch=4000))["iwae"].nll.double()
        for k in (1, 10, 100)
    }
    neg_elbo = m.likelihood(x, _eval_ctx(1, seed=5, batch=4000))["elbo"].nll.double()
    # E[NLL_IWAE(k)] is non-increasing in k, and k=1 is an unbiased estimate of the -ELBO.
    # Each step must be larger than 3 standard errors of the paired per-example difference,
    # so the test checks the ordering, not the luck of the draw.
    for a, b in ((neg_elbo, nll[10]), (nll[1], nll[10]), (nll[10], nll[100])):
        d = a - b
        assert d.mean() > 3 * d.std() / math.sqrt(d.numel())
    d = nll[1] - neg_elbo
    assert d.mean().abs() < 4 * d.std() / math.sqrt(d.numel())


def test_iwae_converges_to_exact_linear_gaussian_likelihood():
    d, j, s2 = 6, 2, 0.3
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(d, j, generator=g), torch.randn(d, generator=g)
    cfg = VAEConfig(decoder="gaussian", gaussian_variance="fixed", variance=s2, eval_rows=65536)
    m = VAE(_spec(d), j, cfg)
    m.decoder = nn.Linear(j, d)  # p(x|z) = N(Wz + b, σ²I)
    m.encoder = nn.Linear(d, 2 * j)
    # Exact posterior N(A(x − b), S), S = (I + WᵀW/σ²)⁻¹, A = S Wᵀ/σ². The encoder is
    # deliberately imperfect: its mean shrunk by 20% and shifted by one posterior std, its
    # variance diagonal only and doubled (wide enough that the weights have finite variance).
    s = torch.linalg.inv(torch.eye(j) + w.T @ w / s2)
    a, sd = s @ w.T / s2, s.diagonal().sqrt()
    with torch.no_grad():
        m.decoder.weight.copy_(w)
        m.decoder.bias.copy_(b)
        m.encoder.weight.copy_(torch.cat([0.8 * a, torch.zeros(j, d)]))
        m.encoder.bias.copy_(torch.cat([-0.8 * a @ b + sd, (2 * sd**2).log()]))
    cov = (w @ w.T + s2 * torch.eye(d)).double()
    x = b + torch.randn(64, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    exact = -MultivariateNormal(b.double(), cov).log_prob(x)
    err = {
        k: m.likelihood(x.float(), _eval_ctx(k, seed=k))["iwae"].nll.double() - exact
        for k in (1, 10, 100, 1000, 10000)
    }
    assert err[1].mean() > 1.0  # the encoder really is imperfect: a gap of over a nat
    # The per-example error shrinks roughly like 1/√k (a factor ~3 per step here) ...
    abs_err = [e.abs().mean().item() for e in err.values()]
    assert all(u > v for u, v in zip(abs_err, abs_err[1:]))
    # ... and at k=10⁴ the estimate has closed the gap (here: mean error 0.0002 nats, standard
    # error ~0.002; mean |error| 0.016; the same held for W, b, x drawn with seeds 0-7).
    assert abs_err[-1] < 0.05 and abs(err[10000].mean()) < 0.015


def test_seeded_runs_are_identical():
    x = torch.bernoulli(_binary_mixture(20, seed=1), generator=torch.Generator().manual_seed(3))

    def run(seed: int, global_seed: int):
        torch.manual_seed(0)
        m = VAE(_spec(), 3, VAEConfig.tiny())
        # A different global RNG state must not matter: all noise comes from the run's generator.
        torch.manual_seed(global_seed)
        m.fit(_binary_mixture(256), _fit_ctx(seed, budget=1024))
        est = m.likelihood(x, _eval_ctx(k=8, seed=seed))
        return [p.detach().clone() for p in m.parameters()], est, m.anomaly_score(x)

    p1, e1, a1 = run(0, global_seed=1)
    p2, e2, a2 = run(0, global_seed=2)
    p3, e3, _ = run(1, global_seed=1)
    assert all(torch.equal(u, v) for u, v in zip(p1, p2, strict=True))
    assert torch.equal(e1["iwae"].nll, e2["iwae"].nll)
    assert torch.equal(e1["elbo"].nll, e2["elbo"].nll)
    assert torch.equal(a1, a2)
    assert not all(torch.equal(u, v) for u, v in zip(p1, p3, strict=True))
    assert not torch.equal(e1["iwae"].nll, e3["iwae"].nll)


def test_decode_and_sample_are_in_data_space():
    torch.manual_seed(0)
    m = VAE(_spec(), 3, VAEConfig.tiny()).eval()
    s = m.sample(10, torch.Generator().manual_seed(0))
    r = m.reconstruct(_binary_mixture(10))
    assert s.shape == r.shape == (10, 16)
    assert torch.all((s > 0) & (s < 1)) and torch.all((r > 0) & (r < 1))
