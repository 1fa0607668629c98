"""One set of test examples per likelihood column: the protocol's subset at run time, and the
common examples on a board built from records whose NLLs cover different ones (mnist-v1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from aebench.dataset import for_run
from aebench.errors import AebenchError
from aebench.records import artifacts, storage
from aebench.registry.loading import load_registry
from aebench.report import nll_alignment
from aebench.report.build import build_boards
from aebench.run import nll_examples, runner
from aebench_plugins.datasets.digits import DIGITS_V2, Digits
from aebench_plugins.datasets.mnist import MNIST_V1, MNIST_V2

RECORDS = Path(__file__).resolve().parents[1] / "results" / "records"
#: digits-v2 with every likelihood on 100 of its 540 test images, cheap estimators and budget
SUBSET = DIGITS_V2.with_overrides(
    nll_examples=100, budget_samples=640, iwae_k=8, ais_chains=8, ais_betas=50, ais_runs=2
)


def test_mnist_v2_changes_only_the_likelihood_examples_and_the_adam_kernel():
    assert (MNIST_V2.nll_examples, MNIST_V2.iwae_examples, MNIST_V2.version) == (1000, None, 2)
    assert MNIST_V2.optimizer_impl == "fused"
    back = MNIST_V2.with_overrides(
        version=1, nll_examples=None, iwae_examples=1000, optimizer_impl="single"
    )
    assert dataclasses.replace(back, description=MNIST_V1.description) == MNIST_V1
    assert "nll_examples" not in MNIST_V1.to_dict()  # the published fingerprint stays


def test_the_subset_is_seeded_stratified_and_not_the_first_n():
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.choice(10, size=540, p=np.linspace(1, 3, 10) / 20))
    idx = nll_examples.select(SUBSET, y, 540, seed=7).numpy()
    assert len(idx) == len(set(idx)) == 100 and np.all(np.diff(idx) > 0)
    for c in range(10):  # each class keeps its share, within one example
        assert abs(int((y.numpy()[idx] == c).sum()) - 100 * float((y == c).float().mean())) <= 1
    assert np.array_equal(idx, nll_examples.select(SUBSET, y, 540, seed=7).numpy())
    assert not np.array_equal(idx, nll_examples.select(SUBSET, y, 540, seed=8).numpy())
    assert not np.array_equal(idx, np.arange(100))
    assert nll_examples.select(DIGITS_V2, y, 540, seed=7) is None  # None: all examples
    assert nll_examples.select(SUBSET.with_overrides(nll_examples=540), y, 540, 7) is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"nll_examples": 0}, "nll_examples must be >= 1"),
        ({"iwae_examples": 50}, "set nll_examples or iwae_examples, not both"),
    ],
)
def test_bad_settings_are_one_line_errors(overrides, message):
    with pytest.raises(AebenchError, match=message):
        nll_examples.check(SUBSET.with_overrides(**overrides))


def _runs(protocol, models, seed, tmp_path):
    registry = load_registry()
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    out = {}
    for req in runner.plan(registry, models, ["digits"], seeds=[seed], protocol_overrides={}):
        tiny = registry.model(req.model).make_config(tiny=True)
        fields = tuple(sorted(dataclasses.asdict(tiny).items())) if tiny else ()
        req = dataclasses.replace(req, protocol=protocol, config_overrides=fields)
        run = runner.run_one(registry, req, torch.device("cpu"), data)
        assert run.record["status"] == "ok", run.record.get("reason")
        out[req.model] = run
    return out


def test_every_model_gets_the_same_indices(tmp_path):
    """pca, mean, rbm and vae on digits-sized data: per seed one subset for every model, the
    split's own (so it differs by seed), and their NLL values are those of the full set there."""
    models = ["pca", "mean", "rbm", "vae"]
    subsets = []
    for seed in (0, 1):
        recs = _runs(SUBSET, models, seed, tmp_path)
        split_seed = recs["mean"].record["dataset"]["split_seed"]
        test_y = Digits().load(for_run(SUBSET, seed), tmp_path).test_y
        expected = nll_examples.select(SUBSET, test_y, 540, split_seed).numpy()
        for name, run in recs.items():
            assert np.array_equal(run.arrays["nll_index"].numpy(), expected), name
            assert len(run.arrays["nll"]) == 100
            desc = run.record["likelihood_examples"]
            assert (desc["n"], desc["of"], desc["seed"]) == (100, 540, split_seed)
            assert "stratified by test label" in desc["selection"]
        subsets.append(expected)
        # the deterministic likelihoods over the subset are the full set's values there
        full = _runs(
            dataclasses.replace(SUBSET, nll_examples=None), ["pca", "mean"], seed, tmp_path
        )
        for name in ("pca", "mean"):
            np.testing.assert_allclose(
                recs[name].arrays["nll"].numpy(),
                full[name].arrays["nll"].numpy()[expected],
                rtol=1e-6,
            )
            assert "nll_index" not in full[name].arrays
            assert full[name].record["likelihood_examples"]["indices"] == "all"
    assert not np.array_equal(subsets[0], subsets[1])


