"""The MNIST plugin on small generated IDX files, and on the shared real data when present.

MNIST is read by the shared image-set loader (``aebench.data.imagesets``), so these tests are that
loader's too: checksums, canonical marking, downloads and corrupt-file errors.
"""

from __future__ import annotations

import dataclasses
import gzip
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_helpers import closed_port, idx_bytes, serve_directory, write_gz, write_idx, write_mnist

from aebench.data.files import sha256_bytes, sha256_file
from aebench.errors import DataError
from aebench_plugins.datasets import mnist
from aebench_plugins.datasets.mnist import MNIST, MNIST_V1, OfficialFile

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(data_dir: Path, download: bool = False, protocol=MNIST_V1):
    return MNIST().load(protocol, data_dir, download=download)


def patch(monkeypatch, **changes) -> None:
    """Change what the MNIST plugin says about its files (official hashes, mirrors)."""
    images = dataclasses.replace(MNIST.images, **changes)
    monkeypatch.setattr(MNIST, "images", images)


def bless(monkeypatch, folder: Path, names=mnist.FILES, payload_only: bool = False) -> None:
    """Make the files now in ``folder`` the "official" ones, by .gz or by payload hash."""
    table = dict(MNIST.images.official)
    for name in names:
        path = folder / name
        count = int.from_bytes(gzip.decompress(path.read_bytes())[4:8], "big")
        payload = sha256_bytes(gzip.decompress(path.read_bytes()))
        gz = "0" * 64 if payload_only else sha256_file(path)
        table[name] = OfficialFile(gz, payload, count)
    patch(monkeypatch, official=table)


def test_loads_pixels_labels_and_masks(tmp_path):
    arrays = write_mnist(tmp_path / "mnist", n_train=40, n_test=20)
    splits = load(tmp_path)
    assert splits.train_x.shape == (40, 784) and splits.test_x.shape == (20, 784)
    assert splits.train_x.dtype == torch.float32
    assert splits.shape == (1, 28, 28)
    assert splits.kinds == {"vector", "image", "sequence"}
    expected = arrays["train-images-idx3-ubyte.gz"].reshape(40, 784) / 255.0
    np.testing.assert_allclose(splits.train_x.numpy(), expected, rtol=0, atol=1e-7)
    assert splits.test_x.min() >= 0.0 and splits.test_x.max() <= 1.0
    assert splits.train_y.dtype == torch.int64
    assert splits.test_y.tolist() == arrays["t10k-labels-idx1-ubyte.gz"].tolist()
    assert splits.anomaly.train_normal.tolist() == [y != 0 for y in splits.train_y.tolist()]
    assert splits.anomaly.test_anomalous.tolist() == [y == 0 for y in splits.test_y.tolist()]


def test_novelty_digit_comes_from_the_protocol(tmp_path):
    write_mnist(tmp_path / "mnist")
    protocol = MNIST_V1.with_overrides(params={"novelty_digit": 3})
    splits = load(tmp_path, protocol=protocol)
    assert torch.equal(splits.anomaly.test_anomalous, splits.test_y == 3)
    assert "3" in splits.anomaly.description


