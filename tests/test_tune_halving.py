"""Successive halving at an equal budget of training samples (``aebench tune``).

The model plugin ``tests/tune_halving_plugin.py`` (installed as a third-party distribution)
has a validation figure that is a known function of its budget and config: every challenger
beats its defaults on the lower rungs and loses to them at the full budget.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from conftest import make_distribution

from aebench import cli
from aebench.errors import AebenchError
from aebench.execute.executors import InlineExecutor
from aebench.records import storage
from aebench.registry.loading import load_registry
from aebench.run import runner
from aebench.tuning import store, tune
from aebench.tuning.halving import Bracket, choose, parse_budget, promote

SOURCE = (Path(__file__).parent / "tune_halving_plugin.py").read_text()
FULL, BATCH = 2880, 32  # the halvingtoy protocol's budget and batch size


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    make_distribution(
        site,
        "aebench-halvingtoy",
        {"aebench_halvingtoy": SOURCE},
        {"halvingtoy": "aebench_halvingtoy"},
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    others = sorted({ep.name for ep in entry_points(group="aebench")} - {"halvingtoy"})
    yield {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "AEBENCH_DISABLE_PLUGINS": ",".join(others),
    }
    sys.path.remove(str(site))


@pytest.fixture
def registry(env):
    return load_registry(disabled=env["AEBENCH_DISABLE_PLUGINS"].split(","))


@pytest.fixture
def toy(env):
    import aebench_halvingtoy

    aebench_halvingtoy.TRAINED.clear()
    return aebench_halvingtoy


class Counting:
    """An executor that runs in process, remembers every request it ran, and raises
    KeyboardInterrupt (as Ctrl-C does) once ``stop_after`` runs have finished."""

    def __init__(self, registry, tmp_path, stop_after: int | None = None):
        data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
        self.inner = InlineExecutor(registry, torch.device("cpu"), data)
        self.ran: list[runner.RunRequest] = []
        self.stop_after = stop_after

    def run(self, reqs, begin, progress):
        inner = self.inner.run(reqs, begin, progress)

        def gen():
            try:
                for req, outcome in inner:
                    if self.stop_after is not None and len(self.ran) >= self.stop_after:
                        raise KeyboardInterrupt
                    self.ran.append(req)
                    yield req, outcome
            finally:
                inner.close()

        return gen()


def study(registry, tmp_path, models, budget, executor=None, **kw):
    """Plan, open, run every study to its end and return (plan, board requests)."""
    p = tune.plan(registry, models, None, "halvingtoy", budget, **kw)
    executor = executor or Counting(registry, tmp_path)
    try:
        tune.open_studies(p, tmp_path, tune.Reporter())
        tune.run_studies(p, executor, 1, tune.Reporter())
        return p, tune.board_requests(p, tmp_path)
    finally:
        p.close()


def runs_of(p, model: str, tmp_path) -> list:
    key = next(m.key for m in p.models if m.entry.name == model)
    opened = store.open_study(tmp_path, key)
    try:
        return store.counted(opened.study)
    finally:
        opened.close()


def store_trials(p, tmp_path) -> list:
    opened = store.open_study(tmp_path, p.models[0].key)
    try:
        return opened.study.get_trials(deepcopy=False)
    finally:
        opened.close()


# -- the bracket's arithmetic --------------------------------------------------------------


def test_rung_budgets_sizes_and_cost_against_a_hand_count():
    b = Bracket(total=20 * FULL, full=FULL, batch=BATCH)
    assert b.budgets() == [320, 960, 2880] and [b.nominal(k) for k in range(3)] == [320, 960, 2880]
    assert b.sizes(45) == [45, 15, 5] and b.sizes(4) == [4, 2, 2]
    # 45 at 320 on one seed, 15 at 960 on one, 5 at 2880 on two
    assert b.cost(45) == 45 * 320 + 15 * 960 + 5 * 2880 * 2 == 20 * FULL
    assert b.first_rung(0, 0, 0) == 45  # the largest bracket that fits exactly
    assert b.first_rung(0, 0, 0) == max(n for n in range(2, 200) if b.cost(n) <= b.total)
    # a rung budget that is not whole batches trains the whole batches below it
    assert Bracket(10 * FULL, FULL, 100).nominal(0) == 300
    # 45 asked, 40 of them finished having trained a tenth each: their savings buy more
    spent = 40 * 32
    assert b.first_rung(spent, 45, 5) > 45
    grown = b.first_rung(spent, 45, 5)
    upper = b.cost(grown) - grown * 320
    assert spent + (5 + grown - 45) * 320 + upper <= b.total
    upper_next = b.cost(grown + 1) - (grown + 1) * 320
    assert spent + (5 + grown + 1 - 45) * 320 + upper_next > b.total


def test_a_budget_below_the_smallest_bracket_is_one_line_naming_what_it_needs():
    with pytest.raises(AebenchError) as err:
        Bracket(total=FULL, full=FULL, batch=BATCH)
    line = str(err.value)
    assert (
        "\n" not in line
        and "--budget 2,880" in line
        and f"{2 * 320 + 2 * 960 + 4 * FULL:,}" in line
    )


@pytest.mark.parametrize(
    "text, samples", [("600000", 600000), ("600k", 600000), ("2M", 2000000), ("20x", 20 * FULL)]
)
def test_budget_in_samples_or_multiples_of_the_protocols(text, samples):
    assert parse_budget(text, FULL) == samples


@pytest.mark.parametrize("text", ["", "x", "-3", "0", "lots"])
def test_a_bad_budget_is_one_line(text):
    with pytest.raises(AebenchError, match="--budget"):
        parse_budget(text, FULL)


def test_the_defaults_always_go_on_and_ties_go_to_the_earlier_configuration():
    values = {0: 0.9, 1: 0.1, 2: 0.2, 3: 0.1, 4: None}
    assert promote(values, 2, 0, "minimize") == [0, 1]
    assert promote(values, 3, 0, "minimize") == [0, 1, 3]
    assert promote(values, 2, 1, "maximize") == [1, 0]
    assert promote({0: None, 1: 0.5, 2: 0.4}, 2, 0, "minimize") == [2, 1]  # failed: not on
    assert choose({0: 0.3, 5: 0.4}, 0, "minimize") == {
        "best": 0,
        "runner_up": 5,
        "defaults_kept": True,
    }


# -- the published configuration is the best at the full budget ----------------------------


def test_a_reduced_budget_winner_that_loses_at_the_full_budget_leaves_the_defaults(
    registry, toy, tmp_path
):
    p, reqs = study(registry, tmp_path, ["halving-toy"], "6x")
    runs = runs_of(p, "halving-toy", tmp_path)
    by = {(t.user_attrs["config"], t.user_attrs["rung"], t.user_attrs["seed"]): t for t in runs}
    dflt = next(t.number for t in runs if t.user_attrs.get("defaults"))
    assert dflt == 0  # trial 0 is the defaults
    speed = {c: dict(by[(c, 0, 0)].params).get("speed", 0) for c, r, _ in by if r == 0}
    f0 = 320 / FULL
    # the figures are the plugin's closed form: MSE ∝ err², the same slice on one seed
    for c, s in speed.items():
        ratio = by[(c, 0, 0)].value / by[(dflt, 0, 0)].value
        assert ratio == pytest.approx((toy.err(s, f0) / toy.err(0, f0)) ** 2, rel=1e-5)
    # every challenger beat the defaults on the first rung ...
    assert all(by[(c, 0, 0)].value < by[(dflt, 0, 0)].value for c in speed if c != dflt)
    top = [c for c, r, s in by if r == 2 and s == 0]
    assert dflt in top and len(top) == 2 and {s for c, r, s in by if r == 2} == {0, 1}
    # ... and lost at the full budget, on both seeds: the defaults are published
    info = dict(reqs[0].tuning)
    assert info["defaults_kept"] and info["best_config"] == dflt and info["best_params"] == ()
    assert all(r.config_overrides == () for r in reqs) and [r.seed for r in reqs] == [0, 1, 2]
    means = {c: (by[(c, 2, 0)].value + by[(c, 2, 1)].value) / 2 for c in top}
    runner_up = min((c for c in top if c != dflt), key=lambda c: (means[c], c))
    assert info["runner_up_config"] == runner_up
    assert info["runner_up_value"] == pytest.approx(means[runner_up])
    assert info["runner_up_params"] == (("speed", speed[runner_up]),)
    assert info["best_value"] == pytest.approx(means[dflt]) and means[dflt] < means[runner_up]
    assert info["configs"] == (9, 3, 2) and info["reached_top"] == 2


def test_a_challenger_that_wins_at_the_full_budget_is_published(registry, toy, tmp_path):
    toy.BASE[3] = 0.05  # speed 3 now ends better than the defaults
    try:
        p, reqs = study(registry, tmp_path, ["halving-toy"], "6x")
    finally:
        toy.BASE[3] = 0.30
    info = dict(reqs[0].tuning)
    assert not info["defaults_kept"] and info["best_params"] == (("speed", 3),)
    assert all(r.config_overrides == (("speed", 3),) for r in reqs)
    assert info["best_value"] < info["defaults_value"]


# -- an equal budget, counted in training samples --------------------------------------------


def test_every_models_study_trains_the_same_total_and_early_stops_hand_samples_back(
    registry, toy, tmp_path
):
    total = 6 * FULL
    p, reqs = study(registry, tmp_path, ["halving-toy", "halving-stopper"], "6x")
    b = p.bracket
    plain, stopper = (runs_of(p, m, tmp_path) for m in ("halving-toy", "halving-stopper"))
    # what each study was charged is what its model trained (the plugin's own count)
    assert sum(t.user_attrs["samples"] for t in plain) == toy.TRAINED["halving-toy"]
    assert sum(t.user_attrs["samples"] for t in stopper) == toy.TRAINED["halving-stopper"]
    # no run stopped early: the whole total, to the sample
    assert toy.TRAINED["halving-toy"] == b.cost(9) == total
    # runs that trained a tenth of their budget gave the rest back: more configurations
    # on the first rung, and a total within one more configuration's cost of the same
    first = [t for t in stopper if t.user_attrs["rung"] == 0]
    assert any(dict(t.params).get("stop") == 0.1 for t in first) and len(first) > 9
    margin = max(b.cost(n + 1) - b.cost(n) for n in range(2, 500))
    assert total - margin < toy.TRAINED["halving-stopper"] <= total
    infos = {r.model: dict(r.tuning) for r in reqs}
    assert infos["halving-stopper"]["spent"] == toy.TRAINED["halving-stopper"]


# -- resume ------------------------------------------------------------------------------------


def test_an_interrupted_study_resumes_without_repeating_a_finished_run(registry, toy, tmp_path):
    cut = Counting(registry, tmp_path, stop_after=11)  # the first rung (9) and 2 of the next
    with pytest.raises(KeyboardInterrupt):
        study(registry, tmp_path, ["halving-toy"], "6x", executor=cut)
    p = tune.plan(registry, ["halving-toy"], None, "halvingtoy", "6x")
    before = {
        (t.user_attrs["config"], t.user_attrs["rung"], t.user_attrs["seed"]): t.value
        for t in runs_of(p, "halving-toy", tmp_path)
    }
    assert len(before) == 11 and {r for _, r, _ in before} == {0, 1}
    again = Counting(registry, tmp_path)
    p, reqs = study(registry, tmp_path, ["halving-toy"], "6x", executor=again)
    after = runs_of(p, "halving-toy", tmp_path)
    key = {
        t.number: (t.user_attrs["config"], t.user_attrs["rung"], t.user_attrs["seed"])
        for t in after
    }
    rerun = [key[int(r.group.rsplit("-", 1)[1])] for r in again.ran]
    assert not set(rerun) & set(before)  # nothing finished ran again
    assert len(rerun) == 9 + 3 + 2 * 2 - 11  # only what was left
    done = {key[t.number]: t.value for t in after}
    assert {k: done[k] for k in before} == before and len(done) == 16
    cut_off = [t for t in store_trials(p, tmp_path) if store.interrupted(t)]
    assert len(cut_off) == 1 and cut_off[0].user_attrs["rung"] == 1  # asked again, once
    assert dict(reqs[0].tuning)["defaults_kept"]


# -- the command -------------------------------------------------------------------------------


@pytest.fixture
def here(env, monkeypatch, capsys):
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    def call(*args: str):
        capsys.readouterr()
        rc = cli.main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return call


def test_tune_prints_the_tuned_board_once_and_a_line_per_model(env, toy, tmp_path, here):
    rd = str(tmp_path / "runs")
    rc, _, err = here("run", "-p", "halvingtoy", "-q", "--results-dir", rd)
    assert rc == 0, err
    args = ("tune", "-p", "halvingtoy", "-m", "halving-toy", "--budget", "6x", "-q")
    rc, out, err = here(*args, "--seeds", "0", "--results-dir", rd)
    assert rc == 0, err
    group = f"halvingtoy-v1~tuned-sh-{6 * FULL}"
    assert out.count(f"halvingtoy · {group}") == 1 and "halvingtoy · halvingtoy-v1 " not in out
    # asked: one model, one seed; the stopper and seeds 1, 2 are not "missing"
    assert "INCOMPLETE" not in out
    assert "halving-toy: defaults → tuned, validation" in out and "defaults kept" in out
    assert "wall time: studies" in err
    records, _ = storage.load_records(Path(rd))
    assert sorted(r["seed"] for r in records if r["group"] == group) == [0]
    rc, out, err = here(*args, "--seeds", "0", "--show-defaults", "--results-dir", rd)
    assert rc == 0, err
    assert "halvingtoy · halvingtoy-v1 " in out and out.count(f"halvingtoy · {group}") == 1
    rc, out, _ = here("show", "-p", group, "--explain", "--results-dir", rd)
    assert "TUNED by successive halving: 17,280 training samples per model" in out
    assert "INCOMPLETE" in out  # `show` still says what the protocol asks for


def test_a_study_of_another_bracket_is_refused(registry, toy, tmp_path):
    study(registry, tmp_path, ["halving-toy"], "6x")
    p = tune.plan(registry, ["halving-toy"], None, "halvingtoy", "6x", eta=2)
    with pytest.raises(AebenchError, match="--eta 3"):
        tune.open_studies(p, tmp_path, tune.Reporter())
    p.close()
