"""Readers for a user's data files: ``.npz``, ``.npy``, CSV and IDX, as plain numeric arrays.

:func:`read` takes a file or a folder and returns a :class:`Raw`: the examples (and labels,
when the files have them) of the training split and, when the files give one, the test split.
Arrays are read with ``allow_pickle=False``: a file can hold numbers, never code. Every problem
is a one-line :class:`DataError` that names the file and says what to change.

Accepted layouts:

- ``NAME.npz`` with ``X`` (and ``y``): the layout ADBench ships its classical data sets in;
- ``NAME.npz`` with ``x_train``, ``x_test`` (and ``y_train``, ``y_test``);
- a folder with ``x_train.npy``, ``x_test.npy`` (and ``y_train.npy``, ``y_test.npy``), or with
  ``X.npy`` (and ``y.npy``); a lone ``NAME.npy`` holds examples only;
- ``NAME.csv``, or a folder with ``train.csv`` and ``test.csv``: numeric columns, an optional
  header row, and an optional label column (any values: numbers or words);
- a folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  and ``t10k-``/``test-`` ones), MNIST's format.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aebench import DataError, parse_idx, read_gzip

__all__ = ["LABEL_NAMES", "Raw", "read"]

#: header names taken for the label column when none is named
LABEL_NAMES = ("label", "y")
_ACCEPTED = "a .npz (X/y, or x_train/x_test), .npy, .csv or IDX file, or a folder of them"
_IDX_NAME = re.compile(r"(train|t10k|test)-(images|labels)-idx\d-ubyte(\.gz)?")


@dataclass
class Raw:
    """What the files hold: ``(N, ...)`` examples, optional labels, per split given."""

    layout: str
    x_train: np.ndarray
    y_train: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    #: role ("data", "x_train", "train", ...) -> the file it came from
    files: dict[str, Path] = field(default_factory=dict)
    #: the CSV column the labels came from
    label_column: str | None = None


def read(path: Path, label_column: str | int | None = None) -> Raw:
    """Read ``path`` (a file or a folder) in whichever accepted layout it holds.

    :param label_column: CSV only: the label column's header name or 0-based index; ``None``
        takes a column headed ``label`` or ``y`` if there is one; ``""`` means no labels.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path (-d takes {_ACCEPTED})")
    raw = _read_folder(path, label_column) if path.is_dir() else _read_file(path, label_column)
    _check(raw)
    return raw


def _read_file(path: Path, label_column: str | int | None) -> Raw:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _npz(path)
    if suffix == ".npy":
        return Raw("npy", _npy(path), files={"x": path})
    if suffix == ".csv":
        x, y, used = _csv(path, label_column)
        return Raw("csv", x, y, files={"data": path}, label_column=used)
    if _IDX_NAME.fullmatch(path.name):
        return Raw("idx", _idx(path), files={"x": path})
    raise DataError(f"{path}: not a file type aebench reads; -d takes {_ACCEPTED}")


