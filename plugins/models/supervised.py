"""Reference row: a SUPERVISED upper bound, logistic regression trained with the labels.

It sees the anomaly labels of every training example (the other rows never do), so it shows
how much of the task labels would buy; it is marked supervised wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, Model, hookimpl


@dataclass(frozen=True)
class SupervisedConfig:
    C: float = 1.0
    max_iter: int = 1000

    @classmethod
    def tiny(cls) -> SupervisedConfig:
        return cls(max_iter=100)


class SupervisedLogReg(Model):
    """scikit-learn LogisticRegression on the same features, trained with labels."""

    capabilities = Capabilities(inputs=("vector",), tasks=("anomaly",), supervised=True)

    def __init__(self, spec: DataSpec, code_size: int, config: SupervisedConfig) -> None:
        super().__init__(spec, 0, config)
        self.clf = None

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        from sklearn.linear_model import LogisticRegression

        if ctx.labels is None:
            raise ValueError("the supervised reference needs labels (anomaly protocols only)")
        self.clf = LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)
        self.clf.fit(train.cpu().numpy(), ctx.labels.cpu().numpy())
        ctx.samples_seen = int(train.shape[0])

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a classifier has no code")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("a classifier has no decoder")

    def anomaly_score(self, x: Tensor) -> Tensor:
        return torch.from_numpy(self.clf.decision_function(x.cpu().numpy())).to(x.device)


@hookimpl
def aebench_register_models(register):
    register(
        "logreg-supervised",
        SupervisedLogReg,
        config=SupervisedConfig,
        tags=("reference", "supervised"),
    )
