"""aebench: a reproducible, extensible benchmark harness for autoencoders."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("aebench")

from aebench.dataset import AnomalyTask, Dataset, Splits  # noqa: E402
from aebench.errors import AebenchError, DataError, Diverged, DuplicateError, PluginError  # noqa: E402
from aebench.model import (  # noqa: E402
    TOKEN_OOV,
    TOKEN_PAD,
    Capabilities,
    DataSpec,
    FitContext,
    LikelihoodEstimate,
    Model,
    TorchModel,
)
from aebench.protocol import Protocol  # noqa: E402

__all__ = [
    "AebenchError",
    "AnomalyTask",
    "Capabilities",
    "DataError",
    "DataSpec",
    "Dataset",
    "Diverged",
    "DuplicateError",
    "FitContext",
    "LikelihoodEstimate",
    "Model",
    "PluginError",
    "Protocol",
    "Splits",
    "TOKEN_OOV",
    "TOKEN_PAD",
    "TorchModel",
    "__version__",
    "hookimpl",
]
