"""sms-spam-v5: repeated messages removed before the split, on a small file in the publisher's
format; the counts checked against an independent count (pandas), the published protocols'
fingerprints against their stored records, and the run files against the regeneration loop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tomllib
from conftest import REPO, SHARED_DATA, run_cli
from test_sms_spam import corpus, write_sms

from aebench.dataset import for_run
from aebench.errors import AebenchError
from aebench_plugins.datasets import sms_spam
from aebench_plugins.datasets.sms_spam import (
    SMS_CONTAMINATED_V4,
    SMS_CONTAMINATED_V5,
    SMS_V4,
    SMS_V5,
    SMSSpam,
)

NEW = (SMS_V5, SMS_CONTAMINATED_V5)


def repeated_corpus() -> list[tuple[str, str]]:
    """corpus() plus repeats: verbatim copies, copies in other case and spacing, a text under
    both labels (three times), and a near copy that is not a repeat (other punctuation)."""
    rows = corpus(60, 12)
    spam, ham = rows[:12], rows[12:]
    return rows + [
        spam[0],
        spam[0],
        spam[3],
        ham[0],
        ham[5],
        (ham[7][0], ham[7][1].upper()),
        (ham[9][0], ham[9][1].replace(" ", "   ")),
        (spam[4][0], spam[4][1].replace(" ", " \t ")),
        ("ham", "Both ways message here"),
        ("spam", "both  WAYS message here"),
        ("ham", "Both ways message here"),
        (ham[2][0], ham[2][1].replace("!", "?")),  # not a repeat: a character differs
    ]


def independent_count(rows) -> tuple[pd.DataFrame, dict[str, int]]:
    """The messages kept (1-based line numbers as index) and the counts, with pandas."""
    df = pd.DataFrame(rows, columns=["label", "text"], index=np.arange(1, len(rows) + 1))
    df["key"] = df.text.str.lower().str.replace(r"\s{2,}", " ", regex=True)
    both = df.groupby("key").label.nunique() > 1
    kept = df[~df.key.isin(both[both].index)].drop_duplicates("key", keep="first")
    gone = df.drop(kept.index)
    return kept, {
        "removed": len(gone),
        "removed_ham": int((gone.label == "ham").sum()),
        "removed_spam": int((gone.label == "spam").sum()),
        "texts_under_both_labels": int(both.sum()),
        "n_messages": len(kept),
        "n_ham": int((kept.label == "ham").sum()),
        "n_spam": int((kept.label == "spam").sum()),
    }


def keys_of(rows, lines) -> set[str]:
    """The texts at ``lines``, lower-cased with all white space as one space (looser than the
    rule: no pair it calls equal may straddle the split either)."""
    return {" ".join(rows[int(n) - 1][1].lower().split()) for n in lines}


@pytest.fixture
def data(tmp_path):
    rows = repeated_corpus()
    write_sms(tmp_path / "sms-spam", rows)
    return tmp_path, rows


def test_no_test_message_repeats_a_training_message_on_any_seed(data):
    data_dir, rows = data
    kept, counts = independent_count(rows)
    leaks_v4 = 0
    for seed in range(5):
        old = SMSSpam().load(for_run(SMS_V4, seed), data_dir, download=False)
        leaks_v4 += len(
            keys_of(rows, old.extras["train_line_numbers"])
            & keys_of(rows, old.extras["test_line_numbers"])
        )
        for protocol in NEW:
            s = SMSSpam().load(for_run(protocol, seed), data_dir, download=False)
            train, test = s.extras["train_line_numbers"], s.extras["test_line_numbers"]
            assert not keys_of(rows, train) & keys_of(rows, test), (protocol.key, seed)
            # exactly the first copy of each text, the conflicting text nowhere
            assert sorted(train.tolist() + test.tolist()) == kept.index.tolist()
            labels = np.array([rows[int(n) - 1][0] == "spam" for n in test])
            assert np.array_equal(s.test_y.numpy(), labels)
            assert s.provenance["test_messages_also_in_train"] == 0
            assert s.provenance["n_train"] + s.provenance["n_test"] == counts["n_messages"]
    assert leaks_v4 > 0  # the same file under v4 does put repeats on both sides


def test_the_provenance_counts_what_an_independent_count_finds(data):
    data_dir, rows = data
    _, counts = independent_count(rows)
    assert counts["removed"] == 11 and counts["texts_under_both_labels"] == 1  # the file's own
    s = SMSSpam().load(for_run(SMS_V5, 0), data_dir, download=False)
    dup = s.provenance["duplicates"]
    assert {k: dup[k] for k in counts} == counts
    assert "first in the file kept" in dup["rule"]
    # the file is described as read: every line, before any removal
    assert (s.provenance["n_messages"], s.provenance["n_spam"]) == (
        len(rows),
        sum(label == "spam" for label, _ in rows),
    )
    old = SMSSpam().load(for_run(SMS_V4, 0), data_dir, download=False)
    assert "duplicates" not in old.provenance  # v4 loads exactly as before
    assert old.provenance["n_train"] + old.provenance["n_test"] == len(rows)


def test_the_record_says_how_many_were_removed(data, tmp_path):
    data_dir, rows = data
    _, counts = independent_count(rows)
    rd = tmp_path / "records"
    res = run_cli(
        *("run", "-p", "sms-spam-v5", "-m", "mean", "--seeds", "0", "--no-download"),
        *("--data-dir", str(data_dir), "--results-dir", str(rd), "--threads", "1", "--quiet"),
    )
    assert res.returncode == 0, res.stderr
    (path,) = rd.rglob("seed-0.json")
    rec = json.loads(path.read_text())
    assert rec["status"] == "ok" and rec["protocol"]["fingerprint"] == SMS_V5.fingerprint()
    dup = rec["dataset"]["duplicates"]
    assert {k: dup[k] for k in counts} == counts
    assert rec["anomaly"]["n_test"] + rec["dataset"]["n_train"] == counts["n_messages"]


def test_v5_is_v4_with_dedup_and_five_seeds():
    for new, old in ((SMS_V5, SMS_V4), (SMS_CONTAMINATED_V5, SMS_CONTAMINATED_V4)):
        assert new.seeds == (0, 1, 2, 3, 4) and new.params["dedup"] == "exact"
        back = new.with_overrides(
            version=4, seeds=old.seeds, params=old.params, description=old.description
        )
        assert back == old and new.key == f"{old.name}-v5"
    seen = {}
    sms_spam.aebench_register_datasets(lambda name, factory, **kw: seen.update({name: kw}))
    assert [p.key for p in seen["sms-spam"]["protocols"][:2]] == [p.key for p in NEW]


def test_published_protocols_keep_their_fingerprints():
    """Adding ``dedup`` (default "none") changes no stored record's protocol fingerprint."""
    seen = {}
    sms_spam.aebench_register_datasets(lambda name, factory, **kw: seen.update({name: kw}))
    old = [p for p in seen["sms-spam"]["protocols"] if p not in NEW]
    assert len(old) == 9
    for protocol in old:
        assert "dedup" not in protocol.params
        stored = sorted(
            (REPO / "results" / "records" / protocol.key).glob("sms-spam/*/seed-0.json")
        )
        assert stored, f"no stored record of {protocol.key}"
        rec = json.loads(stored[0].read_text())
        assert rec["protocol"]["fingerprint"] == protocol.fingerprint(), protocol.key


