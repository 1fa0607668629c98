"""Per-seed splits (digits-v2, sms-spam-v4): each seed draws its own stratified split, and the
record names it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, run_cli

from aebench.dataset import carve_validation, for_run, run_split_seed
from aebench.registry.loading import load_registry
from aebench.run.runner import DataCache
from aebench_plugins.datasets.digits import (
    DIGITS_NOVELTY_V1,
    DIGITS_NOVELTY_V2,
    DIGITS_V1,
    DIGITS_V2,
    Digits,
)
from aebench_plugins.datasets.sms_spam import (
    SMS_CONTAMINATED_V3,
    SMS_CONTAMINATED_V4,
    SMS_CONTAMINATED_V5,
    SMS_V3,
    SMS_V4,
    SMS_V5,
    SMSSpam,
)

PAIRS = [
    (DIGITS_V2, DIGITS_V1),
    (DIGITS_NOVELTY_V2, DIGITS_NOVELTY_V1),
    (SMS_V4, SMS_V3),
    (SMS_CONTAMINATED_V4, SMS_CONTAMINATED_V3),
]


@pytest.mark.parametrize("new, old", PAIRS, ids=lambda p: p.key)
def test_new_versions_change_only_the_split_and_the_adam_kernel(new, old):
    assert new.split_per_seed and not old.split_per_seed and new.version == old.version + 1
    assert (new.optimizer_impl, old.optimizer_impl) == ("fused", "single")
    back = new.with_overrides(version=old.version, split_per_seed=False, optimizer_impl="single")
    assert dataclasses.replace(back, description=old.description) == old
    # published fingerprints stay: the new field is left out where it has its default
    assert "split_per_seed" not in old.to_dict() and new.to_dict()["split_per_seed"] is True


def test_per_seed_versions_are_their_data_sets_defaults():
    registry = load_registry()
    assert registry.dataset("digits").protocol() == DIGITS_V2
    assert registry.dataset("digits").protocol("digits-novelty") == DIGITS_NOVELTY_V2
    # v5 (repeated messages removed, 5 seeds) keeps v4's split per seed
    assert registry.dataset("sms-spam").protocol() == SMS_V5 and SMS_V5.split_per_seed
    assert registry.dataset("sms-spam").protocol("sms-spam-contaminated") == SMS_CONTAMINATED_V5
    assert SMS_CONTAMINATED_V5.split_per_seed


def test_split_seed_is_derived_from_the_run_seed():
    s0, s1 = run_split_seed(DIGITS_V2, 0), run_split_seed(DIGITS_V2, 1)
    assert s0 != s1 and run_split_seed(DIGITS_V2, 0) == s0
    assert s0 == int(np.random.SeedSequence([DIGITS_V2.split_seed, 0]).generate_state(1)[0])
    assert run_split_seed(DIGITS_V1, 0) == run_split_seed(DIGITS_V1, 7) == DIGITS_V1.split_seed
    assert for_run(DIGITS_V1, 7) is DIGITS_V1
    run = for_run(DIGITS_V2, 1)
    assert run.split_seed == s1 and run.key == "digits-v2" and run.split_per_seed


def _digits(seed: int, tmp_path):
    return Digits().load(for_run(DIGITS_V2, seed), tmp_path)


def test_two_seeds_draw_different_stratified_disjoint_splits(tmp_path):
    from sklearn.datasets import load_digits

    y = load_digits().target
    a, b = _digits(0, tmp_path), _digits(1, tmp_path)
    for s in (a, b):
        tr, te = s.extras["train_index"].numpy(), s.extras["test_index"].numpy()
        assert not set(tr) & set(te) and len(tr) + len(te) == len(y) == len(set(tr) | set(te))
        assert np.array_equal(s.test_y.numpy(), y[te])
        for digit in range(10):  # stratified: each digit's test count within one of 30 %
            assert abs(int((y[te] == digit).sum()) - 0.3 * int((y == digit).sum())) <= 1
    assert set(a.extras["test_index"].tolist()) != set(b.extras["test_index"].tolist())
    assert a.provenance["split"].endswith(f"seed {run_split_seed(DIGITS_V2, 0)}")
    again = _digits(0, tmp_path)
    assert torch.equal(again.extras["test_index"], a.extras["test_index"])
    assert torch.equal(again.test_x, a.test_x) and torch.equal(again.train_x, a.train_x)


def test_the_data_cache_holds_each_split_under_its_own_key(tmp_path):
    cache = DataCache(load_registry(), tmp_path, False, torch.device("cpu"))
    p0 = cache.get("digits", for_run(DIGITS_V2, 0))
    p1 = cache.get("digits", for_run(DIGITS_V2, 1))
    assert p0 is not p1 and cache.get("digits", for_run(DIGITS_V2, 0)) is p0
    assert not torch.equal(p0.splits.test_x, p1.splits.test_x)
    assert not torch.equal(p0.val_idx, p1.val_idx)  # the validation slice is the split's too
    for seed in range(2, 2 + DataCache.keep):  # past its size the least recently used goes
        cache.get("digits", for_run(DIGITS_V2, seed))
    assert cache.get("digits", for_run(DIGITS_V2, 0)) is not p0


@pytest.mark.e2e  # --jobs 2: two run hosts, each a new process
def test_digits_v2_through_the_cli_in_two_hosts(tmp_path):
    """Two seeds, two run hosts (--jobs 2): each record names its own split, and the figures
    in it are over that split (the mean row's errors recomputed from the split alone)."""
    rd = tmp_path / "records"
    args = ("run", "-p", "digits-v2", "-m", "mean,vae", "--seeds", "0,1", "--budget", "640")
    res = run_cli(*args, "--jobs", "2", "--threads", "1", "--results-dir", str(rd), "--quiet")
    assert res.returncode == 0, res.stderr
    shown = run_cli("show", "--explain", "--results-dir", str(rd))  # the split note's place
    assert "Split: each seed draws its own stratified split" in shown.stdout
    records = {}
    for path in rd.rglob("*.json"):
        rec = json.loads(path.read_text())
        records[rec["model"]["name"], rec["seed"]] = (rec, np.load(path.with_suffix(".npz")))
    assert len(records) == 4 and all(r["status"] == "ok" for r, _ in records.values())
    for seed in (0, 1):
        split_seed = run_split_seed(DIGITS_V2, seed)
        for model in ("mean", "vae"):
            rec = records[model, seed][0]
            assert rec["dataset"]["split_seed"] == split_seed and rec["protocol"]["split_per_seed"]
            rule = rec["dataset"]["split_seed_rule"]
            assert f"SeedSequence([{DIGITS_V2.split_seed}, {seed}])" in rule
        splits = _digits(seed, tmp_path)
        fit, _ = carve_validation(len(splits.train_x), DIGITS_V2.val_fraction, split_seed)
        mean = splits.train_x[fit].double().mean(0)
        expected = ((splits.test_x.double() - mean) ** 2).mean(1).numpy()
        np.testing.assert_allclose(records["mean", seed][1]["recon_mse"], expected, rtol=1e-5)
    a, b = records["mean", 0][1]["recon_mse"], records["mean", 1][1]["recon_mse"]
    assert a.shape == b.shape and not np.allclose(a, b)


@pytest.mark.data
@pytest.mark.skipif(
    not (SHARED_DATA / "sms-spam").is_dir(), reason=f"shared SMS data not found at {SHARED_DATA}"
)
def test_sms_v4_seeds_draw_different_stratified_splits():
    a, b = (SMSSpam().load(for_run(SMS_V4, s), SHARED_DATA) for s in (0, 1))
    lines = [set(s.extras["test_line_numbers"].tolist()) for s in (a, b)]
    assert lines[0] != lines[1]
    for s in (a, b):
        assert not set(s.extras["train_line_numbers"].tolist()) & set(
            s.extras["test_line_numbers"].tolist()
        )
        assert int(s.test_y.sum()) == a.provenance["n_test_anomalous"]  # stratified: same count
