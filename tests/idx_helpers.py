"""Write small data in the real IDX format (gzip), for tests of loaders that read it."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a ``uint8`` array: magic, big-endian sizes, body."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_gz(path: Path, payload: bytes, level: int = 9, mtime: int = 0) -> Path:
    """Write ``payload`` gzip-compressed to ``path`` (fixed mtime: same bytes every run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, compresslevel=level, mtime=mtime))
    return path


def write_idx(path: Path, array: np.ndarray, level: int = 9) -> Path:
    """Write ``array`` as a gzip-compressed IDX file."""
    return write_gz(path, idx_bytes(array), level=level)


def write_mnist(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict:
    """Four MNIST-named IDX files of random digits in ``folder``; returns the arrays by name."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 from a thread; yields the base URL (ends in /)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
