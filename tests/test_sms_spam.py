"""The SMS Spam Collection plugin on small generated files in the publisher's format
(``label<TAB>text`` lines), served as a zip by a local server, and on the shared real file."""

from __future__ import annotations

import re
import stat
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_helpers import closed_port, serve_directory

from aebench.data.files import sha256_bytes, sha256_file
from aebench.dataset import carve_validation
from aebench.errors import AebenchError, DataError
from aebench_plugins.datasets import sms_spam
from aebench_plugins.datasets.sms_spam import SMS_CONTAMINATED_V1, SMS_V1, SMSSpam

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPAM_WORDS = ("call", "free", "win", "prize", "now", "text", "reply", "ok")
HAM_WORDS = ("reply", "ok", "lar", "going", "home", "later", "dinner", "love", "you", "see")


def corpus(n: int = 60, n_spam: int = 12, seed: int = 0) -> list[tuple[str, str]]:
    """(label, text) pairs: spam first, then ham, each message with a word of its own."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "spam" if i < n_spam else "ham"
        words = list(rng.choice(SPAM_WORDS if label == "spam" else HAM_WORDS, size=6))
        words.insert(int(rng.integers(0, 6)), f"only{i:03d}")
        rows.append((label, " ".join(words).capitalize() + "!"))
    return rows


def write_sms(folder: Path, rows, extra: dict[int, bytes] | None = None) -> Path:
    """Write ``rows`` as the publisher's file; ``extra`` puts raw lines at 1-based positions."""
    lines = [f"{label}\t{text}".encode() for label, text in rows]
    for number, raw in sorted((extra or {}).items()):
        lines.insert(number - 1, raw)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SMSSpamCollection"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def load(data_dir: Path, download: bool = False, protocol=SMS_V1, **params):
    if params:
        protocol = protocol.with_overrides(params={**protocol.params, **params})
    return SMSSpam().load(protocol, data_dir, download=download)


def words(text: str) -> list[str]:
    """An independent tokenisation: lower-case runs of two or more word characters."""
    return re.findall(r"\b\w\w+\b", text.lower())


def test_parses_labels_messages_and_the_anomaly_task(tmp_path):
    rows = corpus(60, 12)
    rows[30] = ("ham", "That\u0092s fine, see you later")  # the publisher's mojibake
    write_sms(tmp_path / "sms-spam", rows)
    s = load(tmp_path, min_df=1)
    assert s.train_x.shape == (42, s.dim) and s.test_x.shape == (18, s.dim)
    assert s.train_x.dtype == torch.float32 and s.shape == (s.dim,)
    assert s.kinds == {"vector", "tokens"}
    assert s.train_y.dtype == torch.int64
    assert int(s.train_y.sum() + s.test_y.sum()) == 12
    for split in ("train", "test"):
        y, lines = getattr(s, f"{split}_y"), s.extras[f"{split}_line_numbers"]
        assert y.tolist() == [int(rows[n - 1][0] == "spam") for n in lines.tolist()]
    assert torch.equal(s.anomaly.train_normal, s.train_y == 0)
    assert torch.equal(s.anomaly.test_anomalous, s.test_y == 1)
    assert s.anomaly.description == "spam is the anomaly"
    prov = s.provenance
    assert (prov["n_lines"], prov["n_messages"], prov["n_ham"], prov["n_spam"]) == (60, 60, 48, 12)
    assert (prov["n_train"], prov["n_test"]) == (42, 18)
    assert prov["n_train_normal"] == int((s.train_y == 0).sum()) == 42 - int(s.train_y.sum())
    assert prov["skipped_lines"] == 0 and prov["skipped_line_numbers"] == []
    assert prov["canonical"] is False
    assert (
        prov["canonical_note"] == "60 messages (12 spam); the published file has 5,574 (747 spam)"
    )
    path = tmp_path / "sms-spam" / "SMSSpamCollection"
    assert prov["files"]["SMSSpamCollection"]["sha256"] == sha256_file(path)
    assert prov["encoding_note"].startswith("1 messages hold C1 control characters")


BAD_LINES = {
    "no tab": b"ham this line has no tab",
    "unknown label": b"eggs\tnot a label we know",
    "invalid UTF-8": b"spam\tWin \xff\xfe now",
}


