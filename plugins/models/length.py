"""Reference row with no model: the message's length in tokens as its anomaly score.

On SMS spam this trivial score already reaches AUROC ≈ 0.83; a model that does not beat it
has learned little. It reads the token view (lengths before padding are the non-pad tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, Model, hookimpl


@dataclass(frozen=True)
class LengthConfig:
    @classmethod
    def tiny(cls) -> LengthConfig:
        return cls()


class MessageLength(Model):
    """Anomaly score = number of tokens (padding id 0 excluded)."""

    capabilities = Capabilities(inputs=("tokens",), tasks=("anomaly",))

    def __init__(self, spec: DataSpec, code_size: int, config: LengthConfig) -> None:
        super().__init__(spec, 0, config)

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        ctx.samples_seen = 0  # nothing to learn

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("no model")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("no model")

    def anomaly_score(self, x: Tensor) -> Tensor:
        return (x != 0).sum(1).double()


@hookimpl
def aebench_register_models(register):
    register("length", MessageLength, config=LengthConfig, tags=("reference",))
