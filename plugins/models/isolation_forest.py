"""Reference row: scikit-learn's IsolationForest (Liu, Ting & Zhou 2008) on the same features.

Not an autoencoder: it shows whether autoencoders earn their place on an anomaly task.
It trains on exactly what the protocol gives every model (normal-only or contaminated).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, Model, hookimpl


@dataclass(frozen=True)
class IsolationForestConfig:
    n_estimators: int = 100
    max_samples: str | int = "auto"

    @classmethod
    def tiny(cls) -> IsolationForestConfig:
        return cls(n_estimators=10)


class IsolationForest(Model):
    """scikit-learn IsolationForest; anomaly score = negated score_samples."""

    capabilities = Capabilities(inputs=("vector",), tasks=("anomaly",))

    def __init__(self, spec: DataSpec, code_size: int, config: IsolationForestConfig) -> None:
        super().__init__(spec, 0, config)
        self.forest = None

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        from sklearn.ensemble import IsolationForest as SkIF

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator, device=ctx.device))
        self.forest = SkIF(
            n_estimators=self.config.n_estimators,
            max_samples=self.config.max_samples,
            random_state=seed,
        )
        self.forest.fit(train.cpu().numpy())
        ctx.samples_seen = int(train.shape[0])

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("IsolationForest has no code")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("IsolationForest has no decoder")

    def anomaly_score(self, x: Tensor) -> Tensor:
        # score_samples is high for normal points; negate so that higher = more anomalous
        return torch.from_numpy(-self.forest.score_samples(x.cpu().numpy())).to(x.device)


@hookimpl
def aebench_register_models(register):
    register("isolation-forest", IsolationForest, config=IsolationForestConfig, tags=("reference",))
