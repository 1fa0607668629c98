"""Per-example arrays stored beside each record (``seed-N.npz``), for statistics and pictures.

Paired tests over test examples and ROC/PR curves need per-example values; pictures need a
few reconstructions, samples and codes. They are plain numeric arrays in an ``.npz`` written
atomically (the same arrays give the same bytes), and read with ``allow_pickle=False``: nothing
from a results directory executes. The record holds the file's SHA-256, so arrays that are not
the record's own (a rerun killed between writing the two, a file edited or swapped) are
reported and not used.

An array equal to one written before it in the same file (a model whose anomaly score is its
reconstruction error stores the same 10,000 values twice) is stored once: the file holds a
member ``__same_as__<name>.npy`` with the earlier array's name, and ``read`` gives both names.
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

from aebench.errors import AebenchError, AebenchWarning
from aebench.records import groups, storage

#: how many test examples the pictures use
N_PICTURE = 16
N_CODES = 2000
N_SAMPLES = 64
#: interpolations: test pairs (0, 1), (2, 3), … of the first test examples, decoded at this many
#: evenly spaced points of the straight line between their codes, ends included
N_PAIRS = 4
N_STEPS = 8


def sidecar(record_path: Path) -> Path:
    return record_path.with_suffix(".npz")


def write(path: Path, arrays: dict[str, Any]) -> str:
    """Write ``arrays`` atomically (temp file + rename), float arrays as float32, each member
    deflated (lossless; an ``.npz`` as ``np.savez_compressed`` writes it); return the file's
    SHA-256 (for the record)."""
    buf = io.BytesIO()
    seen: dict[tuple[str, tuple[int, ...], bytes], str] = {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # an .npz numpy reads
        for k, v in arrays.items():
            if v is None:
                continue
            a = v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)
            if a.dtype.kind == "f":
                a = a.astype(np.float32)
            if a.nbytes >= _ALIAS_BYTES:
                digest = _digest(a)
                if digest in seen:  # the same values as an earlier member: stored once
                    k, a = f"{_SAME}{k}", np.array([seen[digest]])
                else:
                    seen[digest] = k
            # a fixed timestamp (np.savez stamps the time): equal arrays, equal bytes and hash;
            # a ZipInfo is stored uncompressed unless told, whatever the ZipFile's default
            info = zipfile.ZipInfo(f"{k}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    blob = buf.getvalue()
    storage.atomic_write(path, blob)
    return hashlib.sha256(blob).hexdigest()


_EPOCH = (1980, 1, 1, 0, 0, 0)
#: the member-name prefix of an array stored as the name of an equal earlier one
_SAME = "__same_as__"
#: arrays smaller than this are stored as they are, even when equal to another
_ALIAS_BYTES = 1024


def read(path: Path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """The arrays in ``path``; AebenchError (one line) if they cannot be read as plain numeric
    arrays without unpickling, or if ``sha256`` is given and the file's differs."""
    try:
        blob = path.read_bytes()
        if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
            raise AebenchError(f"{path}: not the arrays its record was written with (SHA-256)")
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for k in [k for k in arrays if k.startswith(_SAME)]:
            name = arrays.pop(k)
            if name.dtype.kind != "U" or name.size != 1:
                raise ValueError(f"{k} does not name one array")
            arrays[k[len(_SAME) :]] = arrays[str(name.reshape(-1)[0])]
        return arrays
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


#: arrays only ``aebench plot`` reads; every other array feeds a table or a statistic
PICTURES = ("picture_inputs", "picture_recons", "samples", "interpolations")
FIGURE_ONLY = (*PICTURES, "codes", "code_view", "code_labels")


def code_view(codes) -> np.ndarray:
    """What the codes figure draws (``aebench.report.plots.latent_views``): the codes themselves
    where they have at most 2 dimensions, else their first two principal components
    (scikit-learn's PCA, seeded). A 256-unit code of 2,000 examples is 2 MB, its view 16 kB."""
    from sklearn.decomposition import PCA

    z = np.asarray(codes, dtype=np.float64)
    if z.shape[1] > 2:
        z = PCA(n_components=2, random_state=0).fit_transform(z)
    return z.astype(np.float32)


def is_image(shape) -> bool:
    """A (1, H, W) example: the only shape the picture grids draw (``aebench.report.plots``)."""
    return bool(shape) and len(shape) == 3 and shape[0] == 1


def keeps_figures(seed: int, seeds) -> bool:
    """Whether a run stores the figure-only arrays: the figures draw on each model's lowest
    seed, so of a protocol's seeds only the first keeps them (a seed outside the protocol's,
    a user's own run, keeps them too); the per-example values every statistic resamples are
    kept for every seed."""
    seeds = list(seeds)
    return not seeds or seed == seeds[0] or seed not in seeds


