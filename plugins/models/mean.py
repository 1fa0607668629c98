"""Reference row "learned nothing": the training mean, and independent Bernoulli pixels.

Reconstructs every input as the training mean (the floor any autoencoder must beat on
reconstruction error) and scores likelihood with independent Bernoulli pixels whose
probabilities are the training means (the floor for likelihood columns). Not an autoencoder:
it is registered with the tag ``reference`` so leaderboards set it apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, LikelihoodEstimate, Model, hookimpl


@dataclass(frozen=True)
class MeanConfig:
    #: pseudo-count added to each pixel's on/off counts, so a never-seen value has finite cost
    pseudo_count: float = 0.5

    @classmethod
    def tiny(cls) -> MeanConfig:
        return cls()


class MeanBaseline(Model):
    """Predict the training mean; independent-Bernoulli likelihood."""

    capabilities = Capabilities(
        inputs=("vector", "image", "sequence"), likelihood="exact", binary=True, generative=True
    )

    def __init__(self, spec: DataSpec, code_size: int, config: MeanConfig) -> None:
        super().__init__(spec, 0, config)
        self.mean: Tensor | None = None
        self.p: Tensor | None = None

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        n = train.shape[0]
        # The harness binarises per epoch for binary models; for this closed-form fit the
        # expected binary mean equals the intensity mean, so fit on intensities directly.
        self.mean = train.mean(0)
        a = self.config.pseudo_count
        self.p = (self.mean * n + a) / (n + 2 * a)
        ctx.samples_seen, ctx.closed_form = n, True

    def encode(self, x: Tensor) -> Tensor:
        return x.new_zeros((x.shape[0], 0))

    def decode(self, z: Tensor) -> Tensor:
        return self.mean.expand(z.shape[0], -1)

    def likelihood(self, x: Tensor, ctx) -> dict[str, LikelihoodEstimate]:
        logp, log1mp = torch.log(self.p), torch.log1p(-self.p)
        nll = -(x * logp + (1 - x) * log1mp).sum(1)
        info = {"pseudo_count": self.config.pseudo_count}
        return {"bernoulli": LikelihoodEstimate(nll, "exact", "indep. Bernoulli", info)}

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.bernoulli(self.p.expand(n, -1), generator=generator)

    def to(self, device: torch.device) -> MeanBaseline:
        if self.mean is not None:
            self.mean, self.p = self.mean.to(device), self.p.to(device)
        return self

    def parameter_count(self) -> int:
        return self.spec.dim


@hookimpl
def aebench_register_models(register):
    register("mean", MeanBaseline, config=MeanConfig, tags=("reference",))
