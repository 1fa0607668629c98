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


def load_model(record_path, registry=None, device="cpu"):
    """The trained model that made the record at ``record_path`` (a run made with ``aebench run
    --save-models``), rebuilt from the record's config and loaded, in eval mode; a record whose
    implementation fingerprint today's code no longer has is refused in one line. For users of
    results, not plugins: it imports the run layer only when called
    (:func:`aebench.run.saved.load_model`)."""
    from aebench.run.saved import load_model as load

    return load(record_path, registry, device)


def load_results(*results_dirs, with_record=False):
    """Every run stored in ``results_dirs`` as a pandas DataFrame, one row per run (protocol,
    data set, model, config fingerprint, seed, status, every metric, timings, provenance).
    For users of results, not plugins: imports the records layer only when called
    (:func:`aebench.records.frame.load_results`)."""
    from aebench.records.frame import load_results as load

    return load(*results_dirs, with_record=with_record)


def board_frame(*results_dirs, protocol=None, dataset=None, **options):
    """The boards of ``results_dirs`` as a pandas DataFrame with the means, intervals, marks
    and Holm-adjusted p-values ``aebench show`` prints. For users of results, not plugins:
    imports the report layer only when called (:func:`aebench.report.frames.board_frame`)."""
    from aebench.report.frames import board_frame as frame

    return frame(*results_dirs, protocol=protocol, dataset=dataset, **options)


__all__ = [
    # a saved model (``aebench run --save-models``)
    "load_model",
    # results as pandas DataFrames: one row per run, and boards as ``show`` prints them
    "load_results",
    "board_frame",
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
