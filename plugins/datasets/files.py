"""Your own data, without writing a plugin: ``aebench run -d PATH``.

``PATH`` is a file or a folder in one of the layouts :mod:`filereaders` accepts (``.npz`` with
``X``/``y`` as ADBench ships them, or ``x_train``/``x_test``; ``.npy`` files; CSV; IDX). What
the files cannot say comes from a sidecar beside them (``NAME.aebench.toml`` or ``.json`` for
a file, ``aebench.toml`` or ``aebench.json`` in a folder) or from ``--data-option KEY=VALUE``
flags, which win over the sidecar:

- ``shape``: one example's shape, e.g. ``1,28,28`` (channels, height, width), so that image
  models apply; inferred from ``(N, H, W)`` or ``(N, C, H, W)`` arrays and from IDX files;
- ``anomaly``: the label value(s) that mark an anomaly (``1``, ``spam``, ``3,5``). With an
  ADBench ``X``/``y`` file whose labels are 0 and 1, 1 is taken (ADBench's convention);
- ``label_column``: the CSV column holding labels (default: one headed ``label`` or ``y``);
  ``none`` for no labels;
- ``task``: ``anomaly`` (the default when anomalies are marked) or ``reconstruction``;
  ``train``: ``normal`` (train on normal examples only, the default) or ``all``;
- ``split``: ``given`` when the files have a test split, else ``stratified`` (by label, or
  ``random`` without labels) with ``test_fraction`` (0.3) and ``split_seed`` (12345);
- ``scaling``, fitted on the training split: ``minmax`` per feature (the default for vectors),
  ``minmax-global`` (one minimum and maximum for all features: the default for images),
  ``standardize`` per feature, or ``none``. The built-in autoencoders model values in [0, 1];
- protocol settings: ``code_size`` (default 32, or half the features when there are fewer
  than 64), ``hidden_size`` (256), ``budget_samples`` (100,000), ``batch_size`` (128),
  ``lr``, ``val_fraction``, ``threshold_quantile``, ``seeds``. These defaults are fixed
  numbers, chosen without looking at any data.

The protocol is derived from those choices and fingerprinted with the files' SHA-256 and the
path's last name (not its folder: a copy of the same files elsewhere shares the board;
different files never do). The
anomaly task is the built-ins': train on normal examples, a threshold from held-out normal
data, every anomaly metric.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aebench import (
    AebenchWarning,
    AnomalyTask,
    DataError,
    Dataset,
    Protocol,
    Splits,
    hookimpl,
    sha256_file,
)
from aebench_plugins.datasets.filereaders import Raw, read

SCALINGS = ("minmax", "minmax-global", "standardize", "none")
TASKS = ("anomaly", "reconstruction")
SPLITS = ("given", "stratified", "random")

#: the settings every derived protocol starts from (fixed, not fitted to any data)
TEMPLATE = Protocol(
    name="files",
    version=1,
    dataset="files",
    code_size=32,
    hidden_size=256,
    budget_samples=100_000,
    batch_size=128,
    binarization="none",  # a user's values are not Bernoulli intensities
    iwae_k=1000,
    iwae_examples=1000,
    ais_betas=1000,
    description="your own files: aebench run -d PATH (the protocol is derived from them)",
)

#: option -> how its text (from a flag) becomes a value
_PROTOCOL_OPTIONS = {
    "code_size": int,
    "hidden_size": int,
    "budget_samples": int,
    "batch_size": int,
    "lr": float,
    "val_fraction": float,
    "threshold_quantile": float,
    "seeds": lambda v: tuple(_list(v, int)),
}
_DATA_OPTIONS = (
    "shape",
    "anomaly",
    "label_column",
    "task",
    "train",
    "split",
    "test_fraction",
    "split_seed",
    "scaling",
)

#: splits prepared while planning, so this process does not read the files twice
_PREPARED: dict[str, Splits] = {}


def from_files(path: Path, options: dict[str, Any]) -> Protocol:
    """The protocol for the files at ``path`` and the user's choices (sidecar, then flags).

    Reads and checks every file now, so that bad input stops before anything runs.
    """
    choices = {**_sidecar(path), **options}
    unknown = set(choices) - set(_DATA_OPTIONS) - set(_PROTOCOL_OPTIONS)
    if unknown:
        known = ", ".join((*_DATA_OPTIONS, *_PROTOCOL_OPTIONS))
        raise DataError(
            f"{path}: unknown data option(s) {', '.join(sorted(unknown))}; known: {known}"
        )
    label_column = _label_column(choices.get("label_column"))
    raw = read(path, label_column)
    hashes = {role: sha256_file(p) for role, p in raw.files.items()}
    params, settings = _choices(path, raw, choices, hashes)
    splits = _prepare(raw, params, path)
    base = dataclasses.replace(TEMPLATE, **settings, params=params)
    base = dataclasses.replace(base, batch_size=min(base.batch_size, _fit_size(splits, base)))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.resolve().name.split(".")[0])[:40] or "data"
    protocol = dataclasses.replace(
        base,
        name=f"files-{slug}-{base.fingerprint()[:8]}",
        location=str(path.resolve()),
        description=_describe(path, raw, params, base),
    )
    _PREPARED[protocol.fingerprint()] = splits
    return protocol


class Files(Dataset):
    """Your own files (aebench run -d PATH): npz, npy, CSV or IDX."""

    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        if not protocol.location:
            raise DataError(
                "the files data set reads files of your own: aebench run -d PATH "
                "(a .npz, .npy, .csv or IDX file, or a folder of them)"
            )
        if protocol.fingerprint() in _PREPARED:
            return _PREPARED[protocol.fingerprint()]
        path = Path(protocol.location)
        raw = read(path, protocol.params.get("label_column") or "")
        for role, p in raw.files.items():
            if sha256_file(p) != protocol.params["files"].get(role):
                raise DataError(
                    f"{p}: changed since protocol {protocol.key} was derived from it (SHA-256 "
                    "differs); run `aebench run -d PATH` again for the new content"
                )
        return _prepare(raw, protocol.params, path)


# -- choices -----------------------------------------------------------------------------------


def _sidecar(path: Path) -> dict[str, Any]:
    """The options in the sidecar beside ``path`` (none if there is no sidecar)."""
    if path.is_dir():
        candidates = [path / "aebench.toml", path / "aebench.json"]
    else:
        stem = path.with_suffix("")
        candidates = [
            stem.with_name(stem.name + ".aebench.toml"),
            stem.with_name(stem.name + ".aebench.json"),
        ]
    found = [c for c in candidates if c.is_file()]
    if len(found) > 1:
        raise DataError(f"{found[0]} and {found[1]}: two sidecars; keep one")
    if not found:
        return {}
    side = found[0]
    try:
        if side.suffix == ".json":
            data = json.loads(side.read_text(encoding="utf-8"))
        else:
            import tomllib

            data = tomllib.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSON and TOML errors are ValueErrors
        raise DataError(f"{side}: not valid {side.suffix[1:].upper()} ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f'{side}: expected a table of options, e.g. scaling = "none"')
    return data


def _label_column(value: Any) -> str | int | None:
    if value is None:
        return None
    return "" if str(value).strip().lower() in ("", "none") else value


def _choices(
    path: Path, raw: Raw, choices: dict[str, Any], hashes: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``params`` for the protocol: every data choice made explicit; protocol settings)."""
    labels = raw.y_train is not None
    shape = _shape(path, raw, choices.get("shape"))
    anomaly, note = _anomaly_values(path, raw, choices.get("anomaly"))
    task = _one_of(
        path, "task", choices.get("task", "anomaly" if anomaly else "reconstruction"), TASKS
    )
    if task == "anomaly" and not anomaly:
        raise DataError(
            f"{path}: task=anomaly needs labels and the value that marks an anomaly: "
            "give anomaly=VALUE (and label_column=NAME for CSV)"
        )
    given = raw.x_test is not None
    split = _one_of(
        path,
        "split",
        choices.get("split", "given" if given else ("stratified" if labels else "random")),
        SPLITS,
    )
    if given != (split == "given"):
        raise DataError(
            f"{path}: split={split} but the files {'give' if given else 'give no'} test split; "
            f"use split={'given' if given else 'stratified'}"
        )
    if split == "stratified" and not labels:
        raise DataError(f"{path}: split=stratified needs labels; use split=random")
    default_scaling = "minmax-global" if len(shape) == 3 else "minmax"
    params: dict[str, Any] = {
        "layout": raw.layout,
        "files": hashes,
        "shape": list(shape),
        "label_column": raw.label_column,
        "anomaly": anomaly,
        "anomaly_note": note,
        "split": split,
        "scaling": _one_of(path, "scaling", choices.get("scaling", default_scaling), SCALINGS),
    }
    if split != "given":
        params["test_fraction"] = _fraction(path, choices.get("test_fraction", 0.3))
        params["split_seed"] = _int(
            path, "split_seed", choices.get("split_seed", TEMPLATE.split_seed)
        )
    settings: dict[str, Any] = {"task": task}
    if task == "anomaly":
        settings["anomaly_train"] = _one_of(
            path, "train", choices.get("train", "normal"), ("normal", "all")
        )
    dim = int(np.prod(shape))
    settings["code_size"] = TEMPLATE.code_size if dim >= 64 else max(1, dim // 2)
    for key, convert in _PROTOCOL_OPTIONS.items():
        if key in choices:
            settings[key] = _convert(path, key, choices[key], convert)
    return params, settings


def _shape(path: Path, raw: Raw, given: Any) -> tuple[int, ...]:
    inferred = raw.x_train.shape[1:] or (1,)
    if len(inferred) == 2:  # (N, H, W): one grey channel
        inferred = (1, *inferred)
    dim = int(np.prod(inferred))
    if given is None:
        return tuple(int(d) for d in inferred) if len(inferred) <= 3 else (dim,)
    shape = tuple(_list(given, int)) if not isinstance(given, (list, tuple)) else tuple(given)
    if not shape or any(not isinstance(d, int) or d < 1 for d in shape) or len(shape) > 3:
        raise DataError(f"{path}: shape={given!r}: give 1 to 3 positive sizes, e.g. shape=1,28,28")
    if int(np.prod(shape)) != dim:
        raise DataError(
            f"{path}: shape={','.join(map(str, shape))} holds {int(np.prod(shape))} values but "
            f"each example has {dim}; give sizes whose product is {dim}"
        )
    return shape


def _anomaly_values(path: Path, raw: Raw, given: Any) -> tuple[list[Any] | None, str]:
    """The label values that mark anomalies, matched to the labels' type, and how chosen."""
    if raw.y_train is None:
        if given is not None:
            raise DataError(f"{path}: anomaly={given} but the files have no labels")
        return None, ""
    y = np.concatenate([raw.y_train, raw.y_test]) if raw.y_test is not None else raw.y_train
    values = np.unique(y)
    if len(values) < 2:
        raise DataError(
            f"{_label_source(raw)}: the labels hold a single class ({values[0]!r}); there is "
            "nothing to tell apart: drop the labels (label_column=none) to train on every row"
        )
    if given is None:
        if "X/y" in raw.layout and raw.layout.startswith("npz") and set(values.tolist()) == {0, 1}:
            return [1], "label 1 (ADBench's convention for X/y files)"
        return None, ""
    wanted = _list(given, str) if not isinstance(given, list) else [str(v) for v in given]
    out = []
    for w in wanted:
        if values.dtype.kind in "biuf":
            try:
                v = float(w)
            except ValueError:
                raise DataError(f"{path}: anomaly={w!r} but the labels are numbers") from None
            v = int(v) if v.is_integer() else v
        else:
            v = w
        if v not in values.tolist():
            shown = ", ".join(map(str, values[:10].tolist()))
            raise DataError(f"{_label_source(raw)}: no label is {w!r} (labels: {shown})")
        out.append(v)
    return out, f"label{'s' if len(out) > 1 else ''} {', '.join(map(str, out))} (given)"


def _label_source(raw: Raw) -> str:
    col = f" (column {raw.label_column!r})" if raw.label_column else ""
    return f"{next(iter(raw.files.values()))}{col}"


def _one_of(path: Path, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise DataError(f"{path}: {key}={value!r} is not one of {', '.join(allowed)}")
    return value


def _fraction(path: Path, value: Any) -> float:
    f = _convert(path, "test_fraction", value, float)
    if not 0 < f < 1:
        raise DataError(f"{path}: test_fraction={value} must lie between 0 and 1")
    return f


def _int(path: Path, key: str, value: Any) -> int:
    return _convert(path, key, value, int)


def _convert(path: Path, key: str, value: Any, convert) -> Any:
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key}={value!r} is not a valid value") from None


def _list(value: Any, convert) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [convert(v) for v in value]
    return [convert(v.strip()) for v in str(value).split(",") if v.strip()]


# -- preparation -------------------------------------------------------------------------------


def _prepare(raw: Raw, params: dict[str, Any], path: Path) -> Splits:
    """Split, scale (statistics of the training split only) and wrap as :class:`Splits`."""
    x_train = raw.x_train.reshape(len(raw.x_train), -1).astype(np.float64)
    y_train, y_test = raw.y_train, raw.y_test
    if params["split"] == "given":
        x_test = raw.x_test.reshape(len(raw.x_test), -1).astype(np.float64)
    else:
        x_train, x_test, y_train, y_test = _split(path, x_train, y_train, params)
    x_train, x_test = _scale(x_train, x_test, params["scaling"])
    if params["scaling"] in ("standardize", "none") and (x_train.min() < 0 or x_train.max() > 1):
        warnings.warn(
            f"{path}: with scaling={params['scaling']} the training values span "
            f"[{x_train.min():.3g}, {x_train.max():.3g}]; the built-in autoencoders model values "
            "in [0, 1] (sigmoid outputs, Bernoulli cross-entropy): expect poor or diverged "
            "runs, or use scaling=minmax",
            AebenchWarning,
            stacklevel=2,
        )
    shape = tuple(params["shape"])
    kinds = {1: {"vector"}, 2: {"vector", "sequence"}, 3: {"vector", "image", "sequence"}}
    codes, names = _codes(y_train, y_test)
    return Splits(
        train_x=torch.from_numpy(x_train.astype(np.float32)),
        test_x=torch.from_numpy(x_test.astype(np.float32)),
        shape=shape,
        kinds=frozenset(kinds[len(shape)]),
        provenance=_provenance(raw, params, path, len(x_train), len(x_test), names),
        train_y=codes[0],
        test_y=codes[1],
        anomaly=_anomaly_task(path, params, y_train, y_test),
    )


def _split(path: Path, x: np.ndarray, y: np.ndarray | None, params: dict[str, Any]):
    from sklearn.model_selection import train_test_split

    stratify = y if params["split"] == "stratified" else None
    arrays = (x,) if y is None else (x, y)
    try:
        parts = train_test_split(
            *arrays,
            test_size=params["test_fraction"],
            stratify=stratify,
            random_state=params["split_seed"],
        )
    except ValueError as exc:  # e.g. a class with one example cannot be stratified
        raise DataError(f"{path}: cannot split {len(x)} examples ({exc})") from None
    if y is None:
        return parts[0], parts[1], None, None
    return parts[0], parts[1], parts[2], parts[3]


def _scale(x_train: np.ndarray, x_test: np.ndarray, scaling: str):
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if scaling == "none":
        return x_train, x_test
    if scaling == "minmax-global":
        lo, hi = x_train.min(), x_train.max()
        span = hi - lo if hi > lo else 1.0
        return (x_train - lo) / span, (x_test - lo) / span
    scaler = MinMaxScaler() if scaling == "minmax" else StandardScaler()
    return scaler.fit_transform(x_train), scaler.transform(x_test)


def _codes(y_train, y_test) -> tuple[tuple[torch.Tensor | None, torch.Tensor | None], list[str]]:
    """Labels as int64 codes (index into the sorted distinct values), and those values."""
    if y_train is None:
        return (None, None), []
    values, inverse = np.unique(np.concatenate([y_train, y_test]), return_inverse=True)
    codes = torch.from_numpy(inverse.astype(np.int64))
    return (codes[: len(y_train)], codes[len(y_train) :]), [str(v) for v in values.tolist()]


def _anomaly_task(path: Path, params, y_train, y_test) -> AnomalyTask | None:
    anomaly = params.get("anomaly")
    if not anomaly:
        return None
    train_bad, test_bad = np.isin(y_train, anomaly), np.isin(y_test, anomaly)
    for split, bad in (("training", train_bad), ("test", test_bad)):
        if bad.all():
            raise DataError(f"{path}: every {split} example is an anomaly; it needs normal ones")
    if not test_bad.any():
        raise DataError(
            f"{path}: the test split has no anomalies, so detection cannot be measured; "
            "give a test split with some, or let aebench split (split=stratified)"
        )
    return AnomalyTask(
        description=f"anomaly: {params['anomaly_note']}",
        train_normal=torch.from_numpy(~train_bad),
        test_anomalous=torch.from_numpy(test_bad),
    )


def _fit_size(splits: Splits, protocol: Protocol) -> int:
    """How many examples a model fits on: the batch may not exceed it (full batches only)."""
    n = len(splits.train_x)
    if protocol.task == "anomaly" and protocol.anomaly_train == "normal":
        n = int(splits.anomaly.train_normal.sum())
    fit = int(n * (1 - protocol.val_fraction))
    if fit < 2:
        raise DataError(
            f"{protocol.location or 'the files'}: only {fit} training example(s) to fit on; "
            "give more data"
        )
    return fit


def _provenance(raw: Raw, params, path: Path, n_train: int, n_test: int, names) -> dict[str, Any]:
    files = {
        p.name: {"role": role, "sha256": params["files"][role], "size": p.stat().st_size}
        for role, p in raw.files.items()
    }
    shown = ", ".join(f"{n} {f['sha256'][:12]}" for n, f in files.items())
    return {
        "source": "your own files",
        "directory": str(path.resolve()),
        "layout": raw.layout,
        "files": files,
        # no publisher to compare with: the files are the ones the protocol names, by hash
        "canonical": True,
        "canonical_note": f"your files, by SHA-256: {shown}",
        "n_train": n_train,
        "n_test": n_test,
        "split": params["split"],
        "scaling": f"{params['scaling']}, fitted on the training split",
        "label_column": raw.label_column,
        "classes": names[:100],
    }


def _describe(path: Path, raw: Raw, params: dict[str, Any], p: Protocol) -> str:
    split = (
        "the files' train/test split"
        if params["split"] == "given"
        else f"{params['split']} {1 - params['test_fraction']:.0%}/{params['test_fraction']:.0%} "
        f"split, seed {params['split_seed']}"
    )
    task = f"anomaly = {params['anomaly_note']}" if p.task == "anomaly" else "reconstruction"
    return (
        f"your files {path.name} ({raw.layout}): {task}; {split}; scaling {params['scaling']} "
        f"(training split); shape {'x'.join(map(str, params['shape']))}"
    )


@hookimpl
def aebench_register_datasets(register):
    register("files", Files, protocols=[TEMPLATE], from_files=from_files)
