"""Data files: checksums, verified downloads, IDX parsing, safe extraction from zip archives.

Dataset plugins use these so that every data set fails the same way: a :class:`DataError`
in one line that names the file (or URL) and what is wrong with it. Nothing here knows a
data set by name.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import numpy as np

from aebench.errors import DataError

__all__ = [
    "download",
    "parse_idx",
    "read_gzip",
    "read_idx",
    "safe_extract_member",
    "sha256_bytes",
    "sha256_file",
]

_CHUNK = 1 << 20
#: Seconds a socket may wait to connect or between two reads. Short, so that an offline machine
#: gives up within seconds; a live server sends its next bytes well within it.
DEFAULT_TIMEOUT = 5.0
#: IDX type code for unsigned bytes, the only one MNIST-style files use.
_IDX_UBYTE = 0x08


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- downloads ------------------------------------------------------------------------------


def download(
    urls: Iterable[str],
    dest: Path,
    sha256: set[str] | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Fetch ``dest`` from the first of ``urls`` that serves it; return the URL used.

    Each URL is tried once, in order (no retries: offline, the whole call gives up within
    about ``len(urls) * timeout`` seconds, usually at once). The body goes to a temporary file
    beside ``dest`` and is renamed onto ``dest`` only after its SHA-256 is in ``sha256``
    (``None`` skips the check), so ``dest`` never holds a partial or unverified file.

    :param urls: mirrors, best first.
    :param dest: where the verified file ends up; its directory is created.
    :param sha256: accepted hex SHA-256 values of the file, or ``None``.
    :param timeout: seconds a socket may wait to connect or between reads.
    :raises DataError: when no URL gave a verified file; the message lists why each failed.
    """
    urls = list(urls)
    if not urls:
        raise DataError(f"no URL to download {dest.name} from")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _fetch_verified(url, dest, sha256, timeout)
            return url
        except DataError as exc:
            failures.append(str(exc))
    raise DataError(f"could not download {dest.name}: " + "; ".join(failures))


def _fetch_verified(url: str, dest: Path, sha256: set[str] | None, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``dest``, verify, then rename atomically."""
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # URLError/HTTPError, refused or timed-out sockets, malformed URLs
                raise DataError(f"{url}: {_reason(exc)}") from exc
        actual = digest.hexdigest()
        if sha256 is not None and actual not in sha256:
            expected = " or ".join(sorted(sha256))
            raise DataError(
                f"{url}: checksum mismatch for {dest.name}: expected sha256 {expected}, "
                f"got {actual}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a failed request."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__) or type(exc).__name__


# -- IDX files ------------------------------------------------------------------------------


def read_gzip(path: Path) -> bytes:
    """The decompressed content of a gzip file, checked to be complete.

    :raises DataError: the file is missing, empty, not gzip, corrupt or truncated.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file")
        with gzip.open(path, "rb") as f:
            return f.read()
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except EOFError as exc:
        raise DataError(f"{path}: truncated gzip file (ends before its end marker)") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({_reason(exc)})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({_reason(exc)})") from exc


def parse_idx(data: bytes, name: str | os.PathLike[str]) -> np.ndarray:
    """Parse an uncompressed IDX payload of unsigned bytes into a ``uint8`` array.

    The header is the magic number (two zero bytes, type code ``0x08``, the number of
    dimensions) and one big-endian 32-bit size per dimension; the body must hold exactly
    the product of the sizes.

    :param data: the uncompressed file content.
    :param name: the file, named in error messages.
    :raises DataError: bad magic number, or header sizes that disagree with the body.
    """
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero, dtype, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype != _IDX_UBYTE or ndim == 0:
        raise DataError(
            f"{name}: bad IDX magic number 0x{data[:4].hex()} "
            f"(expected 0x0000{_IDX_UBYTE:02x}NN: unsigned bytes, NN dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: IDX header cut short ({len(data)} of {header} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)  # exact: numpy's int64 product wraps (65536**4 == 0)
    actual = len(data) - header
    if actual != expected:
        shape = " x ".join(str(d) for d in dims)
        raise DataError(
            f"{name}: wrong size: header says {shape} = {expected:,} bytes, file holds {actual:,}"
        )
    body = np.frombuffer(bytearray(data[header:]), dtype=np.uint8)  # writable, for torch
    try:
        return body.reshape(dims)
    except ValueError as exc:  # e.g. more dimensions than numpy supports
        raise DataError(f"{name}: cannot hold a {ndim}-dimensional IDX array ({exc})") from None


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes into a ``uint8`` array.

    :raises DataError: in one line naming the file: empty, bad gzip, truncated, bad magic
        number, or header sizes that disagree with the payload.
    """
    return parse_idx(read_gzip(path), path)


# -- archives -------------------------------------------------------------------------------


def safe_extract_member(zip_path: Path, member_name: str, dest: Path) -> Path:
    """Extract the one file ``member_name`` of ``zip_path`` into directory ``dest``.

    Refuses members whose name is absolute or contains ``..``, and symbolic links, so an
    archive can never write outside ``dest``. The file is written to a temporary name and
    renamed, so ``dest`` never holds a partial file.

    :returns: the extracted file's path (``dest / member_name``).
    :raises DataError: unreadable archive, missing member, or an unsafe member.
    """
    try:
        with zipfile.ZipFile(zip_path) as archive:
            info = archive.getinfo(member_name)
            target = _safe_target(zip_path, info, Path(dest))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        out.write(chunk)
                os.replace(tmp_name, target)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
            return target
    except KeyError as exc:
        raise DataError(f"{zip_path}: archive has no member {member_name!r}") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"{zip_path}: not a valid zip archive ({_reason(exc)})") from exc
    except FileNotFoundError as exc:
        raise DataError(f"{zip_path}: file not found") from exc


def _safe_target(zip_path: Path, info: zipfile.ZipInfo, dest: Path) -> Path:
    """Where ``info`` may be written inside ``dest``, or a DataError if nowhere safely."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"{zip_path}: refusing member {name!r} with an absolute path")
    if ".." in parts:
        raise DataError(f"{zip_path}: refusing member {name!r} that climbs out with '..'")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataError(f"{zip_path}: refusing member {name!r}, a symbolic link")
    if info.is_dir() or not parts:
        raise DataError(f"{zip_path}: member {name!r} is a directory, not a file")
    root = dest.resolve()
    target = root.joinpath(*parts)
    # a symlinked directory already inside dest could still lead outside it
    if not target.parent.resolve().is_relative_to(root):
        raise DataError(f"{zip_path}: member {name!r} would be written outside {dest}")
    return target
