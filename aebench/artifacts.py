"""Per-example arrays stored beside each record (``seed-N.npz``), for statistics and pictures.

Paired tests over test examples and ROC/PR curves need per-example values; pictures need a
few reconstructions, samples and codes. They are plain numeric arrays in an ``.npz`` written
atomically (the same arrays give the same bytes), and read with ``allow_pickle=False``: nothing
from a results directory executes. The record holds the file's SHA-256, so arrays that are not
the record's own (a rerun killed between writing the two, a file edited or swapped) are
reported and not used.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aebench import storage
from aebench.errors import AebenchError, AebenchWarning

#: how many test examples the pictures use
N_PICTURE = 16
N_CODES = 2000
N_SAMPLES = 64


def sidecar(record_path: Path) -> Path:
    return record_path.with_suffix(".npz")


def write(path: Path, arrays: dict[str, Any]) -> str:
    """Write ``arrays`` atomically (temp file + rename), float arrays as float32; return the
    file's SHA-256 (for the record)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # an .npz numpy reads
        for k, v in arrays.items():
            if v is None:
                continue
            a = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
            if a.dtype.kind == "f":
                a = a.astype(np.float32)
            # a fixed timestamp (np.savez stamps the time): equal arrays, equal bytes and hash
            with z.open(zipfile.ZipInfo(f"{k}.npy", date_time=_EPOCH), "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    blob = buf.getvalue()
    storage.atomic_write(path, blob)
    return hashlib.sha256(blob).hexdigest()


_EPOCH = (1980, 1, 1, 0, 0, 0)


def read(path: Path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """The arrays in ``path``; AebenchError (one line) if they cannot be read as plain numeric
    arrays without unpickling, or if ``sha256`` is given and the file's differs."""
    try:
        blob = path.read_bytes()
        if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
            raise AebenchError(f"{path}: not the arrays its record was written with (SHA-256)")
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except AebenchError:
        raise
    except Exception as exc:  # whatever a damaged or hostile file makes the zip/npy readers say
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise AebenchError(f"{path}: unreadable arrays ({type(exc).__name__}: {reason})") from None


def of_record(record: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """A stored record's arrays, or None if it has none usable (reported as a warning)."""
    side = sidecar(Path(record["_path"])) if record.get("_path") else None
    if side is None or not side.exists():
        return None
    try:
        return read(side, record.get("arrays_sha256"))
    except AebenchError as exc:
        warnings.warn(
            f"{exc}; its per-example values and pictures are not used", AebenchWarning, stacklevel=2
        )
        return None


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