def _read_folder(folder: Path, label_column: str | int | None) -> Raw:
    names = {p.name: p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    lower = {n.lower(): p for n, p in names.items()}
    npz = [p for n, p in names.items() if n.lower().endswith(".npz")]
    idx = {n: p for n, p in names.items() if _IDX_NAME.fullmatch(n)}
    found = {
        "npz": bool(npz),
        "npy": "x_train.npy" in lower or "x.npy" in lower,
        "csv": [n for n in lower if n.endswith(".csv")] != [],
        "idx": bool(idx),
    }
    layouts = [k for k, v in found.items() if v]
    if not layouts:
        raise DataError(f"{folder}: no data files here; -d takes {_ACCEPTED}")
    if len(layouts) > 1 or len(npz) > 1:
        raise DataError(
            f"{folder}: holds files of more than one data set ({', '.join(sorted(names))}); "
            "point -d at one file, or keep one data set per folder"
        )
    if npz:
        return _npz(npz[0])
    if found["npy"]:
        return _npy_folder(folder, lower)
    if found["csv"]:
        return _csv_folder(folder, lower, label_column)
    return _idx_folder(folder, idx)


# -- .npz / .npy ------------------------------------------------------------------------------


def _npz(path: Path) -> Raw:
    arrays = _load_npz(path)
    keys = {k.lower(): k for k in arrays}
    if "x" in keys and "x_train" in keys:
        raise DataError(
            f"{path}: holds both X and x_train; keep one layout (X/y or x_train/x_test)"
        )
    if "x" in keys:
        y = arrays[keys["y"]] if "y" in keys else None
        return Raw("npz (X/y)", arrays[keys["x"]], y, files={"data": path})
    if "x_train" in keys and "x_test" in keys:
        get = {k: arrays[keys[k]] if k in keys else None for k in ("y_train", "y_test")}
        if (get["y_train"] is None) != (get["y_test"] is None):
            raise DataError(f"{path}: has labels for one split only; give y_train and y_test")
        return Raw(
            "npz (x_train/x_test)",
            arrays[keys["x_train"]],
            get["y_train"],
            arrays[keys["x_test"]],
            get["y_test"],
            files={"data": path},
        )
    raise DataError(
        f"{path}: arrays {sorted(arrays)}; expected X (and y), or x_train and x_test "
        "(and y_train, y_test)"
    )


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; save arrays into it with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {}
            for key in z.files:
                try:
                    out[key] = z[key]
                except ValueError as exc:
                    if "Object arrays" not in str(exc):
                        raise
                    raise DataError(_object_message(path, key)) from None
            return out
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:  # not a zip of arrays
        raise DataError(
            f"{path}: not a valid .npz file ({exc}); write it with numpy.savez"
        ) from None


def _npy(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; write an array into it with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise DataError(_object_message(path, None)) from None
        raise DataError(
            f"{path}: not a valid .npy file ({exc}); write it with numpy.save"
        ) from None
    except (OSError, EOFError) as exc:
        raise DataError(
            f"{path}: not a valid .npy file ({exc}); write it with numpy.save"
        ) from None


def _object_message(path: Path, key: str | None) -> str:
    what = f"array {key!r}" if key else "the array"
    return (
        f"{path}: {what} holds Python objects (dtype object), which aebench never unpickles; "
        "save numbers (e.g. X.astype(float)) or strings (labels.astype(str)) instead"
    )


def _npy_folder(folder: Path, lower: dict[str, Path]) -> Raw:
    if "x_train.npy" in lower or "x_test.npy" in lower:
        for need in ("x_train.npy", "x_test.npy"):
            if need not in lower:
                raise DataError(f"{folder}: {need} is missing beside the other split's file")
        labels = [lower.get("y_train.npy"), lower.get("y_test.npy")]
        if (labels[0] is None) != (labels[1] is None):
            raise DataError(f"{folder}: labels for one split only; give y_train.npy and y_test.npy")
        files = {
            r: lower[f"{r}.npy"]
            for r in ("x_train", "x_test", "y_train", "y_test")
            if f"{r}.npy" in lower
        }
        arr = {r: _npy(p) for r, p in files.items()}
        return Raw(
            "npy (x_train/x_test)",
            arr["x_train"],
            arr.get("y_train"),
            arr["x_test"],
            arr.get("y_test"),
            files=files,
        )
    files = {"x": lower["x.npy"], **({"y": lower["y.npy"]} if "y.npy" in lower else {})}
    y = _npy(files["y"]) if "y" in files else None
    return Raw("npy (X/y)", _npy(files["x"]), y, files=files)


# -- CSV ---------------------------------------------------------------------------------------


def _csv_folder(folder: Path, lower: dict[str, Path], label_column: str | int | None) -> Raw:
    csvs = [n for n in lower if n.endswith(".csv")]
    if set(csvs) == {"train.csv", "test.csv"}:
        x, y, used = _csv(lower["train.csv"], label_column)
        xt, yt, _ = _csv(lower["test.csv"], label_column)
        if (y is None) != (yt is None):
            raise DataError(f"{folder}: train.csv and test.csv differ in having a label column")
        files = {"train": lower["train.csv"], "test": lower["test.csv"]}
        return Raw("csv (train/test)", x, y, xt, yt, files=files, label_column=used)
    if len(csvs) == 1:
        x, y, used = _csv(lower[csvs[0]], label_column)
        return Raw("csv", x, y, files={"data": lower[csvs[0]]}, label_column=used)
    raise DataError(
        f"{folder}: holds {len(csvs)} CSV files; give train.csv and test.csv, or one file"
    )


def _csv(
    path: Path, label_column: str | int | None
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """(examples, labels or None, the label column's name) from one CSV file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [(n, row) for n, row in _numbered(csv.reader(f)) if row]
    if not rows:
        raise DataError(f"{path}: empty file; it needs rows of numbers (and a header, if any)")
    first = rows[0][1]
    header = not all(_is_number(v) for v in first)
    names = [v.strip() for v in first] if header else [str(i) for i in range(len(first))]
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path}: empty file (a header and no rows)")
    label = _label_index(path, names, header, label_column)
    width = len(names)
    x = np.empty((len(body), width - (label is not None)), np.float64)
    y = [] if label is not None else None
    features = [i for i in range(width) if i != label]
    for row_i, (line, row) in enumerate(body):
        if len(row) != width:
            raise DataError(
                f"{path}, line {line}: {len(row)} fields where the first row has {width}; "
                "every row needs the same columns"
            )
        for j, i in enumerate(features):
            x[row_i, j] = _number(path, line, names[i], row[i])
        if y is not None:
            y.append(row[label].strip())
    labels = None if y is None else _typed_labels(np.array(y))
    return x, labels, (names[label] if label is not None else None)


def _numbered(reader):
    for row in reader:
        yield reader.line_num, row


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        what = "an empty field" if not text.strip() else f"{text.strip()!r} is not a number"
        raise DataError(
            f"{path}, line {line}, column {column!r}: {what}; features must be numbers (drop "
            f"the column, or name it as the label column: label_column={column})"
        ) from None
    if not np.isfinite(value):
        raise DataError(
            f"{path}, line {line}, column {column!r}: {text.strip()!r} is not a finite number; "
            "remove or impute missing and infinite values first"
        )
    return value


def _label_index(path: Path, names: list[str], header: bool, label_column) -> int | None:
    if label_column == "":
        return None
    if label_column is None:
        found = [i for i, n in enumerate(names) if header and n.lower() in LABEL_NAMES]
        return found[0] if found else None
    text = str(label_column)
    if header and text in names:
        return names.index(text)
    if re.fullmatch(r"-?\d+", text) and -len(names) <= int(text) < len(names):
        return int(text) % len(names)
    raise DataError(
        f"{path}: no column {text!r} for labels (columns: {', '.join(names[:20])}); "
        "give label_column=NAME or a 0-based index"
    )


def _typed_labels(y: np.ndarray) -> np.ndarray:
    """CSV label text as numbers when every one is a number, else as strings."""
    try:
        return y.astype(np.float64)
    except ValueError:
        return y.astype(str)


# -- IDX ---------------------------------------------------------------------------------------


def _idx(path: Path) -> np.ndarray:
    data = read_gzip(path) if path.name.endswith(".gz") else _bytes(path)
    return parse_idx(data, path)


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if not data:
        raise DataError(f"{path}: empty file")
    return data


def _idx_folder(folder: Path, idx: dict[str, Path]) -> Raw:
    roles: dict[str, Path] = {}
    for name, p in idx.items():
        m = _IDX_NAME.fullmatch(name)
        split = "train" if m.group(1) == "train" else "test"
        role = f"{split}-{m.group(2)}"
        if role in roles:
            raise DataError(
                f"{folder}: two files for {role} ({roles[role].name}, {name}); keep one"
            )
        roles[role] = p
    if "train-images" not in roles:
        raise DataError(f"{folder}: no train-images-idx3-ubyte file among the IDX files")
    arr = {r: _idx(p) for r, p in roles.items()}
    for split in ("train", "test"):
        img, lab = f"{split}-images", f"{split}-labels"
        if lab in arr and img not in arr:
            raise DataError(f"{folder}: {roles[lab].name} has no images file beside it")
    if ("train-labels" in arr) != ("test-labels" in arr) and "test-images" in arr:
        raise DataError(f"{folder}: labels for one split only; give both labels files")
    return Raw(
        "idx",
        arr["train-images"],
        arr.get("train-labels"),
        arr.get("test-images"),
        arr.get("test-labels"),
        files=roles,
    )


# -- checks ------------------------------------------------------------------------------------


def _check(raw: Raw) -> None:
    """Numbers only, finite, non-empty, labels one per example, train and test alike."""
    where = next(iter(raw.files.values()))
    for split in ("train", "test"):
        x, y = getattr(raw, f"x_{split}"), getattr(raw, f"y_{split}")
        if x is None:
            continue
        name = _file_of(raw, split, "x")
        if x.dtype.kind not in "biuf":
            raise DataError(
                f"{name}: examples of dtype {x.dtype} are not numbers; convert them to floats"
            )
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"{name}: no examples (empty array); it needs at least one row")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
            raise DataError(
                f"{name}: NaN or infinite value in example {bad}; remove or impute missing and "
                "infinite values first"
            )
        if y is not None:
            yname = _file_of(raw, split, "y")
            if y.ndim != 1 or len(y) != len(x):
                raise DataError(
                    f"{yname}: {y.shape[0] if y.ndim else 0} labels of shape {y.shape} for "
                    f"{len(x)} examples; give one label per example"
                )
            if y.dtype.kind == "f" and not np.isfinite(y).all():
                raise DataError(f"{yname}: NaN or infinite label; every example needs a label")
            if y.dtype.kind not in "biufUS":
                raise DataError(f"{yname}: labels of dtype {y.dtype}; use numbers or strings")
    if raw.x_test is not None and raw.x_test.shape[1:] != raw.x_train.shape[1:]:
        raise DataError(
            f"{_file_of(raw, 'train', 'x')} and {_file_of(raw, 'test', 'x')}: training examples "
            f"are {_shape(raw.x_train)} but test examples {_shape(raw.x_test)}; both splits need "
            f"the same features (in {where.parent})"
        )


def _file_of(raw: Raw, split: str, what: str) -> str:
    """Which file (and array) a split's examples or labels came from, for messages."""
    kind = "images" if what == "x" else "labels"
    for role in (f"{what}_{split}", split, f"{split}-{kind}", what, "data"):
        if role in raw.files:
            p = raw.files[role]
            if p.suffix != ".npz":
                return str(p)
            key = {"x": "X", "y": "y"}[what] if "X/y" in raw.layout else f"{what}_{split}"
            return f"{p} (array {key})"
    return str(next(iter(raw.files.values())))


def _shape(x: np.ndarray) -> str:
    return " x ".join(str(d) for d in x.shape[1:]) or "scalars"