@pytest.mark.parametrize("kind", BAD_LINES)
def test_a_bad_line_is_a_one_line_error_with_its_number(tmp_path, kind):
    path = write_sms(tmp_path / "sms-spam", corpus(), extra={7: BAD_LINES[kind]})
    with pytest.raises(DataError) as excinfo:
        load(tmp_path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:7: {kind}")
    assert "skip_bad_lines" in message


def test_skipped_bad_lines_are_counted_with_their_numbers(tmp_path):
    extra = {3: BAD_LINES["no tab"], 20: BAD_LINES["unknown label"], 41: BAD_LINES["invalid UTF-8"]}
    write_sms(tmp_path / "sms-spam", corpus(60, 12), extra=extra)
    s = load(tmp_path, skip_bad_lines=True)
    prov = s.provenance
    assert prov["n_lines"] == 63 and prov["n_messages"] == 60
    assert prov["skipped_lines"] == 3 and prov["skipped_line_numbers"] == [3, 20, 41]
    assert prov["skipped_reasons"] == {"no tab": 1, "unknown label": 1, "invalid UTF-8": 1}
    assert prov["canonical_note"].endswith("; 3 bad line(s) skipped")
    lines = torch.cat([s.extras["train_line_numbers"], s.extras["test_line_numbers"]])
    assert sorted(lines.tolist()) == sorted(set(range(1, 64)) - {3, 20, 41})


def test_an_empty_line_is_a_bad_line_too(tmp_path):
    path = write_sms(tmp_path / "sms-spam", corpus(), extra={5: b""})
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}:5: no tab"):
        load(tmp_path)


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    rows = corpus(60, 12)
    write_sms(tmp_path / "sms-spam", rows)
    s = load(tmp_path, min_df=1)
    vocab = s.extras["vocabulary"]
    train_lines = s.extras["train_line_numbers"].tolist()
    test_lines = s.extras["test_line_numbers"].tolist()
    expected = sorted({w for n in train_lines for w in words(rows[n - 1][1])})
    assert vocab == expected and s.dim == len(vocab)
    for row, n in enumerate(test_lines):  # each message's own word is in no other message
        own = f"only{n - 1:03d}"
        assert own not in vocab
        position = words(rows[n - 1][1]).index(own)
        assert s.extras["test_tokens"][row, position] == sms_spam.OOV

    # Same labels, so the same split: put a word in two test messages and two train messages.
    test_only, both_sides = test_lines[:2], train_lines[:2]
    for n in test_only:
        rows[n - 1] = (rows[n - 1][0], rows[n - 1][1] + " zebra zebra")
    for n in both_sides:
        rows[n - 1] = (rows[n - 1][0], rows[n - 1][1] + " giraffe")
    write_sms(tmp_path / "sms-spam", rows)
    s2 = load(tmp_path, min_df=2)
    assert s2.extras["test_line_numbers"].tolist() == test_lines
    assert "giraffe" in s2.extras["vocabulary"] and "zebra" not in s2.extras["vocabulary"]
    assert s2.dim == len(s2.extras["vocabulary"])
    for row in range(2):
        length = int(s2.extras["test_lengths"][row])
        assert s2.extras["test_tokens"][row, length - 2 : length].tolist() == [1, 1]


def test_binary_counts_and_tfidf_features(tmp_path):
    rows = [(label, text + " now now now") for label, text in corpus(60, 12)]
    write_sms(tmp_path / "sms-spam", rows)
    binary, counts, tfidf = (load(tmp_path, features=f) for f in ("binary", "counts", "tfidf"))
    assert binary.extras["vocabulary"] == counts.extras["vocabulary"] == tfidf.extras["vocabulary"]
    now = binary.extras["vocabulary"].index("now")
    assert torch.all(binary.train_x[:, now] == 1) and torch.all(counts.train_x[:, now] >= 3)
    assert torch.equal(binary.train_x, (counts.train_x > 0).float())
    assert binary.provenance["values_in_unit_interval"] is True
    assert counts.provenance["values_in_unit_interval"] is False
    assert counts.provenance["value_range"][1] == float(counts.train_x.max())
    # TF-IDF by hand: smoothed idf from training document frequencies, rows scaled to unit norm
    n = counts.train_x.shape[0]
    df = (counts.train_x > 0).sum(0).double()
    idf = torch.log((1 + n) / (1 + df)) + 1
    for mine, theirs in ((counts.train_x, tfidf.train_x), (counts.test_x, tfidf.test_x)):
        expected = mine.double() * idf
        expected = expected / expected.norm(dim=1, keepdim=True).clamp_min(1e-12)
        torch.testing.assert_close(theirs.double(), expected, rtol=1e-5, atol=1e-6)
    assert tfidf.provenance["vectorizer"] == "CountVectorizer + TfidfTransformer"
    assert tfidf.provenance["tfidf"] == {
        "norm": "l2",
        "smooth_idf": True,
        "sublinear_tf": False,
        "idf_from": "training split only",
    }


