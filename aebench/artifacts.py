"""Per-example arrays stored beside each record (``seed-N.npz``), for statistics and pictures.

Paired tests over test examples and ROC/PR curves need per-example values; pictures need a
few reconstructions, samples and codes. They are plain numeric arrays in an ``.npz`` written
atomically, and read with ``allow_pickle=False``: nothing from a results directory executes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aebench import storage

#: how many test examples the pictures use
N_PICTURE = 16
N_CODES = 2000
N_SAMPLES = 64


def sidecar(record_path: Path) -> Path:
    return record_path.with_suffix(".npz")


def write(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` atomically (temp file + rename), float arrays as float32."""
    clean = {}
    for k, v in arrays.items():
        if v is None:
            continue
        a = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
        if a.dtype.kind == "f":
            a = a.astype(np.float32)
        clean[k] = a
    buf = io.BytesIO()
    np.savez_compressed(buf, **clean)
    storage.atomic_write(path, buf.getvalue())


def read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@torch.no_grad()
def picture_arrays(
    model, test_x: Tensor, test_y: Tensor | None, seed: int, generative: bool, reconstructs: bool
) -> dict[str, Tensor | None]:
    """Reconstructions of the first test images, samples and codes, for ``aebench plot``."""
    out: dict[str, Tensor | None] = {}
    if reconstructs:
        x = test_x[:N_PICTURE]
        out["picture_inputs"] = x
        out["picture_recons"] = model.reconstruct(x)
        n = min(N_CODES, test_x.shape[0])
        codes = torch.cat([model.encode(test_x[i : i + 500]) for i in range(0, n, 500)])
        if codes.shape[1] > 0:
            out["codes"] = codes
            out["code_labels"] = test_y[:n] if test_y is not None else None
    if generative:
        g = torch.Generator(device=test_x.device).manual_seed(seed)
        out["samples"] = model.sample(N_SAMPLES, g)
    return out
