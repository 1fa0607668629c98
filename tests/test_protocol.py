"""Protocols: fingerprints that never move, the likelihood scope, one resolver for names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from toy_models import Cfg, LinearAE

from aebench import LikelihoodEstimate, hookimpl
from aebench.errors import AebenchError
from aebench.protocol import Protocol, resolve_key
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.testing import TOY, TOY_ANOMALY, ToyPlugin

RECORDS = Path(__file__).resolve().parents[1] / "results" / "records"

#: every built-in protocol's fingerprint, computed on main before the ``likelihoods`` field
PUBLISHED = {
    "sms-spam-v3": "653436a45f9a",
    "sms-spam-contaminated-v3": "e33eb37794cb",
    "sms-spam-v2": "1867e93b4f03",
    "sms-spam-contaminated-v2": "745c054f104a",
    "sms-spam-v1": "8ae54dd8ae3a",
    "sms-spam-contaminated-v1": "d4ffed40299c",
    "mnist-v1": "26eb10038a65",
    "mnist-novelty-v1": "e64de7027af7",
    "digits-v1": "ffb14ec43618",
    "digits-novelty-v1": "4fd5bab4974c",
}


def _builtin_protocols() -> dict[str, Protocol]:
    return {p.key: p for _, p in load_registry().protocols()}


def test_every_published_fingerprint_is_unchanged():
    protocols = _builtin_protocols()
    assert {k: protocols[k].fingerprint() for k in PUBLISHED} == PUBLISHED
    for p in protocols.values():
        assert "likelihoods" not in p.to_dict()  # a field added later shows only when set


def test_stored_records_keep_their_protocol():
    """Each registered protocol still has the fingerprint its published records carry."""
    checked = 0
    for key, protocol in _builtin_protocols().items():
        for path in sorted(RECORDS.glob(f"{key}/*/*/seed-0.json"))[:1]:
            assert json.loads(path.read_text())["protocol"]["fingerprint"] == protocol.fingerprint()
            checked += 1
    if not checked:
        pytest.skip("no published records in this checkout")


@pytest.mark.parametrize(
    "task, scope, expected",
    [
        ("reconstruction", "task", True),
        ("anomaly", "task", False),
        ("anomaly", "all", True),
        ("reconstruction", "none", False),
    ],
)
def test_likelihood_scope(task, scope, expected):
    assert dataclasses.replace(TOY, task=task, likelihoods=scope).estimates_likelihoods is expected


def test_an_explicit_scope_is_a_variant_and_a_typo_fails():
    assert TOY_ANOMALY.with_overrides(likelihoods="all").fingerprint() != TOY_ANOMALY.fingerprint()
    with pytest.raises(ValueError, match="likelihoods 'some'"):
        TOY.with_overrides(likelihoods="some")


class CountsLikelihood(LinearAE):
    """Counts the calls of ``likelihood``: the estimators under test are not run for nothing."""

    calls = 0

    def likelihood(self, x, ctx):
        type(self).calls += 1
        return {"toy": LikelihoodEstimate(x.sum(1), "estimate", "toy")}


class _Plugin:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        register("counts", CountsLikelihood, config=Cfg)


@pytest.fixture(scope="module")
def registry():
    return load_registry(extra_plugins=[("toy", ToyPlugin), ("counts", _Plugin)])


def _run(registry, tmp_path, model, protocol, **overrides):
    req = runner.plan(registry, [model], ["toy"], protocol, [0], overrides)[0]
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    return runner.run_one(registry, req, torch.device("cpu"), data).record


@pytest.mark.parametrize(
    "protocol, overrides, calls",
    [("toy", {}, 1), ("toy-anomaly", {}, 0), ("toy-anomaly", {"likelihoods": "all"}, 1)],
)
def test_estimators_run_only_where_a_board_shows_them(
    registry, tmp_path, protocol, overrides, calls
):
    CountsLikelihood.calls = 0
    record = _run(registry, tmp_path, "counts", protocol, **overrides)
    assert record["status"] == "ok", record.get("reason")
    assert CountsLikelihood.calls == calls
    assert ("nll" in record["metrics"]) is bool(calls)
    assert ("likelihood_note" in record) is not bool(calls)


@pytest.mark.parametrize("model", ["pca", "mean", "rbm", "vae"])
def test_no_anomaly_score_depends_on_the_likelihood(registry, tmp_path, model):
    """Skipping the estimators leaves every anomaly figure as it was with them."""
    plain = _run(registry, tmp_path, model, "toy-anomaly")
    full = _run(registry, tmp_path, model, "toy-anomaly", likelihoods="all")
    assert full["likelihood"] and not plain["likelihood"]
    anomaly = {k: v for k, v in full["metrics"].items() if k.startswith(("anomaly.", "diag."))}
    assert anomaly and anomaly == {k: plain["metrics"][k] for k in anomaly}


KNOWN = [("digits", "digits-v1"), ("digits-novelty", "digits-novelty-v1"), ("sms", "sms-v3")]


@pytest.mark.parametrize(
    "asked, key",
    [
        ("digits", "digits-v1"),
        ("digits-v1", "digits-v1"),
        ("digits-novelty", "digits-novelty-v1"),
        ("digits-v1~0123abcd", "digits-v1~0123abcd"),
        ("sms", "sms-v3"),
    ],
)
def test_resolver(asked, key):
    assert resolve_key(asked, KNOWN) == key


def test_resolver_names_the_known_protocols():
    with pytest.raises(AebenchError) as err:
        resolve_key("digit", KNOWN)
    assert str(err.value).startswith("unknown protocol 'digit'; known: digits-v1, ")
    assert "\n" not in str(err.value)


def test_resolver_names_the_versions_of_a_known_protocol_first():
    with pytest.raises(AebenchError) as err:
        resolve_key("digits-v9", KNOWN)
    assert str(err.value) == "unknown protocol 'digits-v9'; digits has only digits-v1"
    more = [("sms", "sms-v3"), ("digits", "digits-v2"), ("digits", "digits-v10")]
    with pytest.raises(AebenchError) as err:
        resolve_key("digits-v9~abc", [*KNOWN, *more])
    assert str(err.value).endswith("digits has digits-v1, digits-v2, digits-v10 (newest)")


def test_records_of_a_removed_plugin_resolve_newest_first(registry):
    records = [{"protocol": {"name": "gone", "key": f"gone-v{v}", "version": v}} for v in (1, 2)]
    assert registry.resolve_group("gone", records) == "gone-v2"
    assert registry.resolve_group("toy", records) == "toy-v1"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"precision": "fp16"}, "precision 'fp16' is not one of"),
        ({"optimizer_impl": "fast"}, "optimizer_impl 'fast' is not one of"),
        ({"anomaly_score_weighting": "idf"}, "anomaly_score_weighting 'idf' is not one of"),
        ({"task": "anomally"}, "task 'anomally' is not one of"),
        ({"anomaly_train": "ham"}, "anomaly_train 'ham' is not one of"),
        ({"binarization": "static"}, "binarization 'static' is not one of"),
        ({"optimizer": "sgd"}, "optimizer 'sgd' is not one of"),
        ({"likelihoods": "some"}, "likelihoods 'some' is not one of"),
        ({"budget_samples": 0}, "budget_samples must be a positive integer"),
        ({"batch_size": 1.5}, "batch_size must be a positive integer"),
        ({"code_size": -1}, "code_size must be a positive integer"),
        ({"seeds": ()}, "seeds must be non-negative integers"),
        ({"seeds": (0, -1)}, "seeds must be non-negative integers"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"val_fraction": 1.0}, "val_fraction must be in"),
        ({"threshold_quantile": 0.0}, "threshold_quantile must be in"),
        ({"contamination_matched": True}, "contamination_matched needs anomaly_train='all'"),
        ({"nll_examples": 0}, "nll_examples must be >= 1"),
        ({"nll_examples": 10, "iwae_examples": 5}, "set nll_examples or iwae_examples, not both"),
    ],
)
def test_a_protocol_is_checked_when_it_is_made(overrides, message):
    """One line naming the protocol and the field, from the constructor (and so from
    ``with_overrides``), not from the first run that uses the protocol."""
    from aebench.errors import ProtocolError

    fields = {**dataclasses.asdict(TOY_ANOMALY), "seeds": TOY_ANOMALY.seeds, **overrides}
    with pytest.raises(ProtocolError, match=message) as made:
        Protocol(**fields)
    assert str(made.value).startswith("protocol toy-anomaly-v1: ")
    assert "\n" not in str(made.value)
    with pytest.raises(ProtocolError, match=message):
        TOY_ANOMALY.with_overrides(**overrides)


def test_every_builtin_protocol_passes_its_checks():
    for p in _builtin_protocols().values():
        p.check()


def test_the_score_weightings_a_protocol_accepts_are_the_ones_metrics_apply():
    from aebench.protocol import SCORE_WEIGHTINGS
    from aebench.run import metrics

    assert SCORE_WEIGHTINGS == metrics.SCORE_WEIGHTINGS