def _texts(rows, lines) -> list[str]:
    return [rows[n - 1][1] for n in lines]


def test_sublinear_tfidf_with_oov_buckets_by_hand_and_against_sklearn(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = [(label, text + " now now") for label, text in corpus(60, 12)]
    rows[20] = ("ham", rows[20][1] + " newword newword newword")  # repeats: tf 3 in one bucket
    write_sms(tmp_path / "sms-spam", rows)
    k, params = 8, dict(vocabulary="fit", min_df=2, sublinear_tf=True)
    s = load(tmp_path, features="tfidf", oov_buckets=k, **params)
    c = load(tmp_path, features="counts", oov_buckets=k, **params)
    vocab = set(c.extras["vocabulary"][:-k])
    lines = {"train": c.extras["train_line_numbers"], "test": c.extras["test_line_numbers"]}
    # counts: out-of-vocabulary tokens counted into their crc32 bucket, by hand
    for split, x in (("train", c.train_x), ("test", c.test_x)):
        for row, n in enumerate(lines[split].tolist()):
            expected = np.zeros(k, np.float32)
            for w in words(rows[n - 1][1]):
                if w not in vocab:
                    expected[zlib.crc32(w.encode()) % k] += 1.0
            np.testing.assert_array_equal(x[row, -k:].numpy(), expected)
    assert c.train_x[:, -k:].max() >= 3
    # idf from the vocabulary's messages only (here: the fit slice), sublinear tf, unit rows
    fit, _ = carve_validation(len(lines["train"]), SMS_V1.val_fraction, SMS_V1.split_seed)
    vocab_counts = c.train_x[fit].double()
    n = vocab_counts.shape[0]
    idf = torch.log((1 + n) / (1 + (vocab_counts > 0).sum(0))) + 1
    for counts, theirs in ((c.train_x, s.train_x), (c.test_x, s.test_x)):
        counts = counts.double()
        tf = torch.where(counts > 0, 1 + torch.log(counts.clamp_min(1)), torch.zeros_like(counts))
        expected = tf * idf
        expected = expected / expected.norm(dim=1, keepdim=True).clamp_min(1e-12)
        torch.testing.assert_close(theirs.double(), expected, rtol=1e-5, atol=1e-6)
    assert s.provenance["values_in_unit_interval"] is True
    assert s.provenance["tfidf"]["idf_from"] == "training split less the validation slice"
    # without buckets it is scikit-learn's TfidfVectorizer fitted on the same messages
    plain = load(tmp_path, features="tfidf", **params)
    ref = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(_texts(rows, lines["train"][fit]))
    assert plain.extras["vocabulary"] == ref.get_feature_names_out().tolist()
    for split, x in (("train", plain.train_x), ("test", plain.test_x)):
        expected = ref.transform(_texts(rows, lines[split])).toarray()
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_the_dev_holdout_never_touches_the_test_split(tmp_path):
    rows = corpus(300, 45)
    write_sms(tmp_path / "sms-spam", rows)
    full = load(tmp_path, min_df=1)
    train_lines = set(full.extras["train_line_numbers"].tolist())
    test_lines = set(full.extras["test_line_numbers"].tolist())
    for i in test_lines:  # a word that only the test split holds
        rows[i - 1] = (rows[i - 1][0], rows[i - 1][1] + " testonlyword")
    write_sms(tmp_path / "sms-spam", rows)
    dev = load(tmp_path, min_df=1, holdout="dev", oov_buckets=4)
    d_train = set(dev.extras["train_line_numbers"].tolist())
    d_test = set(dev.extras["test_line_numbers"].tolist())
    assert d_train | d_test == train_lines and not d_train & d_test
    assert len(d_test) == 63  # 30% of the 210 training messages, stratified
    assert int(dev.test_y.sum()) == round(0.3 * int(full.train_y.sum()))
    vocab = dev.extras["vocabulary"][:-4]
    assert vocab == sorted({w for n in d_train for w in words(rows[n - 1][1])})
    assert "testonlyword" not in vocab
    assert not any("testonlyword" in rows[n - 1][1] for n in d_train | d_test)
    assert "DEVELOPMENT holdout" in dev.provenance["split"]
    with pytest.raises(AebenchError, match="holdout 'test-set'"):
        load(tmp_path, holdout="test-set")


def test_token_ids_agree_with_the_bag_of_words(tmp_path):
    rows = corpus(60, 12)
    rows[0] = ("spam", "Win " * 100 + "now")
    write_sms(tmp_path / "sms-spam", rows)
    s = load(tmp_path, features="counts", max_len=10)
    vocab, v = s.extras["vocabulary"], s.dim
    assert s.extras["vocab_size"] == v + 2
    for split in ("train", "test"):
        tokens, lengths = s.extras[f"{split}_tokens"], s.extras[f"{split}_lengths"]
        x, lines = getattr(s, f"{split}_x"), s.extras[f"{split}_line_numbers"]
        assert tokens.dtype == lengths.dtype == torch.int64 and tokens.shape[1] == 10
        for row in range(len(tokens)):
            text = rows[int(lines[row]) - 1][1]
            assert int(lengths[row]) == len(words(text))
            kept = min(int(lengths[row]), 10)
            assert torch.all(tokens[row, kept:] == 0) and torch.all(tokens[row, :kept] >= 1)
            expected = [vocab.index(w) + 2 if w in vocab else 1 for w in words(text)[:10]]
            assert tokens[row, :kept].tolist() == expected
            if kept == int(lengths[row]):  # untruncated: ids and counts are the same bag
                ids = tokens[row, :kept]
                bag = torch.bincount(ids[ids >= 2] - 2, minlength=v).float()
                assert torch.equal(bag, x[row])
    assert s.provenance["truncated_messages"] >= 1
    assert s.provenance["tokens_per_message"]["max"] == 101


def test_stratified_split_keeps_the_spam_ratio_and_follows_the_seed(tmp_path):
    write_sms(tmp_path / "sms-spam", corpus(300, 45))
    s = load(tmp_path)
    assert len(s.test_y) == 90
    assert abs(float(s.test_y.float().mean()) - 0.15) <= 1 / 90
    assert abs(float(s.train_y.float().mean()) - 0.15) <= 1 / 210
    again = load(tmp_path)
    assert torch.equal(again.extras["test_line_numbers"], s.extras["test_line_numbers"])
    other = SMSSpam().load(SMS_V1.with_overrides(split_seed=7), tmp_path, download=False)
    assert not torch.equal(other.extras["test_line_numbers"], s.extras["test_line_numbers"])


def test_unknown_params_and_features_are_refused(tmp_path):
    write_sms(tmp_path / "sms-spam", corpus())
    with pytest.raises(AebenchError, match="unknown sms-spam param.*min-df"):
        SMSSpam().load(SMS_V1.with_overrides(params={"min-df": 3}), tmp_path, download=False)
    with pytest.raises(AebenchError, match="features 'words'"):
        load(tmp_path, features="words")


# -- download ---------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def published(tmp_path, monkeypatch):
    """The bytes of a generated file, blessed as the published one."""
    write_sms(tmp_path / "src", corpus())
    data = (tmp_path / "src" / "SMSSpamCollection").read_bytes()
    monkeypatch.setattr(sms_spam.source, "FILE_SHA256", sha256_bytes(data))
    return data


def serve(monkeypatch, base: str, name: str) -> None:
    monkeypatch.setattr(sms_spam.source, "ARCHIVE_URLS", (base + "gone.zip", base + name))


def test_download_extracts_verifies_and_loads(tmp_path, monkeypatch, published):
    make_zip(tmp_path / "www" / "sms.zip", {"SMSSpamCollection": published, "readme": b"hi"})
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        s = load(tmp_path / "cache", download=True)
    entry = s.provenance["files"]["SMSSpamCollection"]
    assert entry["downloaded_from"] == base + "sms.zip" and s.provenance["canonical"] is True
    assert files_under(tmp_path / "cache") == {"sms-spam", "sms-spam/SMSSpamCollection"}
    assert (tmp_path / "cache" / "sms-spam" / "SMSSpamCollection").read_bytes() == published
    assert (
        "downloaded_from" not in load(tmp_path / "cache").provenance["files"]["SMSSpamCollection"]
    )


def test_a_file_in_a_folder_of_the_zip_lands_under_our_name(tmp_path, monkeypatch, published):
    make_zip(tmp_path / "www" / "sms.zip", {"smsspamcollection/SMSSpamCollection": published})
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        load(tmp_path / "cache", download=True)
    assert files_under(tmp_path / "cache") == {"sms-spam", "sms-spam/SMSSpamCollection"}


def test_the_extracted_file_must_match_the_published_checksum(tmp_path, monkeypatch):
    write_sms(tmp_path / "src", corpus())
    data = (tmp_path / "src" / "SMSSpamCollection").read_bytes()
    make_zip(tmp_path / "www" / "sms.zip", {"SMSSpamCollection": data})
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        with pytest.raises(DataError, match="checksum mismatch for SMSSpamCollection") as excinfo:
            load(tmp_path / "cache", download=True)
    assert "\n" not in str(excinfo.value) and sms_spam.source.FILE_SHA256 in str(excinfo.value)
    assert files_under(tmp_path / "cache") == {"sms-spam"}


def test_a_known_archive_checksum_is_checked_first(tmp_path, monkeypatch, published):
    archive = make_zip(tmp_path / "www" / "sms.zip", {"SMSSpamCollection": published})
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        monkeypatch.setattr(sms_spam.source, "ARCHIVE_SHA256", "0" * 64)
        with pytest.raises(DataError, match="checksum mismatch"):
            load(tmp_path / "cache", download=True)
        assert files_under(tmp_path / "cache") == {"sms-spam"}
        monkeypatch.setattr(sms_spam.source, "ARCHIVE_SHA256", sha256_file(archive))
        assert load(tmp_path / "cache", download=True).provenance["canonical"] is True


@pytest.mark.parametrize("hostile", ["dotdot", "absolute", "symlink"])
def test_hostile_archives_are_refused_and_write_nothing_outside(
    tmp_path, monkeypatch, published, hostile
):
    outside = tmp_path / "outside"
    outside.mkdir()
    members, links = {}, {}
    if hostile == "dotdot":
        members["../SMSSpamCollection"] = published
    elif hostile == "absolute":
        members[str(outside / "SMSSpamCollection")] = published
    else:
        links["SMSSpamCollection"] = str(outside / "SMSSpamCollection")
    make_zip(tmp_path / "www" / "sms.zip", members, links)
    before = files_under(tmp_path)
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        with pytest.raises(DataError, match="refusing member") as excinfo:
            load(tmp_path / "cache", download=True)
    assert "\n" not in str(excinfo.value)
    assert files_under(tmp_path) - before == {"cache", "cache/sms-spam"}


def test_other_members_of_the_archive_are_never_extracted(tmp_path, monkeypatch, published):
    absolute = tmp_path / "abs-escaped"
    members = {"SMSSpamCollection": published, "../escaped": b"evil", str(absolute): b"x"}
    make_zip(tmp_path / "www" / "sms.zip", members)
    with serve_directory(tmp_path / "www") as base:
        serve(monkeypatch, base, "sms.zip")
        load(tmp_path / "cache", download=True)
    assert not (tmp_path / "escaped").exists() and not absolute.exists()
    assert files_under(tmp_path / "cache") == {"sms-spam", "sms-spam/SMSSpamCollection"}


def test_missing_file_offline_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError) as excinfo:
        load(tmp_path, download=False)
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(tmp_path / "sms-spam") in message and "SMSSpamCollection" in message
    assert "--data-dir" in message


