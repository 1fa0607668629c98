"""Denoising autoencoder: reconstruct the clean input from a corrupted copy of it.

Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked denoising autoencoders: learning
useful representations in a deep network with a local denoising criterion", JMLR 11 (2010);
lecture 004 ("X + noise → X") and lecture 002's lab. Only training inputs are corrupted; the
target is always the clean input, and ``encode`` never corrupts, so the harness's
reconstruction error is measured from clean test inputs.

Corruptions, as Vincent et al. define them, with ``level`` the noise parameter:

- ``gaussian``: x̃ = x + level · ε, ε ~ N(0, I) (not clipped: the noise is the lecture's X + n);
- ``masking``: each entry is set to 0 with probability ``level``;
- ``salt_pepper``: each entry is, with probability ``level``, set to 0 or 1 with equal odds.

The default, Gaussian noise of σ = 0.2, was chosen on MNIST's validation carve (mnist-v2,
384k samples, seed 0, the test split emptied; results/scripts/default_screen.py, figures in
results/screens/) by the lowest validation MSE from clean inputs, the figure the board reports:

===================  ==========  ===================  ===================
corruption           clean MSE   from corrupted MSE   corrupted input MSE
===================  ==========  ===================  ===================
gaussian, σ = 0.2    0.00720     0.00897              0.0400
salt_pepper, 0.1     0.00786     0.00978              0.0480
masking, 0.25        0.01063     0.00967              0.0285
===================  ==========  ===================  ===================

Masking, Vincent et al.'s favourite, trains the network on inputs with fewer lit pixels than
clean ones, so the clean inputs the harness reconstructs are off its training distribution: it
reconstructs masked validation images better than clean ones.

The network is an MLP autoencoder of the protocol's widths, D → hidden → code → hidden → D
(ReLU, linear code), so the leaderboard prices the denoising criterion alone. Reconstruction is
Bernoulli cross-entropy on logits, summed over pixels and averaged over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, TorchModel, hookimpl
from aebench.nn import mlp
from aebench.tuning import Choice, Float

__all__ = ["CORRUPTIONS", "SEARCH_SPACE", "DenoisingAE", "DenoisingAEConfig", "corrupt"]

CORRUPTIONS = ("gaussian", "masking", "salt_pepper")


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    """A corrupted copy of ``x`` (``generator`` lives on ``x``'s device); ``x`` is untouched."""
    if kind == "gaussian":
        return x + level * torch.randn(x.shape, generator=generator, device=x.device)
    u = torch.rand(x.shape, generator=generator, device=x.device)
    if kind == "masking":
        return x.masked_fill(u < level, 0.0)
    if kind == "salt_pepper":
        # One uniform draw decides both whether an entry is hit (u < level) and, by which half
        # of [0, level) it fell in, whether it becomes 0 or 1.
        return torch.where(u < level, (u < 0.5 * level).to(x.dtype), x)
    raise ValueError(f"unknown corruption {kind!r}; known: {CORRUPTIONS}")


@dataclass(frozen=True)
class DenoisingAEConfig:
    corruption: str = "gaussian"
    #: σ for gaussian; the probability that an entry is hit for masking and salt_pepper
    level: float = 0.2
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {CORRUPTIONS}")
        if self.level < 0 or (self.corruption != "gaussian" and self.level > 1):
            raise ValueError("level must be >= 0 (and <= 1 for masking and salt_pepper)")

    @classmethod
    def tiny(cls) -> DenoisingAEConfig:
        return cls()


#: what ``aebench tune`` searches (validation data only); the defaults above are the
#: starting point, not the outcome of this search
SEARCH_SPACE = {
    "corruption": Choice(*CORRUPTIONS),
    "level": Float(0.05, 0.5),
    "lr": Float(1e-4, 1e-2, log=True),
}


class DenoisingAE(TorchModel):
    """MLP autoencoder trained to map corrupted inputs back to the clean ones."""

    capabilities = Capabilities(inputs=("vector", "image", "sequence"))

    def __init__(self, spec: DataSpec, code_size: int, config: DenoisingAEConfig) -> None:
        super().__init__(spec, code_size, config)
        sizes = [spec.dim, spec.hidden_size, code_size]
        self.encoder = mlp(sizes)
        self.decoder = mlp(sizes[::-1])  # logits
        self._noise: torch.Generator | None = None

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        # The corruption stream is its own generator, seeded from the run's, so the noise is
        # reproducible without interleaving with the host's shuffling draws.
        seed = torch.randint(2**62, (1,), generator=ctx.generator, device=ctx.generator.device)
        self._noise = torch.Generator(device=train.device).manual_seed(int(seed))
        super().fit(train, ctx)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))

    def loss(self, batch: Tensor) -> Tensor:
        if self._noise is None:  # loss() called outside fit (e.g. a contract test)
            self._noise = torch.Generator(device=batch.device).manual_seed(0)
        noisy = corrupt(batch, self.config.corruption, self.config.level, self._noise)
        logits = self.decoder(self.encoder(noisy))
        return F.binary_cross_entropy_with_logits(logits, batch, reduction="sum") / batch.shape[0]

    def diagnostics(self, x: Tensor, ctx: Any) -> dict[str, Any]:
        """MSE/pixel against the clean test inputs: of the reconstruction from a corrupted copy
        (the denoising error), and of the corrupted copy itself (what doing nothing scores)."""
        cfg, g = self.config, ctx.generator
        denoised = corrupted = 0.0
        for i in range(0, x.shape[0], ctx.batch_size):
            clean = x[i : i + ctx.batch_size]
            noisy = corrupt(clean, cfg.corruption, cfg.level, g)
            denoised += float(((self.reconstruct(noisy) - clean) ** 2).double().sum())
            corrupted += float(((noisy - clean) ** 2).double().sum())
        n = x.numel()
        return {
            "denoise_mse": denoised / n,
            "corrupted_mse": corrupted / n,
        }


@hookimpl
def aebench_register_models(register):
    register(
        "denoising_ae",
        DenoisingAE,
        config=DenoisingAEConfig,
        tags=("autoencoder", "regularised"),
        search_space=SEARCH_SPACE,
    )
