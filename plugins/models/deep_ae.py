"""Deep autoencoder of Hinton & Salakhutdinov: stacked RBMs, unrolled, fine-tuned.

Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with neural networks",
Science 313:504–507; lecture 002 ("Deep autoencoder — Hinton's approach"). What was read, and
followed here, is the authors' Matlab code as copied in public repositories:
``haohaoalt/deep_learning_hilton`` autoencoder_matlab/mnistdeepauto.m and rbm.m, and
``keode/hintonScienceCode`` rbmhidlinear.m and backprop.m (that copy limits its batches "to
accelerate debug"; nothing else of it is used); the unit types as ``jordn/autoencoder``'s README
describes them.

1. **Pretraining**, greedy and layer-wise, with aebench's one CD implementation
   (:func:`aebench_plugins.models.rbm.cd_update`): each neighbouring pair of layers is an RBM
   trained by CD-1 on the layer below's probabilities p(h|v) (the first on the pixel
   intensities in [0, 1], not binarised), with logistic hidden units, except the top RBM,
   whose hidden units are linear with unit-variance Gaussian noise, giving a linear code.
   As rbm.m / rbmhidlinear.m: weights from 0.1·N(0, 1), biases 0, learning rates 0.1
   (logistic) and 0.001 (linear top), weight cost 0.0002, momentum 0.5 then 0.9 (the paper
   switches after 5 of 50 epochs; here after the first tenth of each layer's steps), the
   negative phase on the reconstruction's probabilities.
2. **Unrolling**: the encoder is the RBMs' recognition weights and hidden biases, the decoder
   their transposes with the visible (generative) biases, in reverse order (backprop.m's
   w1…w8); encoder and decoder are separate parameters from then on.
3. **Fine-tuning** with deterministic probabilities (logistic layers, linear code, logistic
   output) on the cross-entropy, summed over pixels and averaged over the batch, by the
   harness's training loop (:func:`aebench.training.gradient_fit`: the protocol's Adam,
   batches, validation curve and early stopping). The paper fine-tunes with conjugate gradients
   (Rasmussen's minimize.m, three line searches per batch of 1,000): that optimiser is not
   the harness's, and every model of a board is trained by the same loop.

**Budget.** Pretraining is paid from the protocol's ``budget_samples``: ``pretrain_share`` of
it is divided equally between the RBMs, the rest goes to fine-tuning, and every example an RBM
sees counts as one example seen. The paper's own split is one half (50 epochs for each of 4
RBMs, 200 of fine-tuning); the default, three quarters, was chosen on validation data
(below). The record says how (``diag.pretrain_samples``, ``diag.finetune_samples``, and per
layer ``diag.layerK_samples`` and its wall time ``diag.layerK_s``). ``deep_ae-nopretrain`` is
the same net from PyTorch's default random initialisation, with the whole budget spent
fine-tuning, so a board prices what pretraining buys at equal cost.

**Stacks and defaults.** The code layer is the protocol's code size; the widths below it are
the paper's 1000-500-250 for every input (784-1000-500-250-32 on Fashion-MNIST). For other
inputs than 28×28 that was chosen on validation data only: digits-v2 at its 30k samples, seed
0, trained on the fit slice and scored on the validation carve, the test split emptied
(results/scripts/deep_ae_screen.py; results/screens/deep_ae-digits-v2.json), lowest
validation MSE per pixel over stack × ``pretrain_share``:

=============================================  ======  ======  ==========  ======
widths between the 64 pixels and the 8-unit code  0.25    0.5     0.75        0.9
=============================================  ======  ======  ==========  ======
(2h, h, h/2), h = hidden_size: 256-128-64      0.0519  0.0334  0.0361      0.0501
paper's scaled by 64/784: 82-41-20             0.0620  0.0424  0.0448      0.0573
paper's as they are: 1000-500-250              0.0599  0.0396  **0.0311**  0.0410
=============================================  ======  ======  ==========  ======

One seed on digits' ~1,130 fitting images: a small, cheap comparison, not a study. The share
of three quarters holds for every data set (it was screened on digits only, at a 30k budget);
SMS's bag of words gets the paper's widths too, without a screen of its own. The RBM settings
are rbm.m's and rbmhidlinear.m's, not screened.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aebench import Capabilities, DataSpec, FitContext, TorchModel, hookimpl
from aebench.tuning import Float
from aebench_plugins.models.rbm import cd_update, hidden_mean

__all__ = ["SEARCH_SPACE", "DeepAE", "DeepAEConfig", "stack_sizes"]

#: the paper's MNIST stack below the code layer (784-1000-500-250-30)
PAPER_STACK = (1000, 500, 250)


def stack_sizes(hidden: tuple[int, ...] | None) -> tuple[int, ...]:
    """The widths between input and code: ``hidden`` if given, else the paper's 1000-500-250
    (kept for other inputs than 28×28 on validation data: see the module's docstring)."""
    return PAPER_STACK if hidden is None else tuple(hidden)


@dataclass(frozen=True)
class DeepAEConfig:
    #: widths between input and code; None: the paper's (:func:`stack_sizes`)
    hidden: tuple[int, ...] | None = None
    #: greedy RBM pretraining; False: PyTorch's default initialisation (``deep_ae-nopretrain``)
    pretrain: bool = True
    #: the part of budget_samples spent pretraining, split equally between the RBMs; chosen on
    #: digits-v2 validation data (0.25 / 0.5 / 0.75 / 0.9; the paper's split is 0.5)
    pretrain_share: float = 0.75
    rbm_lr: float = 0.1  #: rbm.m's ε (logistic hidden units)
    linear_rbm_lr: float = 0.001  #: rbmhidlinear.m's ε (the linear top RBM)
    rbm_weight_cost: float = 0.0002  #: both files' weightcost
    rbm_init_std: float = 0.1  #: both files' 0.1·randn
    #: fine-tuning's learning rate (the harness's Adam); None: the protocol's
    lr: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.pretrain_share < 1.0:
            raise ValueError("pretrain_share must lie in [0, 1)")
        if self.hidden is not None and (not self.hidden or min(self.hidden) < 1):
            raise ValueError("hidden must be a non-empty tuple of positive widths")

    @classmethod
    def tiny(cls) -> DeepAEConfig:
        return cls(hidden=(16, 8))


@dataclass(frozen=True)
class DeepAENoPretrainConfig(DeepAEConfig):
    """``deep_ae-nopretrain``: the same net and budget, random initialisation."""

    pretrain: bool = False

    @classmethod
    def tiny(cls) -> DeepAENoPretrainConfig:
        return cls(hidden=(16, 8))


#: what ``aebench tune`` searches (validation data only); the stack stays the rule's
SEARCH_SPACE = {
    "lr": Float(1e-4, 1e-2, log=True),
    "pretrain_share": Float(0.1, 0.8),
    "rbm_lr": Float(0.01, 0.3, log=True),
}


class DeepAE(TorchModel):
    """Logistic encoder with a linear code, logistic decoder; RBM-pretrained or random."""

    capabilities = Capabilities(inputs=("vector", "image", "sequence"))

    def __init__(self, spec: DataSpec, code_size: int, config: DeepAEConfig) -> None:
        super().__init__(spec, code_size, config)
        self.sizes = (spec.dim, *stack_sizes(config.hidden), code_size)
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.decoder = nn.ModuleList(nn.Linear(b, a) for a, b in reversed(pairs))
        #: what pretraining did, per layer (for the record: :meth:`diagnostics`)
        self.pretraining: list[dict[str, float]] = []
        self.budget_split: dict[str, float] = {}
        #: the pretrained RBMs, bottom up, as (W, visible biases, hidden biases); not parameters
        self.stack: list[tuple[Tensor, Tensor, Tensor]] = []

    # -- the unrolled net -----------------------------------------------------------------
    def encode(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i + 1 < len(self.encoder):  # the code layer is linear
                x = torch.sigmoid(x)
        return x

    def _logits(self, z: Tensor) -> Tensor:
        for i, layer in enumerate(self.decoder):
            z = layer(z)
            if i + 1 < len(self.decoder):
                z = torch.sigmoid(z)
        return z

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self._logits(z))

    def loss(self, batch: Tensor) -> Tensor:
        logits = self._logits(self.encode(batch))
        return F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]

    # -- training -------------------------------------------------------------------------
    def fit(self, train: Tensor, ctx: FitContext) -> None:
        cfg, total = self.config, ctx.budget_samples
        per_layer = int(total * cfg.pretrain_share) // len(self.encoder) if cfg.pretrain else 0
        if per_layer > 0:
            self._pretrain(train, ctx, per_layer)
        pretrained = sum(int(p["samples"]) for p in self.pretraining)
        ctx.samples_seen += pretrained  # the curve's x axis and the record count every example
        ctx.budget_samples = max(1, total - pretrained)
        try:
            super().fit(train, ctx)
        finally:
            ctx.budget_samples = total
        self.budget_split = {
            "budget_samples": float(total),
            "pretrain_samples": float(pretrained),
            "finetune_samples": float(ctx.samples_seen - pretrained),
        }

    @torch.no_grad()
    def _pretrain(self, train: Tensor, ctx: FitContext, per_layer: int) -> None:
        """Train the RBM stack greedily, then unroll it into encoder and decoder."""
        cfg, g = self.config, ctx.generator
        data = train
        self.pretraining, self.stack = [], []
        for i, (enc, dec) in enumerate(zip(self.encoder, reversed(self.decoder), strict=True)):
            linear = i + 1 == len(self.encoder)
            n_vis, n_hid = enc.in_features, enc.out_features
            weight = torch.randn(n_vis, n_hid, generator=g, device=data.device) * cfg.rbm_init_std
            vbias = torch.zeros(n_vis, device=data.device)
            hbias = torch.zeros(n_hid, device=data.device)
            velocity = (torch.zeros_like(weight), torch.zeros_like(vbias), torch.zeros_like(hbias))
            layer_ctx = FitContext(
                budget_samples=per_layer,
                batch_size=ctx.batch_size,
                lr=ctx.lr,
                optimizer=ctx.optimizer_name,
                device=ctx.device,
                generator=g,
                binarize=False,  # rbm.m trains on the intensities / the layer below's p(h|v)
            )
            steps = layer_ctx.plan(data.shape[0])[1]
            t0 = time.perf_counter()
            for v0 in layer_ctx.batches(data):
                momentum = 0.5 if layer_ctx.step < max(1, steps // 10) else 0.9
                pv, _ = cd_update(
                    weight, vbias, hbias, v0, g,
                    lr=cfg.linear_rbm_lr if linear else cfg.rbm_lr,
                    weight_decay=cfg.rbm_weight_cost, linear_hidden=linear,
                    momentum=momentum, velocity=velocity,
                )  # fmt: skip
                layer_ctx.log(F.mse_loss(pv, v0))
            if data.device.type == "cuda":
                torch.cuda.synchronize(data.device)
            seconds = time.perf_counter() - t0
            # unroll: recognition weights up, their transposes and the visible biases down
            enc.weight.copy_(weight.T)
            enc.bias.copy_(hbias)
            dec.weight.copy_(weight)
            dec.bias.copy_(vbias)
            self.stack.append((weight, vbias, hbias))
            self.pretraining.append(
                {
                    "samples": float(layer_ctx.samples_seen),
                    "seconds": seconds,
                    "last_epoch_recon_mse": layer_ctx.epoch_losses[-1]
                    if layer_ctx.epoch_losses
                    else math.nan,
                }
            )
            if not linear:  # the next RBM's data: this one's p(h|v) (the top's output is unused)
                data = torch.cat([hidden_mean(c, weight, hbias) for c in torch.split(data, 4096)])

    def diagnostics(self, x: Tensor, ctx: Any) -> dict[str, Any]:
        """How the budget was split and what each RBM cost (measured in the fit, not on ``x``)."""
        out: dict[str, Any] = {"depth": len(self.encoder), **self.budget_split}
        out["pretrain_s"] = sum(p["seconds"] for p in self.pretraining)
        for k, p in enumerate(self.pretraining, start=1):
            out[f"layer{k}_samples"] = p["samples"]
            out[f"layer{k}_s"] = p["seconds"]
            if math.isfinite(p["last_epoch_recon_mse"]):
                out[f"layer{k}_cd_recon_mse"] = p["last_epoch_recon_mse"]
        return out


@hookimpl
def aebench_register_models(register):
    tags = ("autoencoder", "deep", "energy-based")
    register("deep_ae", DeepAE, config=DeepAEConfig, tags=tags, search_space=SEARCH_SPACE)
    register(
        "deep_ae-nopretrain",
        DeepAE,
        config=DeepAENoPretrainConfig,
        description="deep_ae's net and budget from a random initialisation (no RBM pretraining)",
        tags=("autoencoder", "deep", "variant"),
        search_space={"lr": SEARCH_SPACE["lr"]},
    )