def test_download_fails_fast_when_offline(tmp_path, monkeypatch):
    port = closed_port()
    monkeypatch.setattr(
        sms_spam.source,
        "ARCHIVE_URLS",
        (f"http://127.0.0.1:{port}/a.zip", f"http://127.0.0.1:{port}/b"),
    )
    start = time.perf_counter()
    with pytest.raises(DataError) as excinfo:
        load(tmp_path, download=True)
    print(f"offline sms-spam load gave up after {time.perf_counter() - start:.3f} s")
    assert time.perf_counter() - start < 30  # a hang guard, not a timing
    message = str(excinfo.value)
    assert "\n" not in message and "download failed" in message and "--data-dir" in message
    assert files_under(tmp_path) == {"sms-spam"}


def test_registers_every_protocol_newest_first():
    seen = {}
    sms_spam.aebench_register_datasets(lambda name, factory, **kw: seen.update({name: kw}))
    protocols = seen["sms-spam"]["protocols"]
    assert [p.key for p in protocols] == [
        f"sms-spam{kind}-v{v}" for v in (5, 4, 3, 2, 1) for kind in ("", "-contaminated")
    ] + ["sms-spam-contaminated-matched-v1"]  # after the others: the default of nothing
    normal, contaminated = protocols[-3:-1]
    assert (normal.anomaly_train, contaminated.anomaly_train) == ("normal", "all")
    for p in (normal, contaminated):
        assert p.dataset == "sms-spam" and p.task == "anomaly" and p.binarization == "none"
        assert p.params == {
            "features": "binary",
            "min_df": 2,
            "max_features": None,
            "test_fraction": 0.3,
            "max_len": 64,
            "skip_bad_lines": False,
        }
    same = dict(name="sms-spam", anomaly_train="normal", description=SMS_V1.description)
    assert SMS_CONTAMINATED_V1.with_overrides(**same) == SMS_V1


