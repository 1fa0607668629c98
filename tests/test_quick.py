"""``--quick``: a protocol variant with a small training budget and small evaluation settings,
marked QUICK on its board (issue 28, item 4); and progress that names each phase of a run,
or, piped, one line per run with a count and the time left (item 3)."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import run_cli

from aebench.registry.loading import load_registry
from aebench.run import grid, runner
from aebench.run.presets import QUICK, preset_of


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    rd = tmp_path_factory.mktemp("quick") / "runs"
    res = run_cli(
        "run",
        "-m",
        "pca,vae",
        "--seeds",
        "0",
        "--quick",
        "--threads",
        "1",
        "--results-dir",
        str(rd),
        env={"COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr
    return rd, res


def test_quick_is_a_variant_with_small_training_and_evaluation_settings(quick_run):
    rd, res = quick_run
    (group,) = [p.name for p in rd.iterdir()]
    assert group.startswith("digits-v2~")  # never mixed with the full protocol's records
    rec = json.loads((rd / group / "digits" / "vae" / "seed-0.json").read_text())
    assert rec["status"] == "ok"
    assert rec["variant"]["protocol_overrides"] == QUICK and preset_of(rec) == "quick"
    for field, value in QUICK.items():
        assert rec["protocol"][field] == value
    assert rec["likelihood"]["iwae"]["info"]["k"] == QUICK["iwae_k"]  # what the estimate used
    assert rec["training"]["samples_seen"] <= QUICK["budget_samples"]
    assert "QUICK preset" in res.stdout and "not a result" in res.stdout


def test_piped_progress_is_one_line_per_run_with_a_count_and_the_time_left(quick_run):
    _, res = quick_run
    lines = [ln for ln in res.stderr.splitlines() if re.match(r"\[\d+/2\] ", ln)]
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("[1/2] ok ") and re.search(r"about \d+ (s|min) left$", lines[0])
    assert lines[1].startswith("[2/2] ok ") and "left" not in lines[1]


def test_budget_quick_is_quick_and_a_bad_budget_names_the_fix():
    bad = run_cli("run", "--budget", "small")
    assert bad.returncode == 2 and "--quick" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_each_phase_of_a_run_is_reported_with_its_settings(tmp_path):
    registry = load_registry(allowed=("vae", "digits"))
    (req,) = grid.plan(registry, ["vae"], ["digits"], None, [0], dict(QUICK))
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    heard: list[tuple[int, int, str]] = []
    out = runner.run_one(
        registry,
        req,
        torch.device("cpu"),
        data,
        progress=lambda done, total, phase="training": heard.append((done, total, phase)),
    )
    assert out.record["status"] == "ok"
    phases = list(dict.fromkeys(p for _, _, p in heard))
    assert phases[0] == "training" and heard[0][1] > 0  # training: steps of a known total
    assert phases[1] == (
        f"likelihood estimate (IWAE k={QUICK['iwae_k']}; AIS {QUICK['ais_chains']} chains × "
        f"{QUICK['ais_betas']:,} temperatures × {QUICK['ais_runs']})"
    )
    assert phases[2:] == ["validation", "pictures"]
    # a callback that takes (done, total) only still hears the training steps
    steps: list[tuple[int, int]] = []
    (req2,) = grid.plan(registry, ["vae"], ["digits"], None, [1], dict(QUICK))
    runner.run_one(
        registry, req2, torch.device("cpu"), data, progress=lambda d, t: steps.append((d, t))
    )
    assert steps and steps[-1][0] == steps[-1][1]


def test_on_a_terminal_the_run_bar_names_its_phase(tmp_path):
    import io

    from rich.console import Console

    from aebench.cli.progress import RichReporter

    registry = load_registry(allowed=("vae", "digits"))
    (req,) = grid.plan(registry, ["vae"], ["digits"], None, [0])
    rep = RichReporter()
    rep.console = Console(file=io.StringIO(), force_terminal=True, width=100)
    rep.start(3)
    try:
        rep.begin(req, 0)
        rep.step(5, 20)
        run_bar = rep.progress.tasks[-1]
        assert run_bar.description.endswith("vae · digits · seed 0 · training")
        assert (run_bar.completed, run_bar.total) == (5, 20)
        rep.step(0, 0, "likelihood estimate (IWAE k=1,000)")
        run_bar = rep.progress.tasks[-1]
        assert run_bar.description.endswith("likelihood estimate (IWAE k=1,000)")
        assert run_bar.total is None  # a phase of unknown length: a pulsing bar, not 0/0
    finally:
        rep.stop()
