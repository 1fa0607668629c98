"""Bad input, each provoked for real: corrupt data files on disk, a download whose checksum is
wrong, random and mutated bytes for every reader (hypothesis), hostile zip archives, and files
in the results and cache directories that would execute code if anything unpickled them.

What the user must see for bad data: one line naming the file and what is wrong, a non-zero
exit, no traceback, and no record written. Readers either parse or raise aebench's own error,
never anything else, and never hang.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import gzip
import io
import json
import os
import pickle
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import DIGITS_GRID, REPO, copy_of, run_cli, run_cli_subprocess
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from idx_helpers import idx_bytes, serve_directory, write_gz, write_idx, write_mnist
from test_sms_spam import corpus, make_zip, write_sms

from aebench.cli import main
from aebench.data.files import parse_idx, read_idx, sha256_bytes
from aebench.errors import AebenchError, DataError
from aebench.records import artifacts, storage
from aebench_plugins.datasets import mnist, sms_spam
from aebench_plugins.datasets.mnist import MNIST, MNIST_V1
from aebench_plugins.datasets.sms_spam import SMS_V1, SMSSpam

TRAIN_IMAGES, TRAIN_LABELS = mnist.SPLITS["train"]


def run(capsys, dataset: str, data: Path, results: Path, *extra: str) -> tuple[int, list[str]]:
    """``aebench run`` in this process (the same ``main`` a user's shell runs): exit code and
    the error lines of stderr (plugin warnings left out)."""
    code = main(
        ["run", "-d", dataset, "-m", "pca", "--seeds", "0", "-q", "--threads", "1"]
        + ["--data-dir", str(data), "--results-dir", str(results), *extra]
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [ln for ln in err.splitlines() if not ln.startswith("warning:")]


# -- corrupt files ---------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _bad_magic(path: Path) -> None:
    write_gz(path, b"\x00\x00\x09\x03" + gzip.decompress(path.read_bytes())[4:])


def _sizes_disagree(path: Path) -> None:
    write_gz(path, gzip.decompress(path.read_bytes()) + b"\x00" * 7)


def _one_label_short(path: Path) -> None:
    write_idx(path, np.arange(39, dtype=np.uint8) % 10)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "name, damage, file, message",
    [
        ("truncated gzip", _truncate, TRAIN_IMAGES, "truncated gzip file"),
        ("wrong IDX magic", _bad_magic, TRAIN_IMAGES, "bad IDX magic number 0x00000903"),
        (
            "IDX sizes disagree with the payload",
            _sizes_disagree,
            TRAIN_IMAGES,
            "wrong size: header says 40 x 28 x 28 = 31,360 bytes, file holds 31,367",
        ),
        (
            "label count differs from image count",
            _one_label_short,
            TRAIN_LABELS,
            f"{TRAIN_IMAGES} holds 40 images but {TRAIN_LABELS} holds 39 labels",
        ),
        ("empty file", _empty, TRAIN_LABELS, "empty file"),
    ],
)
def test_a_corrupt_mnist_file_is_one_line_naming_it(name, damage, file, message, tmp_path, capsys):
    write_mnist(tmp_path / "data" / "mnist")
    damage(tmp_path / "data" / "mnist" / file)
    code, lines = run(capsys, "mnist", tmp_path / "data", tmp_path / "runs", "--no-download")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert file in lines[0] and message in lines[0]
    assert not list((tmp_path / "runs").rglob("*.json"))  # nothing recorded


@pytest.mark.parametrize(
    "line, message",
    [
        (b"ham but no tab", ":3: no tab"),
        (b"eggs\tnot a label we know", ":3: unknown label ('eggs'"),
        (b"ham\tcaf\xe9 au lait", ":3: invalid UTF-8 (byte 0xe9 at column 8)"),
    ],
)
def test_a_bad_sms_line_is_one_line_naming_the_file_and_line(line, message, tmp_path, capsys):
    path = write_sms(tmp_path / "data" / "sms-spam", corpus(), extra={3: line})
    code, lines = run(capsys, "sms-spam", tmp_path / "data", tmp_path / "runs", "--no-download")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}{message}")
    assert not list((tmp_path / "runs").rglob("*.json"))


def test_a_download_with_the_wrong_checksum_is_refused_and_keeps_nothing(
    tmp_path, capsys, monkeypatch
):
    write_mnist(tmp_path / "www")  # served as if it were MNIST: right names, other bytes
    with serve_directory(tmp_path / "www") as base:
        images = dataclasses.replace(mnist.MNIST.images, mirrors=(base,))
        monkeypatch.setattr(mnist.MNIST, "images", images)
        code, lines = run(capsys, "mnist", tmp_path / "data", tmp_path / "runs")
    assert code == 2 and len(lines) == 1
    official = mnist.OFFICIAL[mnist.FILES[0]].gz_sha256
    assert f"{base}{mnist.FILES[0]}: checksum mismatch for {mnist.FILES[0]}: " in lines[0]
    assert f"expected sha256 {official}, got " in lines[0]
    assert list((tmp_path / "data" / "mnist").iterdir()) == []  # no partial, no unverified file


@pytest.mark.e2e
def test_corrupt_data_in_a_subprocess_is_one_line_without_traceback(tmp_path):
    write_mnist(tmp_path / "data" / "mnist")
    _truncate(tmp_path / "data" / "mnist" / TRAIN_IMAGES)
    res = run_cli_subprocess(
        "run", "-d", "mnist", "-m", "pca", "--seeds", "0", "--no-download",
        "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert res.returncode == 2
    (line,) = [ln for ln in res.stderr.splitlines() if not ln.startswith("warning:")]
    assert line.startswith("error: ") and TRAIN_IMAGES in line and "truncated gzip" in line
    assert "Traceback" not in res.stderr


# -- readers on random and mutated bytes (hypothesis) ----------------------------------------


class Hung(Exception):
    """A reader ran past its time limit on one input."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def stop(signum, frame):
        raise Hung(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parses_or_refuses(read, *args, error=DataError):
    """``read(*args)``'s result, or None if it raised ``error``; anything else (another
    exception, a hang) fails the test."""
    with time_limit(20):
        try:
            return read(*args)
        except error:
            return None


@st.composite
def mutations(draw, seed: bytes) -> bytes:
    """``seed`` after a few random edits: bytes overwritten, cut, inserted, removed, repeated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "cut", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if op == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


_IMAGES = idx_bytes(np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8))
_LABELS = idx_bytes(np.arange(6, dtype=np.uint8))


@st.composite
def idx_headers(draw) -> bytes:
    """A valid magic number and sizes of any value, then a body of any length."""
    ndim = draw(st.integers(1, 70))
    dims = draw(st.lists(st.sampled_from([0, 1, 2, 3, 255, 65536, 2**31, 2**32 - 1]),
                         min_size=ndim, max_size=ndim))  # fmt: skip
    header = bytes([0, 0, 0x08, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + draw(st.binary(max_size=64))


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@FUZZ
@given(st.one_of(st.binary(max_size=512), mutations(_IMAGES), mutations(_LABELS), idx_headers()))
@example(bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4)  # sizes whose product wraps
@example(bytes([0, 0, 8, 65]) + bytes(4 * 65))  # more dimensions than numpy holds
def test_idx_parser_parses_or_raises_data_error(data):
    array = parses_or_refuses(parse_idx, data, "fuzz.idx")
    if array is not None:
        assert array.dtype == np.uint8 and array.size == len(data) - 4 - 4 * data[3]


@FUZZ
@given(st.one_of(mutations(gzip.compress(_IMAGES, mtime=0)), st.binary(max_size=256)))
def test_gzip_idx_reader_parses_or_raises_data_error(blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz-idx3-ubyte.gz"
        path.write_bytes(blob)
        parses_or_refuses(read_idx, path)


@settings(FUZZ, max_examples=40)
@given(mutations(_LABELS))
def test_mnist_loader_parses_or_raises_data_error(labels):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mnist"
        write_mnist(folder, n_train=6, n_test=6)
        write_gz(folder / TRAIN_LABELS, labels)
        parses_or_refuses(MNIST().load, MNIST_V1, Path(tmp), False)


_SMS = b"".join(f"{label}\t{text}\n".encode() for label, text in corpus(40, 8))
_SMS_LINES = st.lists(
    st.one_of(
        st.builds(lambda label, text: label + b"\t" + text,
                  st.sampled_from([b"ham", b"spam", b"Ham", b"", b"eggs"]), st.binary(max_size=40)),
        st.binary(max_size=40),
    ),
    max_size=60,
).map(b"\n".join)  # fmt: skip


@settings(FUZZ, max_examples=120)
@given(st.one_of(mutations(_SMS), _SMS_LINES, st.binary(max_size=512)), st.booleans())
def test_sms_reader_parses_or_raises_data_error(blob, skip_bad_lines):
    protocol = SMS_V1.with_overrides(params={**SMS_V1.params, "skip_bad_lines": skip_bad_lines})
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sms-spam").mkdir()
        (Path(tmp) / "sms-spam" / "SMSSpamCollection").write_bytes(blob)
        splits = parses_or_refuses(SMSSpam().load, protocol, Path(tmp), False)
    if splits is not None:
        assert splits.train_x.shape[0] + splits.test_x.shape[0] <= blob.count(b"\n") + 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=20,
)
_RECORD = {"format": 1, "status": "ok", "group": "g", "seed": 0, "protocol": {},
           "model": {"name": "m"}, "dataset": {"name": "d"}, "metrics": {}}  # fmt: skip


@settings(FUZZ, max_examples=200)
@given(st.one_of(_JSON, st.fixed_dictionaries({k: st.one_of(st.just(v), _JSON)
                                                for k, v in _RECORD.items()})))  # fmt: skip
def test_record_reader_returns_a_record_or_raises_aebench_error(value):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed-0.json"
        path.write_text(json.dumps(value))
        rec = parses_or_refuses(storage.read_record, path, error=AebenchError)
        assert storage.record_state(path) in {"complete", "retry", "unreadable", "newer"}
    if rec is not None:  # what the leaderboards rely on is there
        assert isinstance(rec["seed"], int) and isinstance(rec["status"], str)
        assert "name" in rec["model"] and "name" in rec["dataset"]


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, recon_mse=np.linspace(0, 1, 50, dtype=np.float32))
    return buf.getvalue()


@settings(FUZZ, max_examples=100)
@given(mutations(_npz()))
def test_arrays_reader_returns_arrays_or_raises_aebench_error(blob):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed-0.npz"
        path.write_bytes(blob)
        parses_or_refuses(artifacts.read, path, error=AebenchError)


# -- hostile archives ------------------------------------------------------------------------


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in root.rglob("*")
    }


@pytest.mark.parametrize(
    "member, refusal",
    [
        ("../SMSSpamCollection", " that climbs out with '..'"),
        ("sms/../../../SMSSpamCollection", " that climbs out with '..'"),
        ("{outside}/SMSSpamCollection", " with an absolute path"),
        ("symlink", ", a symbolic link"),
    ],
)
def test_a_hostile_archive_is_refused_and_nothing_is_written_outside_the_cache(
    member, refusal, tmp_path, capsys, monkeypatch
):
    outside = tmp_path / "outside"
    outside.mkdir()
    good = b"".join(f"{label}\t{text}\n".encode() for label, text in corpus())
    if member == "symlink":
        member = "SMSSpamCollection"
        make_zip(
            tmp_path / "www" / "sms.zip", {}, links={member: str(outside / "SMSSpamCollection")}
        )
    else:
        member = member.format(outside=outside)
        make_zip(tmp_path / "www" / "sms.zip", {member: good})
    monkeypatch.setattr(sms_spam.source, "FILE_SHA256", sha256_bytes(good))
    before = tree(tmp_path)
    with serve_directory(tmp_path / "www") as base:
        monkeypatch.setattr(sms_spam.source, "ARCHIVE_URLS", (base + "sms.zip",))
        code, lines = run(capsys, "sms-spam", tmp_path / "cache", tmp_path / "runs")
    assert code == 2 and len(lines) == 1
    assert f"refusing member {member!r}{refusal}" in lines[0]
    after = tree(tmp_path)
    new = {name for name in after if name not in before}
    assert all(name.split("/")[0] in ("cache", "runs") for name in new), new
    assert {k: v for k, v in after.items() if k in before} == before
    assert tree(tmp_path / "cache") == {"sms-spam": None}  # nothing kept, not even the zip


# -- untrusted files never execute code ------------------------------------------------------

#: calls that would run code from a file's contents, and what makes each one safe
UNSAFE_LOADERS = {
    ("torch", "load"): ("weights_only", True),
    ("np", "load"): ("allow_pickle", False),
    ("numpy", "load"): ("allow_pickle", False),
    ("pickle", "load"): None,
    ("pickle", "Unpickler"): None,
    ("joblib", "load"): None,
    ("dill", "load"): None,
    ("cloudpickle", "load"): None,
    ("pd", "read_pickle"): None,
    ("pandas", "read_pickle"): None,
    ("shelve", "open"): None,
}


def _unsafe_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        key = (owner.id if isinstance(owner, ast.Name) else "", node.func.attr)
        if key not in UNSAFE_LOADERS:
            continue
        safe = UNSAFE_LOADERS[key]
        kwargs = {k.arg: k.value for k in node.keywords}
        ok = safe is not None and isinstance(kwargs.get(safe[0]), ast.Constant)
        if not (ok and kwargs[safe[0]].value is safe[1]):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {key[0]}.{key[1]}")
    return found


def test_no_code_loads_files_in_a_way_that_can_execute_them():
    """torch.load only with weights_only=True, numpy only with allow_pickle=False, and no
    pickle, joblib, dill or shelve reading files anywhere in the harness or the plugins.
    (``pickle.loads`` of bytes from aebench's own worker process pipe is not a file.)"""
    sources = sorted((REPO / "aebench").rglob("*.py")) + sorted((REPO / "plugins").rglob("*.py"))
    assert len(sources) > 20
    found = [hit for path in sources for hit in _unsafe_calls(path)]
    assert not found, found


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: proof that something unpickled a file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickles_in_the_results_and_cache_directories_never_run(tmp_path, digits_records):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    rd, data = copy_of(digits_records, tmp_path), tmp_path / "data"  # run -m pca,mean ...
    args = DIGITS_GRID
    # a record's arrays replaced by an object array (its pickle runs the payload when loaded)
    npz = next(rd.rglob("pca/seed-0.npz"))
    np.savez(npz.with_suffix(".tmp.npz"), recon_mse=np.array([_Payload(marker)], dtype=object))
    os.replace(npz.with_suffix(".tmp.npz"), npz)
    # plain pickles wherever a loader might look: beside the records and in the data cache
    for path in (npz.with_suffix(".pkl"), npz.with_suffix(".pt"), rd / "cache.pkl"):
        path.write_bytes(payload)
    write_mnist(data / "mnist")
    (data / "mnist" / TRAIN_IMAGES).write_bytes(payload)
    (data / "sms-spam").mkdir()
    (data / "sms-spam" / "SMSSpamCollection").write_bytes(payload)
    (data / "mnist" / "model.pt").write_bytes(payload)

    into = ("--results-dir", str(rd))
    for command in (
        ["show", "--results-dir", str(rd)],
        ["publish", "--results-dir", str(rd), "--out-dir", str(tmp_path / "published")],
        ["plot", "--results-dir", str(rd), "--out-dir", str(tmp_path / "figures")],
        ["run", *args, "--results-dir", str(rd)],
        ["run", "-d", "mnist", "-m", "pca", "--data-dir", str(data), "--no-download", *into],
        ["run", "-d", "sms-spam", "-m", "pca", "--data-dir", str(data), "--no-download", *into],
    ):
        res = run_cli(*command)
        assert "Traceback" not in res.stderr, (command, res.stderr)
        assert not marker.exists(), command
    assert (tmp_path / "published" / "summary.md").exists()  # the rest was published


def test_arrays_that_are_not_the_records_own_are_reported_and_not_used(
    tmp_path, capsys, digits_records
):
    rd = copy_of(digits_records, tmp_path)  # run -m pca,mean --seeds 0,1, once per session
    # other arrays under seed 0's name (what a --force rerun killed between its two writes
    # leaves, or a file copied over), and an arrays file that hides a pickle
    pca = next(rd.rglob("pca"))
    shutil.copy(pca.parent / "mean" / "seed-0.npz", pca / "seed-0.npz")
    np.savez(pca / "x.npz", recon_mse=np.array([None], dtype=object))
    os.replace(pca / "x.npz", pca / "seed-1.npz")
    with open(pca / "seed-1.json") as f:  # its record says which arrays are its own
        rec = json.load(f)
    rec.pop("arrays_sha256")
    storage.write_record(pca / "seed-1.json", rec)
    capsys.readouterr()
    assert main(["publish", "--results-dir", str(rd), "--out-dir", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"{pca / 'seed-0.npz'}: not the arrays its record was written with (SHA-256)" in err
    assert f"{pca / 'seed-1.npz'}: unreadable arrays (ValueError: Object arrays cannot be " in err
    assert "Traceback" not in err