def test_an_unknown_dedup_rule_is_refused(data):
    data_dir, _ = data
    bad = SMS_V5.with_overrides(params={**SMS_V5.params, "dedup": "fuzzy"})
    with pytest.raises(AebenchError, match=r"dedup 'fuzzy' is not one of \('none', 'exact'\)"):
        SMSSpam().load(bad, data_dir, download=False)


def test_the_new_versions_have_run_files_in_the_regeneration_loop():
    script = (REPO / "results" / "regenerate.sh").read_text()
    loop = script.split("for protocol in", 1)[1].split("; do", 1)[0].replace("\\", " ").split()
    for protocol in NEW:
        path = REPO / "results" / "runs" / f"{protocol.key}.toml"
        run = tomllib.loads(path.read_text())
        assert run["protocol"] == protocol.key and run["results-dir"] == "results/records"
        assert protocol.key in loop
    assert "sms-spam-v4" not in loop and "sms-spam-contaminated-v4" not in loop


@pytest.mark.data
@pytest.mark.skipif(not (SHARED_DATA / "sms-spam").is_dir(), reason="no shared SMS data")
def test_real_file_repeats():
    """The published file: 404 repeats (310 ham, 94 spam); v4's seed-0 split put 153 test
    messages beside a verbatim copy in training, v5's none."""
    new = SMSSpam().load(for_run(SMS_V5, 0), SHARED_DATA, download=False).provenance
    dup = new["duplicates"]
    assert (dup["removed"], dup["removed_ham"], dup["removed_spam"]) == (404, 310, 94)
    assert dup["texts_under_both_labels"] == 0 and dup["n_messages"] == 5_170
    assert (new["n_test"], new["n_test_anomalous"], new["test_messages_also_in_train"]) == (
        1_551,
        196,
        0,
    )
    old = SMSSpam().load(for_run(SMS_V4, 0), SHARED_DATA, download=False).provenance
    assert old["test_messages_also_in_train"] == 153