def test_generated_files_are_not_canonical_and_say_how_many(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=40, n_test=20)
    prov = load(tmp_path).provenance
    assert prov["canonical"] is False
    assert not any(f["canonical"] for f in prov["files"].values())
    assert prov["n_train"] == 40 and prov["n_test"] == 20
    assert prov["official_n_train"] == 60_000 and prov["official_n_test"] == 10_000
    note = "train: 40 of 60,000 official images; test: 20 of 10,000 official images"
    assert prov["canonical_note"] == note
    entry = prov["files"]["train-images-idx3-ubyte.gz"]
    assert entry["sha256"] == sha256_file(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    assert entry["count"] == 40 and entry["official_count"] == 60_000


def test_official_gz_hash_makes_a_file_canonical(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    bless(monkeypatch, tmp_path / "mnist")
    prov = load(tmp_path).provenance
    assert prov["canonical"] is True and prov["canonical_note"] == ""


def test_recompressed_copy_with_the_official_payload_is_canonical(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path / "mnist")
    bless(monkeypatch, tmp_path / "mnist", payload_only=True)
    # re-compress differently: the .gz bytes change, the payload does not
    name = "t10k-images-idx3-ubyte.gz"
    before = sha256_file(tmp_path / "mnist" / name)
    write_idx(tmp_path / "mnist" / name, arrays[name], level=1)
    assert sha256_file(tmp_path / "mnist" / name) != before
    prov = load(tmp_path).provenance
    assert prov["files"][name]["canonical"] is True
    assert prov["canonical"] is True


def test_one_non_canonical_split_marks_only_that_split(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist", n_train=30)
    bless(monkeypatch, tmp_path / "mnist", names=mnist.SPLITS["test"])
    prov = load(tmp_path).provenance
    assert prov["canonical"] is False
    assert prov["canonical_note"] == "train: 30 of 60,000 official images"
    assert prov["files"]["t10k-labels-idx1-ubyte.gz"]["canonical"] is True


def test_full_size_files_with_other_checksums_are_flagged(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist", n_train=40, n_test=20)
    bless(monkeypatch, tmp_path / "mnist", names=mnist.SPLITS["test"])
    table = dict(MNIST.images.official)
    for name in mnist.SPLITS["train"]:  # official size, but other hashes
        table[name] = OfficialFile("0" * 64, "0" * 64, 40)
    patch(monkeypatch, official=table)
    prov = load(tmp_path).provenance
    assert prov["canonical"] is False
    assert prov["canonical_note"] == (
        "train: 40 of 40 official images, but not the official files (checksums differ)"
    )


def test_missing_files_offline_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as excinfo:
        load(tmp_path, download=False)
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(tmp_path / "mnist") in message and "--data-dir" in message
    for name in mnist.FILES:
        assert name in message


def test_one_missing_file_is_named(tmp_path):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing in .*: t10k-labels-idx1-ubyte.gz;"):
        load(tmp_path, download=False)


def test_download_fails_fast_when_offline(tmp_path, monkeypatch):
    port = closed_port()
    patch(monkeypatch, mirrors=(f"http://127.0.0.1:{port}/a/", f"http://127.0.0.1:{port}/b/"))
    start = time.perf_counter()
    with pytest.raises(DataError) as excinfo:
        load(tmp_path, download=True)
    elapsed = time.perf_counter() - start
    print(f"offline MNIST load gave up after {elapsed:.3f} s")
    assert elapsed < 30  # a hang guard, not a timing
    message = str(excinfo.value)
    assert "\n" not in message and "--data-dir" in message and str(tmp_path / "mnist") in message
    assert not any((tmp_path / "mnist").glob("*.gz"))


def test_download_fetches_verifies_and_loads(tmp_path, monkeypatch):
    www = tmp_path / "www" / "mnist"
    write_mnist(www, n_train=25, n_test=15)
    bless(monkeypatch, www)
    with serve_directory(tmp_path / "www") as base:
        patch(monkeypatch, mirrors=(base + "nothing-here/", base + "mnist/"))
        splits = load(tmp_path / "cache", download=True)
    assert len(splits.train_x) == 25 and len(splits.test_x) == 15
    prov = splits.provenance
    assert prov["canonical"] is True
    entry = prov["files"]["train-images-idx3-ubyte.gz"]
    assert entry["downloaded_from"] == base + "mnist/train-images-idx3-ubyte.gz"
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(mnist.FILES)


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, monkeypatch):
    www = tmp_path / "www" / "mnist"
    write_mnist(www)  # not blessed: the official hashes will not match
    with serve_directory(tmp_path / "www") as base:
        patch(monkeypatch, mirrors=(base + "mnist/",))
        with pytest.raises(DataError, match="checksum mismatch") as excinfo:
            load(tmp_path / "cache", download=True)
    assert "\n" not in str(excinfo.value)
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_truncated_file_is_a_one_line_error_naming_it(tmp_path):
    write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError) as excinfo:
        load(tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message


def test_existing_corrupt_file_is_not_replaced_by_a_download(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"")
    patch(monkeypatch, mirrors=(f"http://127.0.0.1:{closed_port()}/",))
    with pytest.raises(DataError, match="empty file"):
        load(tmp_path, download=True)
    assert path.read_bytes() == b""


def test_label_count_must_match_image_count(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=40)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(DataError) as excinfo:
        load(tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz holds 40 images" in message
    assert "train-labels-idx1-ubyte.gz holds 39 labels" in message


@pytest.mark.parametrize(
    ("name", "array", "match"),
    [
        ("t10k-images-idx3-ubyte.gz", np.zeros((20, 27, 28), np.uint8), "28 x 28"),
        ("t10k-images-idx3-ubyte.gz", np.zeros((20, 784), np.uint8), "28 x 28"),
        ("t10k-labels-idx1-ubyte.gz", np.zeros((20, 1), np.uint8), "1-D"),
        ("t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8), "not one of the 10 classes"),
    ],
)
def test_wrong_shapes_and_labels_are_errors(tmp_path, name, array, match):
    write_mnist(tmp_path / "mnist", n_test=20)
    write_idx(tmp_path / "mnist" / name, array)
    with pytest.raises(DataError, match=match) as excinfo:
        load(tmp_path)
    assert name in str(excinfo.value)


def test_bad_magic_names_the_file(tmp_path):
    write_mnist(tmp_path / "mnist")
    body = idx_bytes(np.zeros(40, np.uint8))
    write_gz(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", b"\x00\x00\x09\x01" + body[4:])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: bad IDX magic"):
        load(tmp_path)


def test_registers_mnist_with_its_protocol():
    seen = {}
    mnist.aebench_register_datasets(lambda name, factory, **kw: seen.update({name: kw}))
    keys = [p.key for p in seen["mnist"]["protocols"]]
    oneclass = [f"mnist-oneclass-c{d}-v1" for d in range(10)]
    assert keys == ["mnist-v2", "mnist-v1", "mnist-novelty-v1", *oneclass]
    assert MNIST_V1.code_size == 32 and MNIST_V1.hidden_size == 512
    assert MNIST_V1.budget_samples == 2_000_000 and MNIST_V1.iwae_k == 5000
    assert MNIST_V1.params == {"novelty_digit": 0}


@pytest.mark.data
@pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason=f"shared MNIST data not found at {SHARED_DATA}"
)
def test_shared_real_data():
    splits = load(SHARED_DATA)
    prov = splits.provenance
    assert splits.train_x.shape == (10_000, 784) and splits.test_x.shape == (10_000, 784)
    assert prov["canonical"] is False
    files = prov["files"]
    for name in mnist.SPLITS["train"]:
        assert files[name]["canonical"] is False
        assert files[name]["count"] == 10_000 and files[name]["official_count"] == 60_000
    for name in mnist.SPLITS["test"]:
        assert files[name]["canonical"] is True
        assert files[name]["sha256"] == mnist.OFFICIAL[name].gz_sha256
    assert prov["canonical_note"] == "train: 10,000 of 60,000 official images"
    assert files["train-images-idx3-ubyte.gz"]["variant"] == (
        "the first 10,000 official training images"
    )
    assert splits.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # MNIST's first labels
    assert int((splits.test_y == 0).sum()) == 980  # zeros in the official test set
