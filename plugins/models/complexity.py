"""Reference rows for image anomaly boards: the input's own complexity, and the mean image
scored by its Bernoulli likelihood.

Likelihood scores of images are driven by how complex an image is as much as by what it shows
(Nalisnick et al. 2019, "Do deep generative models know what they don't know?", ICLR;
Serrà et al. 2020, "Input complexity and out-of-distribution detection with likelihood-based
generative models", ICLR). Two rows make that confound visible on every image anomaly board:

- ``complexity``: anomaly score = Σ_i x_i(1 − x_i), the summed variance of Bernoulli pixels
  with the input's intensities: no model, nothing learnt. Serrà et al. measure complexity as a
  compressed length (PNG, JPEG2000, FLIF); here the measure is Σx(1−x), because it is the
  exact size of the confound the harness can create. A score of a Bernoulli draw b of the
  pixels x carries it: E‖b − r‖² = ‖x − r‖² + Σ_i x_i(1 − x_i) for any reconstruction r, and
  a draw's NLL grows with its entropy Σ_i H(x_i), which Σx(1−x) tracks. It is also free of a
  codec's choices and headers (which dominate a compressed 8×8 image).
- ``mean-bernoulli``: the training mean image as independent Bernoulli pixels, with the
  pseudo-counted probabilities of the ``mean`` row's likelihood; anomaly score = its
  negative log-likelihood of the input, −Σ_i [x_i log p_i + (1 − x_i) log(1 − p_i)]. On
  intensities this soft-target cross-entropy is the expected NLL over Bernoulli draws of the
  pixels, so the row scores the pixels whatever ``Protocol.eval_inputs`` says. Beside the
  ``mean`` row (the same image scored by squared error) it shows what a likelihood of the
  mean alone ranks.

Both take image data only ("not applicable" elsewhere), take part in anomaly protocols only,
and are tagged ``reference`` so boards set them apart from the autoencoders.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, Model, hookimpl


@dataclass(frozen=True)
class ComplexityConfig:
    @classmethod
    def tiny(cls) -> ComplexityConfig:
        return cls()


class InputComplexity(Model):
    """Anomaly score = Σ_i x_i(1 − x_i) of the input; learns nothing."""

    capabilities = Capabilities(inputs=("image",), tasks=("anomaly",))

    def __init__(self, spec: DataSpec, code_size: int, config: ComplexityConfig) -> None:
        super().__init__(spec, 0, config)

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        ctx.samples_seen = 0  # nothing to learn

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("no model")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("no model")

    def anomaly_score(self, x: Tensor) -> Tensor:
        x = x.double()
        return (x * (1 - x)).sum(1)


@dataclass(frozen=True)
class MeanBernoulliConfig:
    #: pseudo-count added to each pixel's on/off counts, as the ``mean`` row's likelihood
    pseudo_count: float = 0.5

    @classmethod
    def tiny(cls) -> MeanBernoulliConfig:
        return cls()


class MeanBernoulli(Model):
    """Anomaly score = the training mean's independent-Bernoulli NLL of the input."""

    capabilities = Capabilities(inputs=("image",), tasks=("anomaly",))

    def __init__(self, spec: DataSpec, code_size: int, config: MeanBernoulliConfig) -> None:
        super().__init__(spec, 0, config)
        self.p: Tensor | None = None

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        n = train.shape[0]
        a = self.config.pseudo_count
        self.p = (train.double().mean(0) * n + a) / (n + 2 * a)
        ctx.samples_seen, ctx.closed_form = n, True

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("no code: an anomaly score only")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("no code: an anomaly score only")

    def anomaly_score(self, x: Tensor) -> Tensor:
        x = x.double()
        return -(x * torch.log(self.p) + (1 - x) * torch.log1p(-self.p)).sum(1)

    def to(self, device: torch.device) -> MeanBernoulli:
        if self.p is not None:
            self.p = self.p.to(device)
        return self

    def parameter_count(self) -> int:
        return self.spec.dim


@hookimpl
def aebench_register_models(register):
    register("complexity", InputComplexity, config=ComplexityConfig, tags=("reference",))
    register("mean-bernoulli", MeanBernoulli, config=MeanBernoulliConfig, tags=("reference",))
