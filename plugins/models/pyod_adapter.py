"""PyOD detectors as aebench models: reference rows from the outlier-detection library PyOD
(Zhao, Nasrullah & Li 2019, "PyOD: A Python Toolbox for Scalable Outlier Detection", JMLR;
Chen et al. 2024, PyOD 2).

An optional extra: ``pip install aebench[pyod]`` (PyOD 3.6.7). Without PyOD installed the hook
registers nothing, so the plugin neither shows as broken nor adds rows.

Each detector is trained with PyOD's own defaults on exactly the examples the protocol gives
every model (normal-only or contaminated), seeded from the run's generator, and its anomaly
score is PyOD's ``decision_function`` on new data. The harness's label-free threshold applies
to it as to every other row; PyOD's own ``contamination`` threshold is not used.

- ``pyod-autoencoder``: ``pyod.models.auto_encoder.AutoEncoder`` (an MLP with batch norm and
  dropout, trained on standardised features, scored by Euclidean distance in standardised
  space). Its epochs are capped so that it never sees more examples than the protocol budget.
- ``pyod-iforest``: ``pyod.models.iforest.IForest`` (scikit-learn's IsolationForest inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aebench import Capabilities, DataSpec, FitContext, Model, hookimpl


@dataclass(frozen=True)
class PyODAutoEncoderConfig:
    """PyOD 3.6.7's AutoEncoder defaults (tuples where PyOD takes lists)."""

    epoch_num: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    hidden_neuron_list: tuple[int, ...] = (64, 32)
    hidden_activation_name: str = "relu"
    batch_norm: bool = True
    dropout_rate: float = 0.2
    #: PyOD's feature standardisation (mean / (std + 1e-8) of the training inputs)
    preprocessing: bool = True

    @classmethod
    def tiny(cls) -> PyODAutoEncoderConfig:
        return cls(epoch_num=2, hidden_neuron_list=(8, 4))


@dataclass(frozen=True)
class PyODIForestConfig:
    """PyOD 3.6.7's IForest defaults."""

    n_estimators: int = 100
    max_samples: str | int = "auto"
    max_features: float = 1.0
    bootstrap: bool = False

    @classmethod
    def tiny(cls) -> PyODIForestConfig:
        return cls(n_estimators=10)


class _PyODDetector(Model):
    """A fitted PyOD detector; subclasses say how to build it."""

    capabilities = Capabilities(inputs=("vector",), tasks=("anomaly",))

    def __init__(self, spec: DataSpec, code_size: int, config) -> None:
        super().__init__(spec, 0, config)
        self.detector = None

    def _build(self, n: int, seed: int, ctx: FitContext):
        raise NotImplementedError

    def fit(self, train: Tensor, ctx: FitContext) -> None:
        # PyOD takes an int seed; draw it from the run's generator like every other model
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=ctx.generator, device=ctx.device))
        self.detector = self._build(int(train.shape[0]), seed, ctx)
        self.detector.fit(train.cpu().numpy())

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a PyOD detector has no code")

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError("a PyOD detector has no decoder")

    def anomaly_score(self, x: Tensor) -> Tensor:
        scores = self.detector.decision_function(x.cpu().numpy())
        return torch.from_numpy(np.asarray(scores, dtype=np.float64)).to(x.device)


class PyODAutoEncoder(_PyODDetector):
    """PyOD's AutoEncoder; score = distance between standardised input and reconstruction."""

    def _build(self, n: int, seed: int, ctx: FitContext):
        from pyod.models.auto_encoder import AutoEncoder

        c = self.config
        bs = min(c.batch_size, n)
        per_epoch = (n // bs) * bs  # PyOD's loader drops the last partial batch
        epochs = max(1, min(c.epoch_num, ctx.budget_samples // per_epoch))
        ctx.samples_seen, ctx.step, ctx.epoch = epochs * per_epoch, epochs * (n // bs), epochs
        return AutoEncoder(
            preprocessing=c.preprocessing,
            lr=c.lr,
            epoch_num=epochs,
            batch_size=bs,
            device=str(ctx.device),
            random_state=seed,
            verbose=0,
            optimizer_params={"weight_decay": c.weight_decay},
            hidden_neuron_list=list(c.hidden_neuron_list),
            hidden_activation_name=c.hidden_activation_name,
            batch_norm=c.batch_norm,
            dropout_rate=c.dropout_rate,
        )

    def parameter_count(self) -> int:
        if self.detector is None or getattr(self.detector, "model", None) is None:
            return 0
        return sum(p.numel() for p in self.detector.model.parameters())


class PyODIForest(_PyODDetector):
    """PyOD's IForest; score = PyOD's (inverted) isolation-forest decision function."""

    def _build(self, n: int, seed: int, ctx: FitContext):
        from pyod.models.iforest import IForest

        c = self.config
        ctx.samples_seen = n
        return IForest(
            n_estimators=c.n_estimators,
            max_samples=c.max_samples,
            max_features=c.max_features,
            bootstrap=c.bootstrap,
            random_state=seed,
        )


@hookimpl
def aebench_register_models(register):
    try:
        import pyod  # noqa: F401
    except ImportError:  # an optional extra: absent means no rows, not a broken plugin
        return
    tags = ("reference", "pyod")
    register("pyod-autoencoder", PyODAutoEncoder, config=PyODAutoEncoderConfig, tags=tags)
    register("pyod-iforest", PyODIForest, config=PyODIForestConfig, tags=tags)
