"""A linear autoencoder, two with their own fit, and an empty config: the smallest models."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aebench import Capabilities, TorchModel


@dataclass(frozen=True)
class Cfg:
    @classmethod
    def tiny(cls):
        return cls()


class LinearAE(TorchModel):
    capabilities = Capabilities(inputs=("vector",))

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        self.enc, self.dec = nn.Linear(spec.dim, code_size), nn.Linear(code_size, spec.dim)

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)

    def loss(self, batch):
        return ((self.decode(self.encode(batch)) - batch) ** 2).mean()


class OwnFit(LinearAE):
    """A model with its own ``fit`` that neither takes ``ctx.batches`` nor says what it saw
    (as a wrapped library's fit may): its training throughput is unmeasured."""

    def fit(self, train, ctx):
        with torch.no_grad():
            self.dec.bias.copy_(train.mean(0))


class ClosedForm(OwnFit):
    """An own ``fit`` that is one solve over every example, and says so."""

    def fit(self, train, ctx):
        super().fit(train, ctx)
        ctx.samples_seen, ctx.closed_form = int(train.shape[0]), True