@pytest.mark.data
@pytest.mark.skipif(
    not (SHARED_DATA / "sms-spam").is_dir(), reason=f"shared SMS data not found at {SHARED_DATA}"
)
def test_shared_real_data():
    s = load(SHARED_DATA)
    prov = s.provenance
    assert prov["canonical"] is True and prov["n_lines"] == 5_574
    assert (prov["n_messages"], prov["n_ham"], prov["n_spam"]) == (5_574, 4_827, 747)
    assert (prov["n_train"], prov["n_test"]) == (3_901, 1_673)
    assert (prov["n_train_normal"], prov["n_test_anomalous"]) == (3_378, 224)
    assert prov["skipped_lines"] == 0
    # train_test_split's stratified shuffle with split seed 12345; the 3,294 is the
    # same kind of split with random_state=0 (checked below through its own load)
    assert prov["vocab_size"] == 3_291 == s.dim
    assert prov["encoding_note"].startswith("35 messages hold C1 control characters")
    assert prov["truncated_messages"] == 22  # of 5,574 at max_len 64
    seed0 = SMSSpam().load(SMS_V1.with_overrides(split_seed=0), SHARED_DATA, download=False)
    assert seed0.provenance["vocab_size"] == 3_294


def char_grams(text: str, n: int) -> set[str]:
    """An independent character 1..n-gram set: lower-cased, runs of white space as one space."""
    t = re.sub(r"\s\s+", " ", text.lower())
    return {t[i : i + m] for m in range(1, n + 1) for i in range(len(t) - m + 1)}