def _fake(tmp_path, name, nll, n_test, split_seed=1, arrays=True, described=False):
    """A stored record whose headline NLL covers the first len(nll) of n_test examples."""
    rec = {
        "status": "ok",
        "group": "toy-v1",
        "seed": 0,
        "model": {"name": name, "tags": []},
        "dataset": {"name": "toy", "n_test": n_test, "split_seed": split_seed},
        "protocol": {"task": "reconstruction", "split_seed": split_seed},
        "likelihood": {"x": {"headline": True, "n_examples": len(nll), "kind": "exact"}},
        "metrics": {"nll": float(np.mean(nll))},
    }
    if described:
        rec["likelihood_examples"] = {"n": len(nll), "of": n_test}
    if arrays:
        path = tmp_path / f"{name}-{split_seed}" / "seed-0.json"
        path.parent.mkdir()
        stored = {"nll": np.asarray(nll, np.float32)}
        if described and len(nll) < n_test:
            stored["nll_index"] = np.arange(n_test)[-len(nll) :]  # the last ones, say
        rec["arrays_sha256"] = artifacts.write(artifacts.sidecar(path), stored)
        rec["_path"] = str(path)
    return rec


def test_align_by_hand(tmp_path):
    a = _fake(tmp_path, "a", [1.0, 2.0, 3.0], 5)  # an estimator limited to the first 3
    b = _fake(tmp_path, "b", [10.0, 20.0, 30.0, 40.0, 50.0], 5)
    c = _fake(tmp_path, "c", [5.0, 5.0, 5.0, 5.0, 5.0], 5, arrays=False)
    d = _fake(tmp_path, "d", [7.0, 9.0], 5, split_seed=2, described=True)  # examples 3 and 4
    e = _fake(tmp_path, "e", [1.0, 2.0, 3.0, 4.0, 5.0], 5, split_seed=2)
    out, al = nll_alignment.align([a, b, c, d, e])
    got = {r["model"]["name"]: r["metrics"]["nll"] for r in out}
    assert got == {"a": 2.0, "b": 20.0, "c": None, "d": 8.0, "e": 4.5}
    assert out[1]["metrics"]["nll_own_examples"] == 30.0 and b["metrics"]["nll"] == 30.0
    assert al.label() == "2–3 test examples"
    assert (al.recomputed, al.missing) == (["b", "e"], ["c"])
    (line,) = nll_alignment.caption(al)
    assert "b, e: recomputed" in line and "c: not shown" in line


@pytest.mark.skipif(not (RECORDS / "mnist-v2").is_dir(), reason="no mnist-v2 records here")
def test_mnist_v2_board_names_the_same_1000_examples_for_every_model():
    """mnist-v2 fixes the likelihood examples in the protocol (seeded, stratified): every
    model's NLL is over the same 1,000 test images, so nothing is recomputed or left out."""
    records, _ = storage.load_records(RECORDS / "mnist-v2")
    (board,) = build_boards(records)
    (col,) = [c for c in board.columns if c.key == "nll"]
    assert "1,000 test examples" in col.header
    index = None
    shown = []
    for row in board.rows:
        cell = row.cells["nll"]
        recs = [r for r in records if r["model"]["name"] == row.model and r["status"] == "ok"]
        per_seed = []
        for r in recs:
            with np.load(Path(r["_path"]).with_suffix(".npz")) as z:
                if "nll" in z.files:
                    index = z["nll_index"] if index is None else index
                    np.testing.assert_array_equal(z["nll_index"], index)  # the same images
                    per_seed.append(z["nll"].astype(np.float64).mean())
        if not per_seed:
            assert cell.n == 0
            continue
        shown.append(row.model)
        assert cell.n == len(recs) and cell.mean == pytest.approx(np.mean(per_seed), rel=1e-9)
    # rows come best first by the headline metric, reference rows after: compare as a set
    assert sorted(shown) == ["mean", "pca", "rbm", "rbm-256", "vae"] and shown[-1] == "mean"
    assert len(index) == 1000 and len(set(index.tolist())) == 1000
    assert not any("recomputed" in line for line in board.caption)
