"""Image data sets published as four IDX files (MNIST's format): one loader for all of them.

An :class:`ImageSet` describes the files (names, the publisher's SHA-256 of each ``.gz`` and of
its uncompressed payload, mirrors); :class:`ImageSetDataset` loads it for any protocol:

- missing files are downloaded from the mirrors when allowed, verified against the publisher's
  ``.gz`` SHA-256 before they land;
- a file is *canonical* when its ``.gz`` hash or its payload hash is the publisher's (so a copy
  re-compressed by a Linux distribution passes); files that parse but are not canonical (a
  training subset, say) still load, and the provenance says so with sample counts;
- every problem is a one-line :class:`DataError` naming the file;
- the anomaly task is the protocol's: ``params[novelty_param]`` holds one class out as the
  anomaly, or ``params["normal_class"]`` makes one class normal and every other one anomalous
  (the one-class protocol of Ruff et al. 2018), with the preprocessing those papers state
  (:func:`gcn_l1_minmax`).

Nothing here names a data set: plugins describe theirs and subclass :class:`ImageSetDataset`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from aebench.data.files import download as download_file
from aebench.data.files import parse_idx, read_gzip, sha256_bytes, sha256_file
from aebench.dataset import AnomalyTask, Dataset, Splits
from aebench.errors import DataError
from aebench.protocol import Protocol

__all__ = [
    "IDX_SPLITS",
    "ImageSet",
    "ImageSetDataset",
    "OfficialFile",
    "gcn_l1_minmax",
    "load_image_set",
    "one_class_protocols",
]

#: split -> (images file, labels file), as MNIST and its look-alikes name them
IDX_SPLITS: Mapping[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: preprocessing a protocol may name in ``params["preprocessing"]``
PREPROCESSINGS = ("pixels/255", "gcn-l1-minmax")


@dataclass(frozen=True)
class OfficialFile:
    """One official file: SHA-256 of the ``.gz`` as published, of its payload, its count."""

    gz_sha256: str
    payload_sha256: str | None
    count: int


@dataclass(frozen=True)
class ImageSet:
    """What a plugin says about its files; the loader does the rest.

    :param title: the data set's name in messages ("no MNIST files in ...").
    :param folder: the folder under the data directory that holds the files.
    :param source: the provenance's ``source`` line.
    :param mirrors: URLs of directories serving the files, best first.
    :param official: file name -> its official hashes and example count.
    :param classes: the label names, index = label value.
    :param variants: payload SHA-256 -> what a known non-official file is.
    """

    title: str
    folder: str
    source: str
    mirrors: tuple[str, ...]
    official: Mapping[str, OfficialFile]
    classes: tuple[str, ...]
    image_shape: tuple[int, int] = (28, 28)
    splits: Mapping[str, tuple[str, str]] = field(default_factory=lambda: dict(IDX_SPLITS))
    variants: Mapping[str, str] = field(default_factory=dict)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(name for pair in self.splits.values() for name in pair)


@dataclass
class ImageArrays:
    """One image set as read: (N, H*W) float32 in [0, 1], int64 labels, per split."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    provenance: dict[str, Any]


def load_image_set(images: ImageSet, data_dir: Path, download: bool = True) -> ImageArrays:
    """Read (downloading if allowed) and check the four files; pixels scaled to [0, 1]."""
    folder = Path(data_dir) / images.folder
    downloaded = _ensure_files(images, folder, download)
    arrays, files = {}, {}
    for name in images.files:
        arrays[name], files[name] = _read(images, folder / name)
        if name in downloaded:
            files[name]["downloaded_from"] = downloaded[name]
    x, y, notes = {}, {}, []
    for split, (img, lab) in images.splits.items():
        x[split], y[split] = _check_pair(images, folder, img, lab, arrays)
        note = _note(split, img, lab, files)
        if note:
            notes.append(note)
    provenance = _provenance(images, folder, files, notes, len(y["train"]), len(y["test"]))
    return ImageArrays(x, y, provenance)


