"""Bit-reproducible CUDA runs: torch's deterministic switches, set for one run and recorded.

On CUDA a run turns on ``torch.use_deterministic_algorithms`` with ``warn_only=True``, cuDNN's
deterministic mode (no benchmark autotuning), and relies on ``CUBLAS_WORKSPACE_CONFIG``
(``:4096:8``), which cuBLAS reads when torch makes its first handle, so it is set when a CUDA
device is resolved (:func:`before_cuda`), before any work. ``warn_only``: an op with no
deterministic CUDA kernel (``nll_loss2d``, some pooling backwards, ``histc``...) then runs as
usual instead of failing the run, and the record names it and says the run is not
bit-reproducible. The previous switches are restored after the run. CPU runs change nothing:
torch's CPU kernels give the same bits for the same thread count, and forcing the
deterministic variants there could change the published CPU numbers.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["CUBLAS_CONFIG", "before_cuda", "settings"]

CUBLAS_VAR = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_CONFIG = ":4096:8"
_DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")  # the two values cuBLAS documents
_NOT_DETERMINISTIC = "does not have a deterministic implementation"


def before_cuda() -> None:
    """Set the cuBLAS workspace for reproducibility unless the user chose one (call before
    the process's first cuBLAS call: cuBLAS reads it once)."""
    os.environ.setdefault(CUBLAS_VAR, CUBLAS_CONFIG)


@contextlib.contextmanager
def settings(device: torch.device) -> Iterator[dict[str, Any]]:
    """Deterministic CUDA for the block; yields what was set, filled in as the run ends."""
    if device.type != "cuda":
        yield {"settings": "none (CPU: the same bits for the same thread count)"}
        return
    late = CUBLAS_VAR not in os.environ and torch.cuda.is_initialized()
    before_cuda()
    info: dict[str, Any] = {
        "deterministic_algorithms": True,
        "warn_only": True,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "cublas_workspace_config": os.environ[CUBLAS_VAR],
        # not determinism, but what "fp32" means here: TF32 matrix units round to 10 bits
        "tf32": {
            "matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32,
        },
        "nondeterministic_ops": [],
    }
    saved = _switches()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield info
    finally:
        _restore(saved)
        _sort_warnings(caught, info)
        caveats = [f"{op} has no deterministic CUDA kernel" for op in info["nondeterministic_ops"]]
        if info["cublas_workspace_config"] not in _DETERMINISTIC_CUBLAS:
            caveats.append(f"{CUBLAS_VAR}={info['cublas_workspace_config']} is not deterministic")
        if late:
            caveats.append(f"{CUBLAS_VAR} was set after CUDA started; cuBLAS may not use it")
        info["bit_reproducible"] = not caveats
        if caveats:
            info["caveats"] = caveats


def _sort_warnings(caught: list[warnings.WarningMessage], info: dict[str, Any]) -> None:
    """Keep torch's non-determinism alerts in ``info``; show every other warning once."""
    shown = set()
    for w in caught:
        text = str(w.message)
        if _NOT_DETERMINISTIC in text:
            op = text.split(_NOT_DETERMINISTIC, 1)[0].strip()
            if op not in info["nondeterministic_ops"]:
                info["nondeterministic_ops"].append(op)
        elif (key := (w.category, text, w.filename, w.lineno)) not in shown:
            shown.add(key)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _switches() -> tuple[bool, bool, bool, bool]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )


def _restore(saved: tuple[bool, bool, bool, bool]) -> None:
    algorithms, warn_only, cudnn_deterministic, cudnn_benchmark = saved
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_deterministic
    torch.backends.cudnn.benchmark = cudnn_benchmark
