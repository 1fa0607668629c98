"""The data-file layer: checksums, IDX parsing and its failures, verified downloads, zip safety."""

from __future__ import annotations

import gzip
import hashlib
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from idx_helpers import closed_port, idx_bytes, serve_directory, write_gz, write_idx

from aebench.data.files import download, read_idx, safe_extract_member, sha256_bytes, sha256_file
from aebench.errors import DataError


def one_line_error(path_or_url: object, excinfo: pytest.ExceptionInfo) -> str:
    """The error's message, checked to be one line naming ``path_or_url``."""
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path_or_url) in message
    return message


# -- checksums ------------------------------------------------------------------------------


def test_sha256_of_bytes_and_file_agree_with_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # larger than one read chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_bytes(data) == expected
    assert sha256_file(path) == expected


# -- IDX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (5, 3, 4), (2, 1, 3, 2)])
def test_read_idx_round_trips(tmp_path, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = read_idx(write_idx(tmp_path / "a.gz", array))
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, array)
    out[...] = 0  # writable: torch.from_numpy must not warn about a read-only buffer


def test_read_idx_reads_the_header_big_endian(tmp_path):
    # 256 rows would read as 65536 little-endian: the size check would fail
    array = np.zeros((256, 1), dtype=np.uint8)
    assert read_idx(write_idx(tmp_path / "a.gz", array)).shape == (256, 1)


