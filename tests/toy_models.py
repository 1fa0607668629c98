"""A linear autoencoder and an empty config: the smallest model the harness can run."""

from __future__ import annotations

from dataclasses import dataclass

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