class ImageSetDataset(Dataset):
    """A data-set plugin for an :class:`ImageSet`: set ``images``; ``load`` does the rest.

    ``novelty_param`` names the protocol parameter that holds one class out as the anomaly
    (MNIST's published protocols call it ``novelty_digit``).
    """

    images: ClassVar[ImageSet]
    novelty_param: ClassVar[str] = "novelty_class"

    def load(self, protocol: Protocol, data_dir: Path, download: bool = True) -> Splits:
        data = load_image_set(self.images, data_dir, download)
        train_y, test_y = torch.from_numpy(data.y["train"]), torch.from_numpy(data.y["test"])
        anomaly, normal = self._anomaly(protocol, train_y, test_y)
        x_train, x_test = data.x["train"], data.x["test"]
        provenance = data.provenance
        preprocessing = protocol.params.get("preprocessing", "pixels/255")
        if preprocessing == "gcn-l1-minmax":
            x_train, x_test, lo, hi = gcn_l1_minmax(x_train, x_test, data.y["train"] == normal)
            provenance = {**provenance, "preprocessing": _GCN_NOTE, "minmax": [lo, hi]}
        elif preprocessing != "pixels/255":
            raise DataError(
                f"protocol {protocol.key}: preprocessing {preprocessing!r} is not one of "
                f"{PREPROCESSINGS}"
            )
        return Splits(
            train_x=torch.from_numpy(x_train),
            test_x=torch.from_numpy(x_test),
            shape=(1, *self.images.image_shape),
            kinds=frozenset({"vector", "image", "sequence"}),
            provenance=provenance,
            train_y=train_y,
            test_y=test_y,
            anomaly=anomaly,
        )

    def _anomaly(self, protocol: Protocol, train_y, test_y) -> tuple[AnomalyTask, int | None]:
        """The protocol's anomaly task, and the one-class protocol's normal class (or None)."""
        classes = self.images.classes
        normal = protocol.params.get("normal_class")
        if normal is not None:
            name = _class_name(classes, normal)
            return AnomalyTask(
                description=f"one class: {name} is normal, every other class is the anomaly; "
                f"train on {name} only",
                train_normal=train_y == normal,
                test_anomalous=test_y != normal,
            ), int(normal)
        held = protocol.params.get(self.novelty_param, 0)
        name = _class_name(classes, held)
        return AnomalyTask(
            description=f"{name} is the anomaly; train on the other {_plural(classes)}",
            train_normal=train_y != held,
            test_anomalous=test_y == held,
        ), None


def one_class_protocols(base: Protocol, classes: tuple[str, ...]) -> list[Protocol]:
    """One protocol per class, each in turn the normal class, as a family of ``base.name``.

    Members are ``{base.name}-c{k}`` version ``base.version``; the family board (one column
    per class, and their mean) is ``base.key``. ``base`` holds the shared settings; each member
    adds ``params["normal_class"]`` and the column header.
    """
    digits = classes == tuple(str(i) for i in range(len(classes)))
    members = []
    for k, name in enumerate(classes):
        members.append(
            dataclasses.replace(
                base,
                name=f"{base.name}-c{k}",
                family=base.key,
                family_column=str(k) if digits else f"{k}\n{name}",
                params={**base.params, "normal_class": k},
                description=f"{base.description}; normal class {_class_name(classes, k)}",
            )
        )
    return members


def _class_name(classes: tuple[str, ...], label: int) -> str:
    """How a class reads in a description: "digit 3" for digit sets, else "class 3 (Dress)"."""
    if classes == tuple(str(i) for i in range(len(classes))):
        return f"digit {label}"
    return f"class {label} ({classes[label]})"


def _plural(classes: tuple[str, ...]) -> str:
    return "digits" if classes == tuple(str(i) for i in range(len(classes))) else "classes"


_GCN_NOTE = (
    "pixels/255, global contrast normalisation per image (subtract the image's mean, divide "
    "by its mean absolute deviation: l1), then min-max scaling with the minimum and maximum "
    "over the normal class's training images (Ruff et al. 2018; applied to every split, so "
    "test values may leave [0, 1])"
)