@torch.no_grad()
def picture_arrays(
    model,
    test_x: Tensor,
    test_y: Tensor | None,
    seed: int,
    generative: bool,
    reconstructs: bool,
    image: bool = True,
) -> dict[str, Tensor | None]:
    """Reconstructions of the first test images, samples and codes, for ``aebench plot``
    (pictures and samples only of ``image`` data: no figure draws a bag of words)."""
    out: dict[str, Tensor | None] = {}
    if reconstructs:
        if image:
            x = test_x[:N_PICTURE]
            out["picture_inputs"] = x
            out["picture_recons"] = model.reconstruct(x)
            out["interpolations"] = interpolations(model, test_x)
        n = min(N_CODES, test_x.shape[0])
        codes = torch.cat([model.encode(test_x[i : i + 500]) for i in range(0, n, 500)])
        if codes.shape[1] > 0:
            out["code_view"] = torch.from_numpy(code_view(codes.float().cpu().numpy()))
            out["code_labels"] = test_y[:n] if test_y is not None else None
    if generative and image:
        g = torch.Generator(device=test_x.device).manual_seed(seed)
        out["samples"] = model.sample(N_SAMPLES, g)
    return out


@torch.no_grad()
def interpolations(model, test_x: Tensor) -> Tensor | None:
    """Decoded straight-line paths between the codes of test pairs (0, 1), (2, 3), …:
    (pairs, N_STEPS, D) as uint8 (x · 255, clipped to [0, 1]: 25 kB for 4 pairs of 28×28),
    ends included; None where there are too few test examples or the code is empty. Lecture
    003's interpolation, done at evaluation time because models are not kept."""
    n = min(N_PAIRS, test_x.shape[0] // 2)
    if n < 1:
        return None
    z = model.encode(test_x[: 2 * n])
    if z.dim() != 2 or z.shape[1] == 0:
        return None
    t = torch.linspace(0.0, 1.0, N_STEPS, device=z.device, dtype=z.dtype)[None, :, None]
    start, end = z[0::2, None, :], z[1::2, None, :]
    path = (start + t * (end - start)).reshape(n * N_STEPS, -1)  # (1 - t)·z₀ + t·z₁
    images = model.decode(path).reshape(n, N_STEPS, -1).float()
    return images.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def compact(record_path: Path) -> int:
    """Apply today's storage rule to a stored record's arrays (figure-only arrays of seeds
    after the first and pictures of non-image data dropped; codes replaced by their view; every
    per-example value the statistics use kept; members deflated; equal arrays stored once); the
    record's ``arrays_sha256`` follows. Returns bytes saved."""
    record = storage.read_record(record_path)
    side = sidecar(record_path)
    if not side.exists() or record.get("status") != "ok":
        return 0
    arrays = read(side, record.get("arrays_sha256"))
    drop = set()
    if not is_image(record.get("dataset", {}).get("shape")):
        drop |= set(PICTURES)
    if not keeps_figures(record["seed"], record.get("protocol", {}).get("seeds") or []):
        drop |= set(FIGURE_ONLY)
    if "codes" in arrays and "codes" not in drop:  # stored before: only the view is drawn
        arrays["code_view"] = code_view(arrays["codes"])
        drop.add("codes")
    if not drop & set(arrays) and _deflated(side) and not _unshared(side, arrays):
        return 0
    before = side.stat().st_size
    record["arrays_sha256"] = write(side, {k: v for k, v in arrays.items() if k not in drop})
    storage.write_record(record_path, record)
    return before - side.stat().st_size


def drop_superseded(results_dir: Path, stale: groups.Staleness | None = None) -> tuple[int, int]:
    """Remove the arrays of the records on superseded boards
    (:func:`aebench.records.groups.superseded`: shown as recorded, never tested) but for each
    model's first seed (its figures); each such record says so in ``arrays_not_kept``.
    ``stale``: today's implementation checker
    (:func:`aebench.run.implementation.checker`), so that a newer version whose every row is stale
    supersedes nothing. Returns (records, bytes saved)."""
    records, _ = storage.load_records(results_dir)
    newer = groups.superseded(records, stale)
    n = saved = 0
    for r in records:
        top = newer.get((r["group"], r["dataset"]["name"]))
        side = sidecar(Path(r["_path"]))
        if top is None or keeps_figures(r["seed"], r["protocol"].get("seeds") or []):
            continue
        if not side.exists():
            continue
        saved += side.stat().st_size
        r["arrays_sha256"] = None
        r["arrays_not_kept"] = f"superseded by {top}: no statistic resamples this board"
        storage.write_record(Path(r["_path"]), r)
        side.unlink()
        n += 1
    return n, saved


def _digest(a: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """What makes two arrays the same to store: dtype, shape and bytes."""
    return a.dtype.str, a.shape, hashlib.sha256(np.ascontiguousarray(a)).digest()


def _unshared(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Whether ``path`` stores an array twice that ``write`` would store once (a file written
    before equal arrays were shared)."""
    with zipfile.ZipFile(path) as z:
        if any(n.startswith(_SAME) for n in z.namelist()):
            return False
    seen = set()
    for a in arrays.values():
        if a.nbytes >= _ALIAS_BYTES:
            key = _digest(a)
            if key in seen:
                return True
            seen.add(key)
    return False


def _deflated(path: Path) -> bool:
    with zipfile.ZipFile(path) as z:
        return all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
