"""Restricted Boltzmann machine (Bernoulli-Bernoulli), trained by contrastive divergence.

Smolensky 1986; Hinton 2002, "Training products of experts by minimizing contrastive
divergence" (CD-k); Tieleman 2008, "Training restricted Boltzmann machines using approximations
to the likelihood gradient" (persistent CD); Hinton 2010, "A practical guide to training
restricted Boltzmann machines" (initialisation); Salakhutdinov & Murray 2008, "On the
quantitative analysis of deep belief networks" (AIS estimate of the partition function).

Energy E(v, h) = -aᵀv - bᵀh - vᵀWh over binary v, h. Both conditionals are sigmoids,
p(h=1|v) = σ(vW + b) and p(v=1|h) = σ(hWᵀ + a), and block Gibbs sampling alternates them
(v → h → v, as in the lecture notes). The code is p(h|v), the decoder p(v|h), so the
reconstruction is one mean-field step v → p(h|v) → p(v|h).

The hidden layer is both the code and the whole capacity of the model. ``rbm`` uses the
protocol's code_size (``n_hidden=None``), so its row compares equal code sizes with every other
model on a board. ``rbm-256``, a named variant, has 256 hidden units (scikit-learn's
BernoulliRBM default, and ``rbm``'s own default before boards compared like with like): at
the protocols' 8 or 32 units an RBM is a poor density model (Salakhutdinov & Murray's MNIST
likelihoods gain tens of nats from 25 to 500 units), so the variant shows what the method's
likelihood is at a usual width. Its code is 256 wide; boards say so beside its name.

NLL(v) = F(v) + log Z with the free energy F exact; log Z is estimated by AIS from two starting
models (the data's base rate and the uniform model) and the larger estimate reported, since AIS
underestimates log Z on average; a disagreement of more than a nat is flagged in the record.
The pseudo-likelihood is reported beside it, clearly labelled: it is not a likelihood.

:func:`cd_update` is the project's one contrastive-divergence step: this model's fit and
``deep_ae``'s greedy pretraining (which adds linear, unit-variance Gaussian hidden units for its
top RBM and rbm.m's momentum) both call it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aebench import Capabilities, DataSpec, FitContext, LikelihoodEstimate, Model, hookimpl
from aebench.model import EvalContext
from aebench.tuning import Choice, Float, Int

#: pixel means are clipped to [EPS, 1 - EPS] so never-on pixels get finite log-odds
_EPS = 1e-3
#: Salakhutdinov & Murray's schedule: 500, 4000, 10000 of its β on [0,.5], [.5,.9], [.9,1]
_SM08_KNOTS = ([0.0, 500 / 14500, 4500 / 14500, 1.0], [0.0, 0.5, 0.9, 1.0])


@dataclass(frozen=True)
class RBMConfig:
    n_hidden: int | None = None  # None: the protocol's code_size
    k: int = 1  # Gibbs steps per update (CD-k / PCD-k)
    persistent: bool = False  # PCD: negative chains carry over between updates
    lr: float = 0.05  # plain SGD on the batch-mean CD gradient
    # CD's last visible states: probabilities (Hinton's guide §3.3) or samples (PCD: always)
    sample_visible: bool = False
    weight_decay: float = 0.0  # L2 on the weights only, as in Hinton's guide
    init_std: float = 0.01
    sample_steps: int = 1000  # Gibbs steps per call to sample()

    @classmethod
    def tiny(cls) -> RBMConfig:
        return cls(n_hidden=16, sample_steps=20)


@dataclass(frozen=True)
class RBM256Config(RBMConfig):
    """``rbm-256``: the 256-unit form, whatever the protocol's code size."""

    n_hidden: int | None = 256


#: what ``aebench tune`` searches (validation data only); the width stays the code size
SEARCH_SPACE = {
    "lr": Float(0.005, 0.2, log=True),
    "k": Int(1, 3),
    "persistent": Choice(False, True),
}


def _log_odds(x: Tensor) -> Tensor:
    p = x.mean(0).clamp(_EPS, 1 - _EPS)
    return torch.log(p) - torch.log1p(-p)


def _bernoulli(p: Tensor, g: torch.Generator) -> Tensor:
    # Uniforms compared in place: on CPU ~1.7x faster than torch.bernoulli(p), same stream.
    return torch.rand(p.shape, generator=g, device=p.device, dtype=p.dtype).lt_(p)


def _betas(n: int, schedule: str) -> Tensor:
    u = np.linspace(0.0, 1.0, max(n, 2))
    return torch.from_numpy(u if schedule == "linear" else np.interp(u, *_SM08_KNOTS))


