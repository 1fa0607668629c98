"""aebench: a reproducible, extensible benchmark harness for autoencoders.

This module is the plugin contract: every name a model or data-set plugin needs is imported
from here (``from aebench import ...``), and nothing else is. The harness's internals live in
the subpackages (``registry``, ``run``, ``execute``, ``records``, ``stats``, ``report``,
``tuning``, ``cli``).
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("aebench")

from aebench.data.files import (  # noqa: E402
    download,
    parse_idx,
    read_gzip,
    read_idx,
    safe_extract_member,
    sha256_bytes,
    sha256_file,
)
from aebench.data.imagesets import (  # noqa: E402
    IDX_SPLITS,
    ImageSet,
    ImageSetDataset,
    OfficialFile,
    gcn_l1_minmax,
    one_class_protocols,
)
from aebench.dataset import KINDS, AnomalyTask, Dataset, Splits, carve_validation  # noqa: E402
from aebench.errors import (  # noqa: E402
    AebenchError,
    AebenchWarning,
    DataError,
    Diverged,
    DuplicateError,
    PluginError,
    ProtocolError,
)
from aebench.model import (  # noqa: E402
    TOKEN_OOV,
    TOKEN_PAD,
    Capabilities,
    DataSpec,
    EvalContext,
    FitContext,
    LikelihoodEstimate,
    Model,
    TorchModel,
)
from aebench.protocol import Protocol  # noqa: E402
from aebench.tuning.space import Choice, Float, Int  # noqa: E402

__all__ = [
    # models
    "Capabilities",
    "DataSpec",
    "EvalContext",
    "FitContext",
    "LikelihoodEstimate",
    "Model",
    "TOKEN_OOV",
    "TOKEN_PAD",
    "TorchModel",
    # a model's search space (``register(..., search_space=...)``)
    "Choice",
    "Float",
    "Int",
    # data sets and their protocols
    "AnomalyTask",
    "Dataset",
    "KINDS",
    "Protocol",
    "Splits",
    "carve_validation",
    # helpers for data-set plugins: verified files, IDX image sets
    "IDX_SPLITS",
    "ImageSet",
    "ImageSetDataset",
    "OfficialFile",
    "download",
    "gcn_l1_minmax",
    "one_class_protocols",
    "parse_idx",
    "read_gzip",
    "read_idx",
    "safe_extract_member",
    "sha256_bytes",
    "sha256_file",
    # errors and warnings a plugin raises or emits
    "AebenchError",
    "AebenchWarning",
    "DataError",
    "Diverged",
    "DuplicateError",
    "PluginError",
    "ProtocolError",
    # the hook marker, the version
    "hookimpl",
    "__version__",
]
