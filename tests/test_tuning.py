"""Tuning: search spaces, the study store, validation-only runs, tuned boards, bad input.

Successive halving itself (rungs, the equal budget, resume, the defaults kept) is tested in
``tests/test_tune_halving.py``.

The test plugin (``tests/tuning_plugin.py``) is installed as a third-party distribution, so
the CLI, its run hosts and the in-process registry all load it through its entry point.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from conftest import make_distribution, run_cli, run_cli_subprocess, start_cli

from aebench import cli
from aebench.errors import AebenchError, PluginError
from aebench.execute.executors import InlineExecutor
from aebench.records import storage
from aebench.registry.loading import load_registry
from aebench.report.build import build_boards
from aebench.run import runner
from aebench.stats.expected import expected_best
from aebench.tuning import Choice, Float, Int, check_space, store, tune

SOURCE = (Path(__file__).parent / "tuning_plugin.py").read_text()
#: the smallest bracket of the tunetoy protocols (budget 512, batch 32, seeds 0 and 1): two
#: configurations through rungs 32, 160 and 512 samples, the top on two seeds: 6 runs
TRIALS = ("--budget", "2432", "--threads", "1")
STUDY = "spy-ae~sh-2432.sqlite3"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The plugin on PYTHONPATH (this process and its children), every other plugin off."""
    site = tmp_path_factory.mktemp("site")
    make_distribution(
        site, "aebench-tunetoy", {"aebench_tunetoy": SOURCE}, {"tunetoy": "aebench_tunetoy"}
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    others = sorted({ep.name for ep in entry_points(group="aebench")} - {"tunetoy"})
    yield {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "AEBENCH_DISABLE_PLUGINS": ",".join(others),
    }
    sys.path.remove(str(site))


@pytest.fixture
def registry(env):
    return load_registry(disabled=env["AEBENCH_DISABLE_PLUGINS"].split(","))


def tune_cli(rd: Path, env: dict, *args: str, **kw):
    return run_cli("tune", "-p", "tunetoy", *args, "--results-dir", str(rd), env=env, **kw)


@pytest.fixture
def here(env, monkeypatch, capsys):
    """``aebench ARGS`` in this process (faster than a subprocess, for the many short calls):
    returns (exit status, stdout, stderr)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def call(*args: str, **extra_env: str):
        for k, v in extra_env.items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        rc = cli.main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return call


def trials_of(path: Path) -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="aebench", storage=f"sqlite:///{path}").trials


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- search spaces -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "space, words",
    [
        ({"width": Float(2.0, 6.0)}, ["'bad'", "'width'", "Float", "int"]),
        ({"lr": Int(1, 5)}, ["'bad'", "'lr'", "Int", "float | None"]),
        ({"mode": Choice("ok", 3)}, ["'bad'", "'mode'", "Choice"]),
        ({"depth": Int(1, 3)}, ["'bad'", "'depth'", "not a field"]),
        ({"width": (2, 6)}, ["'bad'", "'width'", "not a Float, Int or Choice"]),
    ],
)
def test_a_space_entry_outside_its_fields_type_is_one_line_naming_model_and_field(
    env, space, words
):
    from aebench_tunetoy import SpyConfig

    with pytest.raises(PluginError) as err:
        check_space("bad", SpyConfig, space)
    assert "\n" not in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_a_space_of_the_fields_types_passes(env):
    from aebench_tunetoy import SPACE, SpyConfig

    check_space("spy-ae", SpyConfig, SPACE)
    check_space("spy-ae", SpyConfig, {"lr": Float(1e-4, 1e-2, log=True)})  # float | None


def test_ranges_refuse_empty_or_log_of_non_positive_bounds():
    for bad in (lambda: Float(1.0, 1.0), lambda: Float(0.0, 1.0, log=True), lambda: Int(1, 2.5)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError):
        Choice()


def test_a_tuple_choice_goes_through_optunas_store_and_comes_back_a_tuple():
    c = Choice((16, 32), (32, 64))
    labels = c.distribution().choices
    assert all(isinstance(x, str) for x in labels)
    assert [c.value(x) for x in labels] == [(16, 32), (32, 64)]


# -- expected best (Dodge et al. 2019) against brute force ----------------------------------


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_expected_best_equals_the_mean_best_over_every_draw_with_replacement(direction, n):
    values = [0.3, 0.1, 0.7, 0.1, 0.5]
    pick = min if direction == "minimize" else max
    draws = list(itertools.product(values, repeat=n))
    brute = sum(pick(d) for d in draws) / len(draws)
    assert expected_best(values, n, direction) == pytest.approx(brute, rel=1e-12)


def test_expected_best_of_one_trial_is_the_mean_and_of_many_the_best():
    values = [4.0, 1.0, 2.5]
    assert expected_best(values, 1) == pytest.approx(np.mean(values))
    assert expected_best(values, 500) == pytest.approx(1.0, abs=1e-9)


# -- the test split is out of a trial's reach -----------------------------------------------


def test_a_validation_only_run_gets_no_test_tensor_and_scores_validation(registry, tmp_path):
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    for proto in registry.dataset("tunetoy").protocols:
        prepared = data.get("tunetoy", proto, validation_only=True)
        assert prepared.splits.test_x.shape[0] == 0
        assert prepared.splits.test_y.shape[0] == 0
        assert prepared.splits.anomaly.test_anomalous.numel() == 0
        assert prepared.view("vector").test.shape[0] == 0  # what reaches the device
        req = runner.RunRequest(
            "spy-ae", "tunetoy", proto, 0, f"{proto.key}~trial-0", evaluate="validation"
        )
        run = runner.run_one(registry, req, torch.device("cpu"), data)
        rec = run.record
        assert rec["status"] == "ok", rec.get("reason")
        assert "recon_mse" not in rec["metrics"] and not run.arrays
        if proto.task == "anomaly":
            assert {"val_normal_recon_mse", "val_score_mean", "val_auroc"} <= set(rec["metrics"])
            assert "anomaly.auroc" not in rec["metrics"]
        else:
            assert rec["metrics"]["val_recon_mse"] > 0


@pytest.mark.cluster  # --cluster local:1: a Dask LocalCluster
def test_no_trial_reaches_a_test_example_and_the_board_does(env, tmp_path, here):
    """The spy notes any test example it is handed: none in a study (worker processes, a
    Dask cluster), many on a board (so it would have seen one had a trial been shown it)."""
    spy, rd = tmp_path / "spy.txt", tmp_path / "runs"
    res = run_cli(
        "tune",
        "-p",
        "tunetoy",
        "-m",
        "spy-ae",
        *TRIALS,
        "--jobs",
        "2",
        "--no-board",
        "--results-dir",
        str(rd),
        env={**env, "TUNETOY_SPY": str(spy)},
    )
    assert res.returncode == 0, res.stderr
    rc, _, err = here(  # on Dask workers, which inherit this process's environment
        "tune",
        "-p",
        "tunetoy-anomaly",
        "-m",
        "spy-ae",
        *TRIALS,
        "--cluster",
        "local:1",
        "--no-board",
        "--results-dir",
        str(rd),
        TUNETOY_SPY=str(spy),
    )
    assert rc == 0, err
    assert not spy.exists(), spy.read_text()
    # the defaults always finish; a challenger that fails stops there
    assert len(trials_of(rd / f"tuning/tunetoy-v1/tunetoy/{STUDY}")) >= 4
    assert len(trials_of(rd / f"tuning/tunetoy-anomaly-v1/tunetoy/{STUDY}")) >= 4
    assert not list(rd.rglob("*.npz")) and not list(rd.rglob("*.json"))  # no trial arrays
    rc, _, err = here(
        "run", "-p", "tunetoy", "-m", "spy-ae", "--seeds", "0", "-q", "--results-dir", str(rd)
    )
    assert rc == 0, err
    assert spy.exists()


# -- the study store -------------------------------------------------------------------------


def test_tune_keeps_every_run_and_writes_a_tuned_board_beside_the_defaults(env, tmp_path, here):
    rd = tmp_path / "runs"
    rc, _, err = here(
        "run", "-p", "tunetoy", "-m", "spy-ae,plain-ae", "-q", "--results-dir", str(rd)
    )
    assert rc == 0, err
    res = tune_cli(
        rd, env, "-m", "spy-ae,plain-ae", "--budget", "2560", "--threads", "1", "--sampler", "tpe"
    )
    assert res.returncode == 0, res.stderr
    study = rd / "tuning/tunetoy-v1/tunetoy/spy-ae~sh-2560.sqlite3"
    trials = trials_of(study)
    assert not list((rd / "tuning/tunetoy-v1/tunetoy").glob("plain-ae*.sqlite3"))
    first = [t for t in trials if t.user_attrs["rung"] == 0]
    assert len(first) == 6 and trials[0].user_attrs["defaults"] and not trials[0].params
    for t in trials:
        a = t.user_attrs
        assert {"status", "seed", "config", "rung", "budget", "samples", "time", "run"} <= set(a)
        assert a["time"]["wall_s"] > 0 and a["run"]["software"]["aebench"]
        mode = dict(trials[a["config"]].params).get("mode", "ok")
        if mode in ("ok", "ok2"):
            assert t.state.name == "COMPLETE" and t.value == a["metrics"]["val_recon_mse"]
            assert a["samples"] == {0: 32, 1: 160, 2: 512}[a["rung"]]  # what it trained
        else:  # failed or diverged: FAIL with its status, never a value, its budget charged
            assert t.state.name == "FAIL" and t.value is None and a["value"] is None
            assert a["status"] == {"raise": "failed", "nan": "diverged"}[mode]
            assert a["rung"] == 0 and a["samples"] == 32
    assert {t.state.name for t in trials} == {"COMPLETE", "FAIL"}  # both kinds were tried
    records, problems = storage.load_records(rd)
    assert not problems
    groups = {r["group"] for r in records}
    assert groups == {"tunetoy-v1", "tunetoy-v1~tuned-sh-2560"}
    tuned = [r for r in records if r["group"] == "tunetoy-v1~tuned-sh-2560"]
    assert sorted(r["seed"] for r in tuned) == [0, 0, 1, 1]  # the protocol's seeds
    top = [t for t in trials if t.user_attrs["rung"] == 2 and t.state.name == "COMPLETE"]
    means = {}
    for t in top:
        means.setdefault(t.user_attrs["config"], []).append(t.value)
    best = min(means, key=lambda c: (sum(means[c]) / 2, c))
    spy = next(r for r in tuned if r["model"]["name"] == "spy-ae")
    assert spy["tuning"]["best_config"] == best
    for k, v in trials[best].params.items():
        assert spy["model"]["config"][k] == pytest.approx(v)
    assert "recon_mse" in spy["metrics"]  # the board is on the test split
    # show presents both boards; the tuned one says how it was tuned
    rc, out, _ = here("show", "-p", "tunetoy-v1", "--explain", "--results-dir", str(rd))
    assert "tunetoy · tunetoy-v1 " in out and "tunetoy · tunetoy-v1~tuned-sh-2560" in out
    assert "TUNED by successive halving: 2,560 training samples per model" in out
    assert "tpe sampler" in out and "plain-ae — defaults (no search space)" in out
    # publish writes both boards and the budget figure of the tuned one
    rc, _, err = here("publish", "--results-dir", str(rd), "--out-dir", str(tmp_path / "pub"))
    assert rc == 0, err
    assert (tmp_path / "pub/tunetoy-v1~tuned-sh-2560_tunetoy.md").exists()
    assert (tmp_path / "pub/tunetoy-v1_tunetoy.md").exists()
    assert (tmp_path / "pub/figures/tunetoy-v1~tuned-sh-2560_tunetoy_tuning.png").stat().st_size
    assert not (tmp_path / "pub/figures/tunetoy-v1_tunetoy_tuning.png").exists()
    # again: nothing new is run
    rc, _, err = here(
        "tune",
        "-p",
        "tunetoy",
        "-m",
        "spy-ae,plain-ae",
        "--budget",
        "2560",
        "--threads",
        "1",
        "--sampler",
        "tpe",
        "--results-dir",
        str(rd),
    )
    assert rc == 0, err
    assert f"{len(trials)} run(s) done, complete" in err and "already recorded" in err
    assert len(trials_of(study)) == len(trials)


@pytest.mark.e2e
def test_kill_9_mid_study_loses_no_finished_run_and_tune_continues_it(env, tmp_path):
    rd, marker, log = tmp_path / "runs", tmp_path / "paused", tmp_path / "tune"
    study = rd / f"tuning/tunetoy-v1/tunetoy/{STUDY}"
    args = ("tune", "-p", "tunetoy", "-m", "spy-ae", *TRIALS)
    proc = start_cli(
        *args,
        "--no-board",
        "--results-dir",
        str(rd),
        env={**env, "TUNETOY_PAUSE": f"4:{marker}"},
        log=log,
    )
    end = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, log.with_suffix(".err").read_text()
        assert time.monotonic() < end, "the study never reached its 4th run"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    before = {t.number: (t.state.name, t.value, t.params) for t in trials_of(study)}
    finished = {n: v for n, v in before.items() if v[0] != "RUNNING"}
    assert len(finished) >= 2 and before[max(before)][0] == "RUNNING"

    res = run_cli(*args, "--no-board", "--results-dir", str(rd), env=env)
    assert res.returncode == 0, res.stderr
    after = trials_of(study)
    for t in after:  # every run finished before the kill is as it was
        if t.number in finished:
            assert (t.state.name, t.value, t.params) == finished[t.number]
    cut = after[max(before)]  # the run the kill cut off: failed, and run again once
    assert cut.state.name == "FAIL" and store.interrupted(cut)

    def where(t):
        return t.user_attrs["config"], t.user_attrs["rung"], t.user_attrs["seed"]

    done = [where(t) for t in after if not store.interrupted(t)]
    assert len(done) == len(set(done))  # no finished run ran twice
    assert where(cut) in done and all(t.state.name != "RUNNING" for t in after)


# -- bad input: one line, exit 2, nothing lost ----------------------------------------------


@pytest.fixture(scope="module")
def studied(env, tmp_path_factory):
    """A results directory with one finished study per protocol of the test data set."""
    rd = tmp_path_factory.mktemp("studied") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        for p in ("tunetoy", "tunetoy-anomaly"):
            args = ["tune", "-p", p, "-m", "spy-ae", *TRIALS, "-q", "--no-board"]
            assert cli.main([*args, "--results-dir", str(rd)]) == 0
    return rd


def _one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    line = err.strip()
    assert "\n" not in line and line.startswith("error:"), err
    return line


@pytest.mark.e2e
def test_budget_0_is_one_line_in_a_subprocess_too(env, studied, tmp_path):
    args = ("-m", "spy-ae", "--budget", "0", "--results-dir", str(studied))
    res = run_cli_subprocess("tune", "-p", "tunetoy", *args, env=env)
    line = _one_line_error(res.returncode, res.stderr)
    assert "--budget 0" in line and "training samples per model" in line


@pytest.mark.parametrize(
    "args, words",
    [
        (("--budget", "0"), ["--budget 0", "training samples per model"]),
        (("--budget", "2431"), ["--budget 2,431", "smallest bracket", "2,432"]),
        (("--budget", "6x", "--sampler", "grid"), ["--sampler", "'grid'", "random", "tpe"]),
        (("--budget", "6x", "--criterion", "test-mse"), ["--criterion test-mse", "val-recon-mse"]),
        (("--budget", "6x", "--criterion", "val-auroc"), ["reconstruction task", "val-recon-mse"]),
        (("--budget", "6x", "--eta", "1"), ["--eta 1", "2 or more"]),
        (("--budget", "6x", "--top-seeds", "3"), ["--top-seeds 3", "2 seed(s)"]),
        (("--budget", "6x", "-m", "bad-space"), ["'bad-space'", "'width'", "Float", "int"]),
    ],
)
def test_bad_arguments_are_one_line_and_touch_no_study(studied, tmp_path, here, args, words):
    rd = tmp_path / "runs"
    shutil.copytree(studied, rd)
    before = {p: digest(p) for p in rd.rglob("*.sqlite3")}
    model = () if "-m" in args else ("-m", "spy-ae")
    line = _one_line_error(
        *here("tune", "-p", "tunetoy", *model, *args, "--results-dir", str(rd))[::2]
    )
    for w in words:
        assert w in line
    assert {p: digest(p) for p in rd.rglob("*.sqlite3")} == before


def test_a_study_file_from_another_protocol_is_refused_and_kept(studied, tmp_path, here):
    rd = tmp_path / "runs"
    shutil.copytree(studied, rd)
    mine = rd / f"tuning/tunetoy-v1/tunetoy/{STUDY}"
    shutil.copyfile(rd / f"tuning/tunetoy-anomaly-v1/tunetoy/{STUDY}", mine)
    before = digest(mine)
    rc, _, err = here("tune", "-p", "tunetoy", "-m", "spy-ae", *TRIALS, "--results-dir", str(rd))
    line = _one_line_error(rc, err)
    assert str(mine) in line and "tunetoy-anomaly-v1" in line and "move it back" in line
    assert digest(mine) == before


@pytest.mark.parametrize("content", ["garbage", "sqlite-not-optuna", "truncated"])
def test_a_corrupt_study_file_is_refused_and_kept(studied, tmp_path, here, content):
    rd = tmp_path / "runs"
    shutil.copytree(studied, rd)
    path = rd / f"tuning/tunetoy-v1/tunetoy/{STUDY}"
    if content == "garbage":
        path.write_bytes(b"not a database at all, " * 100)
    elif content == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:
        path.unlink()
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE notes (x TEXT)")
        con.commit()
        con.close()
    before = digest(path)
    rc, _, err = here("tune", "-p", "tunetoy", "-m", "spy-ae", *TRIALS, "--results-dir", str(rd))
    line = _one_line_error(rc, err)
    assert str(path) in line and "move it aside" in line
    assert digest(path) == before


# -- in process: the plan, the board, the renderer ------------------------------------------


def test_a_model_without_a_space_is_tuned_over_nothing(registry, tmp_path):
    p = tune.plan(registry, ["plain-ae"], None, "tunetoy", "6x")
    try:
        tune.open_studies(p, tmp_path, tune.Reporter())
        tune.run_studies(p, None, 1, tune.Reporter())  # nothing to run: no executor needed
        reqs = tune.board_requests(p, tmp_path)
    finally:
        p.close()
    assert [r.seed for r in reqs] == [0, 1] and all(r.config_overrides == () for r in reqs)
    info = dict(reqs[0].tuning)
    assert info["chosen"] == "defaults (no search space)" and info["searched"] is False
    assert not (tmp_path / "tuning").exists()


def test_every_challenger_failed_means_defaults_kept_said_so(registry, tmp_path):
    entry = registry.model("spy-ae")
    entry.search_space = {"mode": Choice("raise", "nan")}
    p = tune.plan(registry, ["spy-ae"], None, "tunetoy", "2432")
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    try:
        tune.open_studies(p, tmp_path, tune.Reporter())
        tune.run_studies(p, InlineExecutor(registry, torch.device("cpu"), data), 1, tune.Reporter())
        reqs = tune.board_requests(p, tmp_path)
    finally:
        p.close()
    info = dict(reqs[0].tuning)
    assert (
        info["defaults_kept"]
        and info["runner_up_config"] is None
        and reqs[0].config_overrides == ()
    )
    assert info["configs"] == (2, 1, 1) and info["reached_top"] == 1  # the failed one stopped
    assert [t[2] for t in info["top_values"]] == [True]


def test_a_second_process_on_one_study_is_refused(registry, tmp_path):
    key = tune.plan(registry, ["spy-ae"], None, "tunetoy", "6x").models[0].key
    first = store.open_study(tmp_path, key)
    try:
        with pytest.raises(AebenchError, match="being tuned by another aebench process"):
            store.open_study(tmp_path, key)
    finally:
        first.close()


def test_tuned_boards_are_variants_the_summary_does_not_rank():
    from aebench.report import ranking

    rec = json.loads(
        (Path(__file__).parent / "data/records").rglob("*.json").__next__().read_text()
    )
    rec["group"] = rec["protocol"]["key"] + "~tuned-20"
    boards = build_boards([rec])
    assert boards and ranking.newest_versions(boards) == []


class _Zeros:
    """Reconstructs everything as zeros and has no score of its own: every figure is then a
    function of the inputs alone, computable independently."""

    def eval(self):
        return self

    def reconstruct(self, x):
        return torch.zeros_like(x)

    def anomaly_score(self, x):
        return None


def test_validation_figures_against_an_independent_computation():
    from sklearn.metrics import roc_auc_score

    from aebench.run.data import prepare
    from aebench.run.evaluation import on_validation
    from aebench.testing import TOY_ANOMALY, toy_splits

    splits = toy_splits()
    prepared = prepare(splits, TOY_ANOMALY, torch.device("cpu"))
    view = prepared.view("vector")
    out = on_validation(_Zeros(), prepared, view, view, view.fit, has_recon=True)
    val = splits.train_x[prepared.val_idx]
    normal = splits.anomaly.train_normal[prepared.val_idx]
    # the zero reconstruction's squared error, in float32 as the harness computes it (the toy
    # blobs' norms nearly tie, so a float64 ordering could differ from float32's)
    per_example = (val**2).mean(1).double()
    assert out["val_recon_mse"] == pytest.approx(float(per_example.mean()))
    assert out["val_normal_recon_mse"] == pytest.approx(float(per_example[normal].mean()))
    assert out["val_score_mean"] == pytest.approx(float(per_example[normal].mean()))
    assert out["val_auroc"] == pytest.approx(roc_auc_score(~normal.numpy(), per_example.numpy()))
    assert 0 < normal.sum() < normal.numel()  # both kinds are in the held-out slice


def test_each_task_chooses_by_a_label_free_criterion_unless_one_is_named():
    from aebench.testing import TOY, TOY_ANOMALY
    from aebench.tuning.criteria import criterion_for

    assert criterion_for(TOY, None).name == "val-recon-mse"
    default = criterion_for(TOY_ANOMALY, None)
    assert default.name == "val-normal-recon" and not default.uses_labels
    assert default.value({"val_normal_recon_mse": 0.5, "val_score_mean": 9.0}) == 0.5
    assert default.value({"val_score_mean": 9.0}) == 9.0  # a model with no reconstruction
    named = criterion_for(TOY_ANOMALY, "val-auroc")
    assert named.uses_labels and "USES VALIDATION LABELS" in named.describe(TOY_ANOMALY)


def test_a_protocol_family_is_tuned_member_by_member():
    registry = load_registry()
    family = next((p.family for _, p in registry.protocols() if p.family), None)
    if family is None:
        pytest.skip("no installed data set defines a protocol family")
    with pytest.raises(AebenchError, match="tune one at a time, e.g. -p "):
        tune.plan(registry, ["pca"], None, family, "6x")


def test_a_model_that_does_not_apply_says_so_not_that_its_trials_failed(registry, tmp_path):
    from optuna.trial import TrialState

    entry = registry.model("spy-ae")
    entry.search_space = {"mode": Choice("raise", "nan")}
    p = tune.plan(registry, ["spy-ae"], None, "tunetoy", "6x")
    try:
        tune.open_studies(p, tmp_path, tune.Reporter())
        study = p.models[0].study
        for _ in range(3):  # as _tell stores a run the data set does not suit
            trial = study.ask({"mode": entry.search_space["mode"].distribution()})
            for k, v in {"config": trial.number, "rung": 0, "seed": 0, "samples": 32}.items():
                trial.set_user_attr(k, v)
            trial.set_user_attr("status", "not-applicable")
            study.tell(trial, state=TrialState.FAIL)
        reqs = tune.board_requests(p, tmp_path)
    finally:
        p.close()
    info = dict(reqs[0].tuning)
    assert info["chosen"] == "not applicable to this data (nothing to tune)"


def test_a_tuned_board_without_every_model_says_which_rows_are_missing(tmp_path):
    """The published digits-v2 tuned board with conv_ae's and lstm_ae's tuned records left
    out: its caption names them (reference rows and named variants are never expected)."""
    from aebench.report.tuning import not_yet_tuned

    published = Path(__file__).resolve().parents[1] / "results" / "records"
    for group in ("digits-v2", "digits-v2~tuned-20"):
        shutil.copytree(published / group, tmp_path / group)
    records, _ = storage.load_records(tmp_path)
    tuned = [r for r in records if r["group"] == "digits-v2~tuned-20"]
    assert tuned and not_yet_tuned(tuned, records) == []  # complete as published
    kept = [r for r in records if not (r in tuned and r["model"]["name"] in {"conv_ae", "lstm_ae"})]
    board = next(b for b in build_boards(kept) if b.group == "digits-v2~tuned-20")
    note = [c for c in board.caption if c.startswith("INCOMPLETE")]
    assert len(note) == 1 and "conv_ae, lstm_ae" in note[0]
    assert "mean" not in note[0] and "rbm-256" not in note[0]
    full = next(b for b in build_boards(records) if b.group == "digits-v2~tuned-20")
    assert not any(c.startswith("INCOMPLETE") for c in full.caption)
