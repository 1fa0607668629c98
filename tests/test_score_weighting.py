"""Inverse-variance weighting of reconstruction-error anomaly scores, and sms-spam-v2's
vocabulary of normal messages only."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import torch
from test_sms_spam import corpus, words, write_sms

from aebench.dataset import carve_validation
from aebench.errors import AebenchError
from aebench.model import DataSpec, Model
from aebench.registry.loading import load_registry
from aebench.run import metrics as M
from aebench.run import runner
from aebench.testing import ToyPlugin
from aebench_plugins.datasets.sms_spam import SMS_CONTAMINATED_V2, SMS_V1, SMS_V2, SMSSpam


class _Shrink(Model):
    """Reconstructs x as x / 2: every squared error is x² / 4, easy to check by hand."""

    def __init__(self) -> None:
        super().__init__(DataSpec(3, (3,), "vector"), 1, None)

    def fit(self, train, ctx) -> None: ...

    def encode(self, x):
        return x

    def decode(self, z):
        return z / 2


def test_weights_are_inverse_training_variance_with_a_floor_of_one_over_n():
    x = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    w = M.inverse_variance_weights(x)
    # population variances: 1/4, 0 (never varies), 3/16; floor 1/n = 1/4
    np.testing.assert_allclose(w.numpy(), [1 / (1 / 4 + 1 / 4), 4.0, 1 / (3 / 16 + 1 / 4)])
    # a binary feature present at rate p weighs ~1/p when p is small
    rare = torch.zeros(1000, 1)
    rare[:10] = 1.0
    assert M.inverse_variance_weights(rare).item() == pytest.approx(1 / (0.01 * 0.99 + 1e-3))


def test_weighted_scores_against_a_hand_computation():
    x = torch.tensor([[2.0, 0.0, 4.0], [0.0, 2.0, 0.0]])
    w = torch.tensor([1.0, 10.0, 0.5])
    plain = M.anomaly_scores(_Shrink(), x, batch_size=1, use_recon=True)
    weighted = M.anomaly_scores(_Shrink(), x, batch_size=1, use_recon=True, weights=w)
    # squared errors (x/2)²: row 0 -> [1, 0, 4], row 1 -> [0, 1, 0]
    assert plain.tolist() == pytest.approx([5 / 3, 1 / 3])
    assert weighted.tolist() == pytest.approx([(1 + 0 + 2) / 3, 10 / 3])


def _toy_run(tmp_path, model: str, weighting: str):
    registry = load_registry(extra_plugins=[("toy", ToyPlugin)])
    req = runner.plan(
        registry,
        [model],
        ["toy"],
        protocol="toy-anomaly",
        seeds=[0],
        protocol_overrides={"anomaly_score_weighting": weighting},
    )[0]
    tiny = dataclasses.asdict(registry.model(model).make_config(tiny=True))
    req = dataclasses.replace(req, config_overrides=tuple(sorted(tiny.items())))
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    return runner.run_one(registry, req, torch.device("cpu"), data).record


def test_the_harness_weights_reconstruction_scores_only(tmp_path):
    plain = _toy_run(tmp_path / "a", "pca", "none")
    weighted = _toy_run(tmp_path / "b", "pca", "inverse-variance")
    assert plain["anomaly"]["score"] == "reconstruction MSE"
    assert weighted["anomaly"]["score"].startswith("reconstruction squared error weighted")
    assert plain["metrics"]["anomaly.threshold"] != weighted["metrics"]["anomaly.threshold"]
    # a model with its own score keeps it, whatever the protocol says
    own = _toy_run(tmp_path / "c", "isolation-forest", "inverse-variance")
    same = _toy_run(tmp_path / "d", "isolation-forest", "none")
    assert own["anomaly"]["score"] == "model's anomaly_score"
    assert own["metrics"]["anomaly.auroc"] == same["metrics"]["anomaly.auroc"]


def test_an_unknown_weighting_stops_the_suite(tmp_path):
    with pytest.raises(AebenchError, match="anomaly_score_weighting"):
        _toy_run(tmp_path, "pca", "inverse-varience")


def _load(protocol, data_dir, **params):
    protocol = protocol.with_overrides(params={**protocol.params, **params})
    return SMSSpam().load(protocol, data_dir, download=False)


def _fit_lines(splits) -> list[int]:
    """Line numbers of the training messages the harness fits on (its own validation carve)."""
    lines = splits.extras["train_line_numbers"]
    fit, _ = carve_validation(len(lines), SMS_V2.val_fraction, SMS_V2.split_seed)
    return lines[fit].tolist()


def _words(rows, lines) -> list[str]:
    return sorted({w for n in lines for w in words(rows[n - 1][1])})


def test_v2_builds_the_vocabulary_from_normal_training_messages_only(tmp_path):
    rows = corpus(60, 12)  # every message has a word of its own ("onlyNNN")
    for i in range(12):  # and every spam shares "jackpot" with the other spam
        rows[i] = (rows[i][0], rows[i][1] + " jackpot")
    write_sms(tmp_path / "sms-spam", rows)
    v2 = _load(SMS_V2, tmp_path)
    v1 = _load(SMS_V1, tmp_path, min_df=1)
    fit = _fit_lines(v2)
    ham = [n for n in fit if rows[n - 1][0] == "ham"]
    k = SMS_V2.params["oov_buckets"]
    assert v2.extras["vocabulary"][:-k] == _words(rows, ham)
    assert v2.extras["vocabulary"][-k:] == [f"<oov:{j}>" for j in range(k)]
    assert v2.dim == len(v2.extras["vocabulary"])
    assert v2.extras["vocab_size"] == len(v2.extras["vocabulary"]) - k + 2  # token ids: pad, oov
    assert "jackpot" in v1.extras["vocabulary"] and "jackpot" not in v2.extras["vocabulary"]
    assert v2.provenance["vocabulary_from"].startswith("normal messages of the training split")
    # the same split and labels; only the columns differ
    assert torch.equal(v1.anomaly.test_anomalous, v2.anomaly.test_anomalous)
    # contamination uses no labels: every message the models fit on, spam included
    c2 = _load(SMS_CONTAMINATED_V2, tmp_path)
    assert c2.extras["vocabulary"][:-k] == _words(rows, fit)
    assert "jackpot" in c2.extras["vocabulary"]


def test_out_of_vocabulary_words_set_their_hashed_bucket(tmp_path):
    rows = corpus(60, 12)
    write_sms(tmp_path / "sms-spam", rows)
    k = 8
    s = _load(SMS_V2, tmp_path, oov_buckets=k)
    vocab = set(s.extras["vocabulary"][:-k])
    fit = set(_fit_lines(s))
    for x, lines, train in (
        (s.train_x, s.extras["train_line_numbers"], True),
        (s.test_x, s.extras["test_line_numbers"], False),
    ):
        for row, n in enumerate(lines.tolist()):
            expected = np.zeros(k, np.float32)
            for w in words(rows[n - 1][1]):
                if w not in vocab:
                    expected[zlib.crc32(w.encode()) % k] = 1.0
            np.testing.assert_array_equal(x[row, -k:].numpy(), expected)
            if train and rows[n - 1][0] == "ham" and n in fit:  # all its words are known
                assert not expected.any()
            if not train:  # each message's own word is new to the vocabulary
                assert expected.any()
    with pytest.raises(AebenchError, match="oov_buckets"):
        _load(SMS_V2, tmp_path, oov_buckets=-1)


def test_an_unknown_vocabulary_source_is_refused(tmp_path):
    write_sms(tmp_path / "sms-spam", corpus(60, 12))
    bad = SMS_V2.with_overrides(params={**SMS_V2.params, "vocabulary": "spam"})
    with pytest.raises(AebenchError, match="vocabulary"):
        SMSSpam().load(bad, tmp_path, download=False)