def test_character_ngrams_by_hand_vocabulary_from_normal_fit_messages_only(tmp_path):
    from aebench_plugins.datasets.sms_spam import SMS_V3

    rows = corpus(80, 16)
    write_sms(tmp_path / "sms-spam", rows)
    first = load(tmp_path, protocol=SMS_V3)
    test_lines = first.extras["test_line_numbers"].tolist()
    rows[test_lines[0] - 1] = (rows[test_lines[0] - 1][0], rows[test_lines[0] - 1][1] + " £7")
    write_sms(tmp_path / "sms-spam", rows)
    s = load(tmp_path, protocol=SMS_V3)
    k = SMS_V3.params["oov_buckets"]
    names = s.extras["vocabulary"]
    char_names = [c[len("<char:") : -1] for c in names if c.startswith("<char:")]
    lines = {"train": s.extras["train_line_numbers"], "test": s.extras["test_line_numbers"]}
    fit, _ = carve_validation(len(lines["train"]), SMS_V3.val_fraction, SMS_V3.split_seed)
    normal_fit = [n for n in lines["train"][fit].tolist() if rows[n - 1][0] == "ham"]
    expected_vocab = sorted(set().union(*(char_grams(rows[n - 1][1], 2) for n in normal_fit)))
    assert char_names == expected_vocab
    assert "£" not in char_names and "£7" not in char_names  # only the test split holds them
    assert names[-k:] == [f"<char-oov:{j}>" for j in range(k)]
    column = {g: j for j, g in enumerate(char_names)}
    start = len(names) - k - len(char_names)
    for split, x in (("train", s.train_x), ("test", s.test_x)):
        for row, n in enumerate(lines[split].tolist()):
            grams = char_grams(rows[n - 1][1], 2)
            want = np.zeros(len(char_names) + k, np.float32)
            for g in grams:
                j = column.get(g)
                want[j if j is not None else len(char_names) + zlib.crc32(g.encode()) % k] = 1
            np.testing.assert_array_equal(x[row, start:].numpy(), want)
    row = lines["test"].tolist().index(test_lines[0])
    assert s.test_x[row, -k:].sum() >= 1  # the unseen "£", "£7", " £" are in a bucket
    assert s.provenance["char_ngrams"]["ngram_range"] == [1, 2]
    assert s.provenance["n_features"] == len(names) == s.train_x.shape[1]
    with pytest.raises(AebenchError, match="char_ngrams"):
        load(tmp_path, protocol=SMS_V3, char_ngrams=-1)