def test_truncated_gzip_is_a_one_line_error_naming_the_file(tmp_path):
    path = write_idx(tmp_path / "imgs.gz", np.ones((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "truncated" in one_line_error(path, excinfo)


def test_not_gzip_is_an_error(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(idx_bytes(np.ones(10, np.uint8)))  # uncompressed
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "gzip" in one_line_error(path, excinfo)


def test_corrupt_gzip_body_is_an_error(tmp_path):
    path = write_idx(tmp_path / "c.gz", np.arange(200, dtype=np.uint8).reshape(20, 10))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    one_line_error(path, excinfo)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "empty" in one_line_error(path, excinfo)


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nowhere.gz"
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "not found" in one_line_error(path, excinfo)


@pytest.mark.parametrize(
    "magic",
    [
        b"\x00\x00\x0d\x01",  # float32 type code: not bytes
        b"\x01\x00\x08\x01",  # leading bytes must be zero
        b"\x00\x00\x08\x00",  # zero dimensions
        b"\x08\x01\x00\x00",  # little-endian reading of a valid magic
    ],
)
def test_bad_magic_is_an_error(tmp_path, magic):
    body = idx_bytes(np.ones(10, np.uint8))
    path = write_gz(tmp_path / "m.gz", magic + body[4:])
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "magic" in one_line_error(path, excinfo)


@pytest.mark.parametrize("extra", [-1, 1, -784])
def test_header_sizes_must_match_the_payload_exactly(tmp_path, extra):
    body = idx_bytes(np.ones((3, 28, 28), np.uint8))
    body = body[:extra] if extra < 0 else body + b"\x00" * extra
    path = write_gz(tmp_path / "s.gz", body)
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    assert "wrong size" in one_line_error(path, excinfo)


def test_header_cut_short_is_an_error(tmp_path):
    path = write_gz(tmp_path / "h.gz", b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with pytest.raises(DataError) as excinfo:
        read_idx(path)
    one_line_error(path, excinfo)


# -- downloads ------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """A local HTTP server in a thread, serving ``tmp_path / "www"``; yields (base URL, dir)."""
    root = tmp_path / "www"
    root.mkdir()
    with serve_directory(root) as base:
        yield base, root


def test_download_verifies_and_writes_only_the_file(server, tmp_path):
    base, root = server
    payload = b"some data " * 10_000
    (root / "f.bin").write_bytes(payload)
    dest = tmp_path / "cache" / "sub" / "f.bin"
    used = download([base + "f.bin"], dest, {sha256_bytes(payload)})
    assert used == base + "f.bin"
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["f.bin"]  # no temp file left


def test_download_without_checksum(server, tmp_path):
    base, root = server
    (root / "f.bin").write_bytes(b"abc")
    download([base + "f.bin"], tmp_path / "f.bin", None)
    assert (tmp_path / "f.bin").read_bytes() == b"abc"


def test_checksum_mismatch_leaves_no_file_and_names_url_and_both_hashes(server, tmp_path):
    base, root = server
    (root / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "cache" / "f.bin"
    expected = sha256_bytes(b"original")
    with pytest.raises(DataError) as excinfo:
        download([base + "f.bin"], dest, {expected})
    message = one_line_error(base + "f.bin", excinfo)
    assert expected in message and sha256_bytes(b"tampered") in message
    assert list(dest.parent.iterdir()) == []


def test_mismatch_keeps_an_existing_file(server, tmp_path):
    base, root = server
    (root / "f.bin").write_bytes(b"tampered")
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"mine")
    with pytest.raises(DataError):
        download([base + "f.bin"], dest, {sha256_bytes(b"original")})
    assert dest.read_bytes() == b"mine"


def test_mirrors_are_tried_in_order(server, tmp_path):
    base, root = server
    (root / "good.bin").write_bytes(b"good")
    (root / "bad.bin").write_bytes(b"bad")
    urls = [
        f"http://127.0.0.1:{closed_port()}/good.bin",  # refused
        base + "missing.bin",  # 404
        base + "bad.bin",  # wrong checksum
        base + "good.bin",
    ]
    assert download(urls, tmp_path / "x", {sha256_bytes(b"good")}) == base + "good.bin"
    assert (tmp_path / "x").read_bytes() == b"good"


def test_every_mirror_failing_names_each_failure(server, tmp_path):
    base, _ = server
    urls = [base + "missing.bin", f"http://127.0.0.1:{closed_port()}/x"]
    with pytest.raises(DataError) as excinfo:
        download(urls, tmp_path / "x", None)
    message = one_line_error("x", excinfo)
    assert "404" in message and urls[1] in message
    assert not (tmp_path / "x").exists()


def test_offline_gives_up_within_seconds(tmp_path):
    port = closed_port()
    urls = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
    start = time.perf_counter()
    with pytest.raises(DataError):
        download(urls, tmp_path / "a", None)
    elapsed = time.perf_counter() - start
    print(f"closed port: gave up after {elapsed:.3f} s")
    assert elapsed < 30  # a hang guard, not a timing


def test_a_silent_server_times_out(tmp_path):
    # A listening socket nobody accepts from: connecting succeeds, the response never comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/a"
        start = time.perf_counter()
        with pytest.raises(DataError) as excinfo:
            download([url], tmp_path / "a", None, timeout=0.5)
        elapsed = time.perf_counter() - start
    print(f"silent server: gave up after {elapsed:.3f} s")
    assert elapsed < 30  # a hang guard, not a timing
    one_line_error(url, excinfo)
    assert list(tmp_path.iterdir()) == []


# -- zip extraction -------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # S_IFLNK: the body is the link target
            archive.writestr(info, target)
    return path


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_extracts_only_the_named_member(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"data/table.txt": b"rows", "readme": b"hi"})
    dest = tmp_path / "out"
    out = safe_extract_member(archive, "data/table.txt", dest)
    assert out == (dest / "data" / "table.txt").resolve()
    assert out.read_bytes() == b"rows"
    assert tree(dest) == {"data", "data/table.txt"}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.txt", ".."),
        ("a/../../evil.txt", ".."),
        ("a\\..\\..\\evil.txt", ".."),
        ("/tmp/evil.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
    ],
)
def test_refuses_members_that_leave_dest(tmp_path, name, why):
    archive = make_zip(tmp_path / "a.zip", {name: b"evil"})
    dest = tmp_path / "box" / "out"
    before = tree(tmp_path)
    with pytest.raises(DataError) as excinfo:
        safe_extract_member(archive, name, dest)
    assert why in one_line_error(archive, excinfo)
    assert tree(tmp_path) == before  # nothing written anywhere, dest not even created


def test_refuses_symlink_members(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {}, links={"link": str(tmp_path / "outside")})
    dest = tmp_path / "out"
    before = tree(tmp_path)
    with pytest.raises(DataError) as excinfo:
        safe_extract_member(archive, "link", dest)
    assert "symbolic link" in one_line_error(archive, excinfo)
    assert tree(tmp_path) == before


def test_refuses_to_write_through_a_symlinked_directory(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    archive = make_zip(tmp_path / "a.zip", {"sub/x.txt": b"evil"})
    with pytest.raises(DataError):
        safe_extract_member(archive, "sub/x.txt", dest)
    assert list(outside.iterdir()) == []


def test_missing_member_and_bad_archive(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"a": b"1"})
    with pytest.raises(DataError) as excinfo:
        safe_extract_member(archive, "b", tmp_path / "out")
    assert "'b'" in one_line_error(archive, excinfo)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    with pytest.raises(DataError) as excinfo:
        safe_extract_member(broken, "a", tmp_path / "out")
    one_line_error(broken, excinfo)


def test_helpers_write_real_gzip(tmp_path):
    # the helper itself, checked against the stdlib reader, so the tests above test the reader
    path = write_idx(tmp_path / "t.gz", np.array([[1, 2], [3, 4]], np.uint8))
    assert gzip.decompress(path.read_bytes()) == (
        b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02" * 2 + b"\x01\x02\x03\x04"
    )