def hidden_mean(v: Tensor, weight: Tensor, hbias: Tensor, linear: bool = False) -> Tensor:
    """E[h | v]: σ(vW + b) for logistic hidden units, vW + b for linear (unit-variance
    Gaussian) ones (Hinton & Salakhutdinov 2006's top layer, ``rbmhidlinear.m``)."""
    z = torch.addmm(hbias, v, weight)
    return z if linear else z.sigmoid_()


def sample_hidden(mean: Tensor, g: torch.Generator, linear: bool = False) -> Tensor:
    """h ~ p(h | v) given its mean: Bernoulli, or the mean plus N(0, 1) noise when linear."""
    if linear:
        return mean + torch.randn(mean.shape, generator=g, device=mean.device, dtype=mean.dtype)
    return _bernoulli(mean, g)


@torch.no_grad()
def cd_update(
    weight: Tensor,
    vbias: Tensor,
    hbias: Tensor,
    v0: Tensor,
    g: torch.Generator,
    *,
    lr: float,
    k: int = 1,
    persistent: bool = False,
    chain: Tensor | None = None,
    sample_visible: bool = False,
    weight_decay: float = 0.0,
    linear_hidden: bool = False,
    momentum: float = 0.0,
    velocity: tuple[Tensor, Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """One CD-k (PCD-k with ``persistent``) update of an RBM with binary (or [0, 1]
    probability) visible units, in place: the project's one contrastive-divergence step.

    ``v0`` may hold probabilities rather than binary states (a stacked RBM trains on the layer
    below's p(h|v), as Hinton & Salakhutdinov's ``rbm.m`` does). Hidden units are logistic, or
    with ``linear_hidden`` linear with unit-variance Gaussian noise. The gradient is plain SGD
    on the batch mean of <v hᵀ>_data - <v hᵀ>_model with the hidden *means* on both sides.
    With ``velocity`` (zero tensors shaped like weight, vbias, hbias, updated in place) the
    step is rbm.m's: increment = ``momentum`` · increment + lr · (gradient - weight cost · W).
    Returns p(v | h₀) (the chain's first reconstruction) and the last hidden states (PCD's
    chain for the next call)."""
    ph0 = hidden_mean(v0, weight, hbias, linear_hidden)
    h = sample_hidden(ph0, g, linear_hidden)
    pv = pv0 = torch.addmm(vbias, h, weight.T).sigmoid_()
    if persistent:
        h = h if chain is None else chain
        pv = torch.addmm(vbias, h, weight.T).sigmoid_()
    for step in range(k):
        last = step + 1 == k
        # PCD's chains must stay Gibbs chains; CD may end on probabilities (Hinton §3.3).
        v = pv if last and not (sample_visible or persistent) else _bernoulli(pv, g)
        ph = hidden_mean(v, weight, hbias, linear_hidden)
        if not last or persistent:
            h = sample_hidden(ph, g, linear_hidden)
        if not last:
            pv = torch.addmm(vbias, h, weight.T).sigmoid_()
    # Plain SGD on the batch-mean gradient <vhᵀ>_data - <vhᵀ>_model, in place; every batch is
    # full (FitContext drops a partial last one), so no batch is over-weighted.
    step_lr = lr / v0.shape[0]
    if velocity is not None:
        dw, dvb, dhb = velocity
        grad_w = torch.addmm(v0.T @ ph0, v.T, ph, alpha=-1.0)
        dw.mul_(momentum).add_(grad_w, alpha=step_lr).add_(weight, alpha=-lr * weight_decay)
        dvb.mul_(momentum).add_(v0.sum(0).sub_(v.sum(0)), alpha=step_lr)
        dhb.mul_(momentum).add_(ph0.sum(0).sub_(ph.sum(0)), alpha=step_lr)
        weight.add_(dw)
        vbias.add_(dvb)
        hbias.add_(dhb)
        return pv0, h
    if weight_decay:
        weight.mul_(1.0 - lr * weight_decay)
    weight.addmm_(v0.T, ph0, alpha=step_lr).addmm_(v.T, ph, alpha=-step_lr)
    vbias.add_(v0.sum(0).sub_(v.sum(0)), alpha=step_lr)
    hbias.add_(ph0.sum(0).sub_(ph.sum(0)), alpha=step_lr)
    return pv0, h


class RBM(nn.Module, Model):
    """Bernoulli-Bernoulli RBM, CD-k or PCD-k, with an AIS likelihood."""

    capabilities = Capabilities(
        inputs=("vector", "image", "sequence"),
        likelihood="estimate",
        binary=True,
        stochastic=True,
        generative=True,
    )

    def __init__(self, spec: DataSpec, code_size: int, config: RBMConfig) -> None:
        n_hidden = config.n_hidden if config.n_hidden is not None else code_size
        nn.Module.__init__(self)
        Model.__init__(self, spec, n_hidden, config)
        # Buffers, not parameters: nothing here is trained by autograd.
        self.register_buffer("weight", torch.randn(spec.dim, n_hidden) * config.init_std)
        self.register_buffer("vbias", torch.zeros(spec.dim))
        self.register_buffer("hbias", torch.zeros(n_hidden))

    def encode(self, x: Tensor) -> Tensor:
        return torch.addmm(self.hbias, x, self.weight).sigmoid_()

    def decode(self, z: Tensor) -> Tensor:
        return torch.addmm(self.vbias, z, self.weight.T).sigmoid_()

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -log Σ_h exp(-E(v, h)) = -aᵀv - Σ_j softplus(b_j + vW_j)."""
        return -(v @ self.vbias) - F.softplus(torch.addmm(self.hbias, v, self.weight)).sum(1)

    @torch.no_grad()
    def fit(self, train: Tensor, ctx: FitContext) -> None:
        cfg = self.config
        # Hinton's guide: start the visible biases at the data's log-odds, hidden biases at 0.
        self.vbias.copy_(_log_odds(train))
        chain = None  # PCD's persistent hidden states
        for v0 in ctx.batches(train):
            pv, chain = cd_update(
                self.weight, self.vbias, self.hbias, v0, ctx.generator,
                lr=cfg.lr, k=cfg.k, persistent=cfg.persistent, chain=chain,
                sample_visible=cfg.sample_visible, weight_decay=cfg.weight_decay,
            )  # fmt: skip
            # Hinton's reconstruction error, free here: p(v|h₀) is the CD chain's first step.
            ctx.log(F.mse_loss(pv, v0))

    @torch.no_grad()
    def ais_log_z(
        self, starts: Tensor, betas: Tensor, n_chains: int, n_runs: int, g: torch.Generator
    ) -> Tensor:
        """AIS estimates of log Z, (S, runs), from S base models in one batch of chains.

        Base model s has visible biases ``starts[s]`` and the RBM's hidden units with zero
        weights and biases, so it is sampled exactly and its log Z is Σ_i softplus(a⁰_i) + H log 2.
        The model at inverse temperature β = ``betas[s, k]`` (0 to 1) has visible biases
        a⁰ + β(a - a⁰), weights βW and hidden biases βb.
        """
        n_starts, d = starts.shape
        base = starts[:, None, :]  # (S, 1, D): broadcast over each start's runs × chains
        dvb = self.vbias - base
        v = _bernoulli(torch.sigmoid(base).expand(n_starts, n_runs * n_chains, d), g)
        z = torch.matmul(v, self.weight).add_(self.hbias)
        logw = torch.zeros(v.shape[:2], dtype=torch.float64, device=v.device)
        betas = betas.to(v).T[:, :, None]  # (K, S, 1)
        for k in range(1, betas.shape[0]):
            b_prev, b = betas[k - 1], betas[k]
            # log p*_β(v) - log p*_β'(v) at the current state, then one Gibbs step at β.
            bz = b[..., None] * z
            logw += torch.matmul(v, dvb.mT).squeeze(2).mul_(b - b_prev)
            logw += (F.softplus(bz) - F.softplus(b_prev[..., None] * z)).sum(2)
            if k == betas.shape[0] - 1:
                break
            h = _bernoulli(bz.sigmoid_(), g)
            pv = torch.matmul(h, self.weight.T).add_(dvb).mul_(b[..., None]).add_(base)
            v = _bernoulli(pv.sigmoid_(), g)
            z = torch.matmul(v, self.weight).add_(self.hbias)
        log_z0 = F.softplus(starts.double()).sum(1) + self.weight.shape[1] * math.log(2)
        logw = logw.view(n_starts, n_runs, n_chains)
        return log_z0[:, None] + torch.logsumexp(logw, 2) - math.log(n_chains)

    @torch.no_grad()
    def pseudo_likelihood_nll(self, x: Tensor, max_elems: int = 1 << 23) -> Tensor:
        """-Σ_i log p(v_i | v_-i) per example, exactly (every pixel, not one at random)."""
        d, h = self.weight.shape
        # Flipping pixel i moves z = vW + b by δ = ±W_i, and softplus(z + δ) - softplus(z)
        # = log(σ(-z) + σ(z)·e^δ): one log per (example, pixel, hidden unit), no exp.
        exp_up, exp_down = self.weight.exp(), self.weight.neg().exp()
        out = []
        for v in torch.split(x, max(1, max_elems // (d * h))):
            z = torch.addmm(self.hbias, v, self.weight)
            ratio = torch.where(v[:, :, None] > 0.5, exp_down, exp_up)  # (n, D, H)
            log_ratio = ratio.mul_(torch.sigmoid(z)[:, None]).add_(torch.sigmoid(-z)[:, None])
            dfe = (2.0 * v - 1.0) * self.vbias - log_ratio.log_().sum(2)  # F(v flipped) - F(v)
            out.append(F.softplus(-dfe).sum(1))  # p(v_i | v_-i) = σ(F(v flipped) - F(v))
        return torch.cat(out)

    @torch.no_grad()
    def likelihood(self, x: Tensor, ctx: EvalContext) -> dict[str, LikelihoodEstimate]:
        # Two starts, as a cross-check. S&M's base-rate model with their schedule, which spends
        # its temperatures near β = 1; plain tempering from the uniform model did better with a
        # linear one (measured on MNIST and digits).
        names, starts, schedules = ["uniform"], [torch.zeros_like(self.vbias)], ["linear"]
        if ctx.train_x is not None:
            names.insert(0, "base-rate")
            starts.insert(0, _log_odds(ctx.train_x.to(self.vbias.device)))
            schedules.insert(0, "sm08")
        betas = torch.stack([_betas(ctx.ais_betas, s) for s in schedules])
        runs = self.ais_log_z(
            torch.stack(starts), betas, ctx.ais_chains, ctx.ais_runs, ctx.generator
        )
        means = runs.mean(1)
        stds = runs.std(1) if ctx.ais_runs > 1 else torch.zeros_like(means)
        best = int(means.argmax())
        info: dict = {
            "method": "AIS (Salakhutdinov & Murray 2008)",
            "chains": ctx.ais_chains,
            "betas": ctx.ais_betas,
            "runs": ctx.ais_runs,
            "log_z": float(means[best]),
            "log_z_std": float(stds[best]),
            "log_z_start": names[best],
        }
        for name, sched, m, sd in zip(names, schedules, means.tolist(), stds.tolist(), strict=True):
            key = name.replace("-", "_")
            info[f"log_z_{key}"], info[f"log_z_{key}_std"] = m, sd
            info[f"schedule_{key}"] = "S&M 2008 piecewise" if sched == "sm08" else sched
        if len(names) == 2 and abs(float(means[0] - means[1])) > 1.0:
            # E[log Ẑ] ≤ log Z, so the larger estimate is the less underestimated one.
            info["warning"] = (
                f"AIS starts disagree: log Z = {float(means[0]):.2f} (base-rate) vs "
                f"{float(means[1]):.2f} (uniform); reported the larger; NLL may be too low"
            )
        nll = self.free_energy(x).double() + means[best]
        pl = self.pseudo_likelihood_nll(x)
        pl_info = {
            "note": "product of one-pixel conditionals, not a likelihood: it flatters RBMs "
            f"(here by {float(nll.mean() - pl.mean()):.1f} nats/example vs AIS)"
        }
        return {
            "ais": LikelihoodEstimate(nll.float(), "estimate", "AIS", info),
            "pseudo_likelihood": LikelihoodEstimate(
                pl, "estimate", "pseudo-likelihood (not a likelihood)", pl_info
            ),
        }

    def anomaly_score(self, x: Tensor) -> Tensor:
        return self.free_energy(x)  # = -log p(x) - log Z: low probability, high score

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        # Start from the visible-bias-only model (the data's base rate after fitting).
        v = _bernoulli(torch.sigmoid(self.vbias).expand(n, -1), generator)
        for _ in range(self.config.sample_steps):
            pv = self.decode(_bernoulli(self.encode(v), generator))
            v = _bernoulli(pv, generator)
        return pv if self.config.sample_steps else v

    def diagnostics(self, x: Tensor, ctx: EvalContext) -> dict:
        return {"n_hidden": self.code_size}

    def parameter_count(self) -> int:
        return sum(b.numel() for b in self.buffers())

    to = nn.Module.to
    train = nn.Module.train
    eval = nn.Module.eval


@hookimpl
def aebench_register_models(register):
    tags = ("energy-based", "generative")
    register("rbm", RBM, config=RBMConfig, tags=tags, search_space=SEARCH_SPACE)
    register(
        "rbm-256",
        RBM,
        config=RBM256Config,
        description="Bernoulli-Bernoulli RBM with 256 hidden units (code 256, a named variant)",
        tags=(*tags, "variant"),
        search_space=SEARCH_SPACE,
    )