def gcn_l1_minmax(
    x_train: np.ndarray, x_test: np.ndarray, normal_train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Ruff et al. (2018)'s one-class preprocessing; returns both splits and (min, max).

    Global contrast normalisation with the l1 norm, per image: ``x - mean(x)``, divided by
    ``mean(|x - mean(x)|)`` (their PyTorch code; their Theano code divides by the sum, which
    differs by the constant D and so gives the same result after min-max scaling). Then one
    scalar min and max over every pixel of the *normal class's training images* map those to
    [0, 1]; the same affine map applies to every other image.
    """
    a, b = _gcn_l1(x_train), _gcn_l1(x_test)
    normal = a[normal_train]
    if not len(normal):
        raise DataError("one-class preprocessing: the normal class has no training images")
    lo, hi = float(normal.min()), float(normal.max())
    scale = np.float32(hi - lo) if hi > lo else np.float32(1)
    return (a - np.float32(lo)) / scale, (b - np.float32(lo)) / scale, lo, hi


def _gcn_l1(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=1, keepdims=True, dtype=np.float32)
    scale = np.abs(centred).mean(axis=1, keepdims=True, dtype=np.float32)
    # a blank image has no contrast to normalise: it stays all zeros rather than 0/0
    return centred / np.where(scale > 0, scale, np.float32(1))


# -- files -----------------------------------------------------------------------------------


def _ensure_files(images: ImageSet, folder: Path, download: bool) -> dict[str, str]:
    """Download missing files if allowed; return {file: URL} for those fetched now."""
    files = images.files
    missing = [name for name in files if not (folder / name).is_file()]
    if not missing:
        return {}
    what = (
        f"no {images.title} files in {folder}"
        if len(missing) == len(files)
        else f"{images.title} file(s) missing in {folder}: {', '.join(missing)}"
    )
    where = (
        f"put {', '.join(files)} there, or pass --data-dir DIR whose {images.folder}/ folder "
        "holds them"
    )
    if not download:
        raise DataError(f"{what}; {where}")
    fetched = {}
    for name in missing:
        urls = [base + name for base in images.mirrors]
        try:
            fetched[name] = download_file(urls, folder / name, {images.official[name].gz_sha256})
        except DataError as exc:
            # stop at the first failure: offline, trying the other files only adds waiting
            raise DataError(f"{what} and the download failed ({exc}); {where}") from exc
    return fetched


def _read(images: ImageSet, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The file's array and its provenance entry (hashes, count, canonical or not)."""
    payload = read_gzip(path)
    array = parse_idx(payload, path)
    official = images.official[path.name]
    gz_sha, payload_sha = sha256_file(path), sha256_bytes(payload)
    entry: dict[str, Any] = {
        "sha256": gz_sha,
        "payload_sha256": payload_sha,
        "canonical": gz_sha == official.gz_sha256 or payload_sha == official.payload_sha256,
        "count": int(array.shape[0]),
        "official_count": official.count,
        "official_sha256": official.gz_sha256,
    }
    if payload_sha in images.variants:
        entry["variant"] = images.variants[payload_sha]
    return array, entry


def _check_pair(
    images: ImageSet, folder: Path, img_name: str, lab_name: str, arrays: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (N, H*W) float32 pixels in [0, 1] and (N,) int64 labels for one split."""
    img, lab = arrays[img_name], arrays[lab_name]
    h, w = images.image_shape
    if img.ndim != 3 or img.shape[1:] != (h, w):
        raise DataError(f"{folder / img_name}: expected N x {h} x {w} images, got {img.shape}")
    if lab.ndim != 1:
        raise DataError(f"{folder / lab_name}: expected a 1-D label vector, got {lab.shape}")
    if len(img) != len(lab):
        raise DataError(
            f"{folder}: {img_name} holds {len(img):,} images but {lab_name} holds "
            f"{len(lab):,} labels"
        )
    n = len(images.classes)
    if lab.size and lab.max() >= n:
        raise DataError(
            f"{folder / lab_name}: label {int(lab.max())} is not one of the {n} classes 0-{n - 1}"
        )
    x = img.reshape(len(img), h * w).astype(np.float32)
    x /= np.float32(255)
    return x, lab.astype(np.int64)


def _note(split: str, images: str, labels: str, files: dict[str, dict[str, Any]]) -> str | None:
    """A one-line warning for a split whose files are not the official ones, else None."""
    if files[images]["canonical"] and files[labels]["canonical"]:
        return None
    n, official = files[images]["count"], files[images]["official_count"]
    note = f"{split}: {n:,} of {official:,} official images"
    return note if n != official else f"{note}, but not the official files (checksums differ)"


def _provenance(
    images: ImageSet,
    folder: Path,
    files: dict[str, dict[str, Any]],
    notes: list[str],
    n_train: int,
    n_test: int,
) -> dict[str, Any]:
    return {
        "source": images.source,
        "urls": list(images.mirrors),
        "directory": str(folder),
        "files": files,
        "canonical": all(f["canonical"] for f in files.values()),
        # what the leaderboard caption shows beside "NON-CANONICAL"
        "canonical_note": "; ".join(notes),
        "n_train": n_train,
        "n_test": n_test,
        "official_n_train": images.official[images.splits["train"][0]].count,
        "official_n_test": images.official[images.splits["test"][0]].count,
        "split": "official train/test",
    }
