"""The shared image-set loader: Fashion-MNIST, the one-class protocols and their preprocessing,
and the promise that MNIST's published protocols and provenance did not move.

Generated IDX files stand in for the real ones; the checks on the real data in
``../shared/data`` run when it is present.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import struct

import numpy as np
import pytest
import torch
from conftest import REPO, SHARED_DATA
from idx_helpers import write_mnist

from aebench.data.imagesets import gcn_l1_minmax
from aebench.errors import DataError
from aebench.registry.loading import load_registry
from aebench_plugins.datasets import fashion_mnist, mnist
from aebench_plugins.datasets.fashion_mnist import (
    FASHION_MNIST_NOVELTY_V1,
    FASHION_MNIST_ONECLASS,
    FASHION_MNIST_V1,
    FashionMNIST,
)
from aebench_plugins.datasets.mnist import MNIST, MNIST_ONECLASS, MNIST_V1

RECORDS = REPO / "results" / "records"
needs_fashion = pytest.mark.skipif(
    not (SHARED_DATA / "fashion-mnist").is_dir(),
    reason=f"shared Fashion-MNIST data not found at {SHARED_DATA}",
)
needs_mnist = pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason=f"shared MNIST data not found at {SHARED_DATA}"
)


# -- MNIST's published protocols and provenance are unchanged --------------------------------


def _stored(group: str) -> dict:
    paths = sorted((RECORDS / group).glob("*/*/seed-*.json"))
    if not paths:
        pytest.skip(f"no published {group} record in this checkout")
    return json.loads(paths[0].read_text())


@pytest.mark.parametrize("group", ["mnist-v1", "mnist-novelty-v1"])
def test_mnist_protocols_keep_their_published_fingerprints(group):
    record = _stored(group)
    protocol = load_registry().dataset("mnist").protocol(group)
    assert protocol.fingerprint() == record["protocol"]["fingerprint"]
    stored = {k: v for k, v in record["protocol"].items() if k not in ("key", "fingerprint")}
    assert protocol.to_dict() == stored  # field for field, new fields absent


def test_every_published_protocol_keeps_its_fingerprint():
    """The fields this work added (family, family_column, location) orphan no record."""
    registry = load_registry()
    # board folders (a tuned board, name-vN~tuned-N, runs its protocol unchanged); not the
    # tuning studies' folder
    groups = sorted(p.name for p in RECORDS.glob("*-v*")) if RECORDS.is_dir() else []
    if not groups:
        pytest.skip("no published records in this checkout")
    for group in groups:
        record = _stored(group)
        entry = registry.dataset(record["dataset"]["name"])
        key = group.split("~")[0]
        assert entry.protocol(key).fingerprint() == record["protocol"]["fingerprint"], group


@pytest.mark.data
@needs_mnist
@pytest.mark.parametrize("group", ["mnist-v1", "mnist-novelty-v1"])
def test_mnist_provenance_is_what_the_published_records_hold(group):
    record = _stored(group)
    protocol = load_registry().dataset("mnist").protocol(group)
    splits = MNIST().load(protocol, SHARED_DATA, download=False)
    # the runner adds counts, names and the split seed; "directory" is wherever --data-dir pointed
    skip = ("n_fit", "n_val", "name", "plugin", "shape", "directory", "split_seed")
    stored = {k: v for k, v in record["dataset"].items() if k not in skip}
    assert {k: v for k, v in splits.provenance.items() if k != "directory"} == stored


# -- Fashion-MNIST --------------------------------------------------------------------------


def test_fashion_mnist_loads_generated_files(tmp_path):
    arrays = write_mnist(tmp_path / "fashion-mnist", n_train=40, n_test=20)
    splits = FashionMNIST().load(FASHION_MNIST_V1, tmp_path, download=False)
    assert splits.train_x.shape == (40, 784) and splits.shape == (1, 28, 28)
    expected = arrays["train-images-idx3-ubyte.gz"].reshape(40, 784) / 255.0
    np.testing.assert_allclose(splits.train_x.numpy(), expected, rtol=0, atol=1e-7)
    prov = splits.provenance
    assert prov["canonical"] is False and prov["official_n_train"] == 60_000
    assert prov["source"].startswith("Fashion-MNIST")
    novelty = FashionMNIST().load(FASHION_MNIST_NOVELTY_V1, tmp_path, download=False)
    assert torch.equal(novelty.anomaly.test_anomalous, novelty.test_y == 0)
    assert novelty.anomaly.description.startswith("class 0 (T-shirt/top) is the anomaly")


def test_fashion_mnist_missing_files_name_the_folder(tmp_path):
    with pytest.raises(DataError, match="no Fashion-MNIST files in .*fashion-mnist.*--data-dir"):
        FashionMNIST().load(FASHION_MNIST_V1, tmp_path, download=False)


@pytest.mark.data
@needs_fashion
def test_shared_fashion_mnist_is_complete_and_canonical_by_its_payload():
    splits = FashionMNIST().load(FASHION_MNIST_V1, SHARED_DATA, download=False)
    prov = splits.provenance
    assert splits.train_x.shape == (60_000, 784) and splits.test_x.shape == (10_000, 784)
    assert prov["canonical"] is True and prov["canonical_note"] == ""
    for name, entry in prov["files"].items():
        official = fashion_mnist.OFFICIAL[name]
        assert entry["sha256"] != official.gz_sha256  # Debian re-compressed the files...
        assert entry["payload_sha256"] == official.payload_sha256  # ...not their content
    assert torch.bincount(splits.train_y).tolist() == [6000] * 10
    assert torch.bincount(splits.test_y).tolist() == [1000] * 10


#: the publisher's gzip header: the file name, then these modification times (found by search
#: around the files' release, 31 August 2017), XFL 0 and OS 3 (Unix)
_PUBLISHER_MTIME = {
    "train-images-idx3-ubyte": 1504176606,
    "train-labels-idx1-ubyte": 1504176606,
    "t10k-images-idx3-ubyte": 1504176627,
    "t10k-labels-idx1-ubyte": 1504176627,
}


@pytest.mark.data
@needs_fashion
def test_the_publishers_gz_hashes_are_right():
    """Debian stripped the name and time from each gzip header and kept the deflate stream:
    putting the publisher's header back gives exactly the .gz the plugin's hashes name, so those
    hashes (taken from public loaders) are checked here against the content itself."""
    for stem, mtime in _PUBLISHER_MTIME.items():
        debian = (SHARED_DATA / "fashion-mnist" / f"{stem}.gz").read_bytes()
        assert debian[3] == 0  # no FNAME in Debian's header
        header = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03"
        rebuilt = header + stem.encode() + b"\x00" + debian[10:]
        assert gzip.decompress(rebuilt) == gzip.decompress(debian)
        digest = hashlib.sha256(rebuilt).hexdigest()
        assert digest == fashion_mnist.OFFICIAL[f"{stem}.gz"].gz_sha256, stem


def test_registers_fashion_mnist_protocols():
    seen = {}
    fashion_mnist.aebench_register_datasets(lambda name, factory, **kw: seen.update({name: kw}))
    keys = [p.key for p in seen["fashion-mnist"]["protocols"]]
    assert keys[:2] == ["fashion-mnist-v1", "fashion-mnist-novelty-v1"]
    assert keys[2:] == [f"fashion-mnist-oneclass-c{k}-v1" for k in range(10)]


# -- the one-class protocols -----------------------------------------------------------------


@pytest.mark.parametrize("members", [MNIST_ONECLASS, FASHION_MNIST_ONECLASS])
def test_one_class_family_has_a_member_per_class(members):
    assert [p.params["normal_class"] for p in members] == list(range(10))
    assert {p.family for p in members} == {members[0].family}
    assert members[0].family.endswith("-oneclass-v1")
    assert len({p.fingerprint() for p in members}) == 10
    for p in members:
        assert p.task == "anomaly" and p.anomaly_train == "normal"
        assert p.binarization == "none" and p.params["preprocessing"] == "gcn-l1-minmax"


def test_one_class_masks_and_scaling_on_generated_files(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=60, n_test=30)
    protocol = MNIST_ONECLASS[4]
    splits = MNIST().load(protocol, tmp_path, download=False)
    assert torch.equal(splits.anomaly.train_normal, splits.train_y == 4)
    assert torch.equal(splits.anomaly.test_anomalous, splits.test_y != 4)
    normal = splits.train_x[splits.anomaly.train_normal]
    assert float(normal.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(normal.max()) == pytest.approx(1.0, abs=1e-6)
    assert "preprocessing" in splits.provenance and len(splits.provenance["minmax"]) == 2


def test_gcn_l1_minmax_against_a_direct_computation():
    rng = np.random.default_rng(0)
    x_train = rng.random((12, 20), dtype=np.float32)
    x_test = rng.random((5, 20), dtype=np.float32)
    x_test[0] = 0.5  # a blank image: no contrast, stays all zeros before the min-max map
    normal = np.arange(12) % 3 == 0
    a, b, lo, hi = gcn_l1_minmax(x_train, x_test, normal)

    def gcn(img):  # one image at a time, in float64
        centred = [float(v) - sum(map(float, img)) / len(img) for v in img]
        scale = sum(abs(c) for c in centred) / len(centred)
        return [c / scale if scale else 0.0 for c in centred]

    g_train = [gcn(img) for img in x_train]
    lo64 = min(min(g_train[i]) for i in range(12) if normal[i])
    hi64 = max(max(g_train[i]) for i in range(12) if normal[i])
    assert (lo, hi) == (pytest.approx(lo64, rel=1e-5), pytest.approx(hi64, rel=1e-5))
    want_test = [[(v - lo64) / (hi64 - lo64) for v in gcn(img)] for img in x_test]
    np.testing.assert_allclose(b, want_test, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a[normal].min(), 0.0, atol=1e-6)
    np.testing.assert_allclose(a[normal].max(), 1.0, atol=1e-6)


#: Fashion-MNIST per class: min and max of the training images after GCN-l1, as published in a
#: public Fashion-MNIST port of Ruff et al.'s Deep-SVDD-PyTorch (their code covers MNIST and
#: CIFAR-10 only); an independent computation of the same preprocessing on the same files.
_FASHION_GCN_MINMAX = [
    (-2.681241512298584, 24.85430335998535),
    (-2.5778563022613525, 11.169791221618652),
    (-2.808171272277832, 19.133548736572266),
    (-1.9533655643463135, 18.656728744506836),
    (-2.610386610031128, 19.166683197021484),
    (-1.2358512878417969, 28.463111877441406),
    (-3.2516062259674072, 24.19683265686035),
    (-1.0814448595046997, 16.878820419311523),
    (-3.656099319458008, 11.350275993347168),
    (-1.3859291076660156, 11.426652908325195),
]
#: MNIST per class, from Ruff et al.'s code (Deep-SVDD-PyTorch, src/datasets/mnist.py), over the
#: full 60,000 training images; the shared subset's extremes must lie within them
_MNIST_GCN_MINMAX = [
    (-0.8826567065619495, 9.001545489292527),
    (-0.6661464580883915, 20.108062262467364),
    (-0.7820454743183202, 11.665100841080346),
    (-0.7645772083211267, 12.895051191467457),
    (-0.7253923114302238, 12.683235701611533),
    (-0.7698501867861425, 13.103278415430502),
    (-0.778418217980696, 10.457837397569108),
    (-0.7129780970522351, 12.057777597673047),
    (-0.8280402650205075, 10.581538445782988),
    (-0.7369959242164307, 10.697039838804978),
]


@pytest.mark.data
@needs_fashion
def test_fashion_mnist_one_class_scaling_matches_published_values():
    for k, (lo, hi) in enumerate(_FASHION_GCN_MINMAX):
        splits = FashionMNIST().load(FASHION_MNIST_ONECLASS[k], SHARED_DATA, download=False)
        got = splits.provenance["minmax"]
        assert got == [pytest.approx(lo, rel=1e-5), pytest.approx(hi, rel=1e-5)], k


@pytest.mark.data
@needs_mnist
def test_mnist_one_class_scaling_lies_within_ruffs_full_training_set_values():
    for k, (lo, hi) in enumerate(_MNIST_GCN_MINMAX):
        splits = MNIST().load(MNIST_ONECLASS[k], SHARED_DATA, download=False)
        got_lo, got_hi = splits.provenance["minmax"]
        assert lo - 1e-5 <= got_lo and got_hi <= hi + 1e-5, k  # a subset's extremes


def test_unknown_preprocessing_is_an_error(tmp_path):
    write_mnist(tmp_path / "mnist")
    bad = dataclasses.replace(MNIST_V1, params={"preprocessing": "zca"})
    with pytest.raises(DataError, match="preprocessing 'zca' is not one of"):
        MNIST().load(bad, tmp_path, download=False)


def test_a_family_name_plans_every_member():
    from aebench.run import runner

    registry = load_registry()
    for key in ("mnist-oneclass", "mnist-oneclass-v1"):
        requests = runner.plan(registry, ["pca"], None, key, [0])
        assert [r.group for r in requests] == [f"mnist-oneclass-c{k}-v1" for k in range(10)]
        assert {r.dataset for r in requests} == {"mnist"}
    one = runner.plan(registry, ["pca"], None, "mnist-oneclass-c3", [0])
    assert [r.group for r in one] == ["mnist-oneclass-c3-v1"]
    assert mnist.MNIST_ONECLASS_V1.key == "mnist-oneclass-v1"
