"""End-to-end: the aebench command as a user runs it, through the ``main`` the console script
calls (in this process, see conftest.run_cli); one test starts a real process."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA, run_cli, run_cli_subprocess


def test_help_for_every_command():
    commands = ["list", "run", "tune", "show", "export", "plot", "publish", "reproduce", "compact"]
    for cmd in ([], *([c] for c in commands)):
        res = run_cli(*cmd, "--help")
        assert res.returncode == 0 and "usage" in res.stdout.lower()


def test_main_in_process_returns_and_leaves_warnings_as_it_found_them(capsys):
    import warnings

    from aebench.cli import main

    before = (list(warnings.filters), warnings.showwarning)
    assert main(["--help"]) == 0 and "reproduce" in capsys.readouterr().out
    assert main(["--version"]) == 0 and "aebench" in capsys.readouterr().out
    for _ in range(2):
        assert main(["show", "--results-dir", "/nonexistent/aebench"]) == 2
    assert "no records in" in capsys.readouterr().err
    assert (list(warnings.filters), warnings.showwarning) == before


def test_list_shows_models_datasets_and_protocols():
    res = run_cli("list")
    assert res.returncode == 0, res.stderr
    for word in ("pca", "mean", "digits", "digits-v1", "aebench 0.1.0", "density"):
        assert word in res.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["run", "-m", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["run", "-d", "nosuchdata"], "unknown data set 'nosuchdata'"),
        (["run", "-p", "digits-v9"], "unknown protocol 'digits-v9'"),
        (["run", "--seeds", "a,b"], "--seeds 'a,b'"),
        (["run", "--seeds", "0,-1"], "--seeds '0,-1': seeds are non-negative integers"),
        (["run", "--device", "tpu"], "--device 'tpu'"),
        (["run", "--device", "cuda:0"], "no CUDA device"),
        (["run", "--set", "pca.nofield=1", "-m", "pca"], "no config field(s) ['nofield']"),
        (["run", "--set", "garbage"], "expected MODEL.FIELD=VALUE"),
        (
            ["run", "-m", "sparse_ae", "--set", "sparse_ae.penalty=foo"],
            "model 'sparse_ae' refuses sparse_ae.penalty='foo': penalty must be one of",
        ),
        (["run", "--budget", "-5"], "--budget must be a positive"),
        (["run", "--protocol-set", "nofield=1"], "no protocol field 'nofield'"),
        (["run", "--protocol-set", "val_curve_points=x"], "val_curve_points takes int values"),
        (["run", "--protocol-set", "gate_ratio=2", "-m", "pca"], "gate_ratio must be in (0, 1]"),
        (["run", "--protocol-set", "early_stopping_patience=2", "-m", "pca"], "needs val_curve"),
        (["show", "--results-dir", "/nonexistent/aebench"], "no records in"),
    ],
)
def test_bad_input_is_one_line_with_nonzero_exit(args, needle, capsys):
    # In-process for speed; the subprocess path is the same `main` (see the next test).
    from aebench.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def _errors(err: str) -> str:
    """stderr but for warnings (a broken plugin installed beside us, say)."""
    return "\n".join(ln for ln in err.strip().splitlines() if not ln.startswith("warning:"))


def test_a_negative_seed_is_a_usage_error_naming_the_flag(capsys):
    from aebench.cli import main

    assert main(["run", "-m", "pca", "--seeds", "-1"]) == 2
    err = _errors(capsys.readouterr().err)
    assert err == "error: --seeds '-1': seeds are non-negative integers, e.g. 0,1,2"


def test_an_unknown_version_names_the_versions_of_that_protocol(capsys):
    from aebench.cli import main

    assert main(["run", "-p", "digits-v9"]) == 2
    err = _errors(capsys.readouterr().err)
    assert err.startswith("error: unknown protocol 'digits-v9'; digits has digits-v1, ")
    assert err.endswith(" (newest)") and "sms-spam" not in err and "novelty" not in err


@pytest.mark.e2e
def test_bad_input_in_a_subprocess():
    res = run_cli_subprocess("run", "-m", "nosuchmodel")
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if not ln.startswith("warning:")]
    assert errors == [errors[0]] and "unknown model 'nosuchmodel'" in errors[0]
    assert "Traceback" not in res.stderr


def test_unwritable_results_dir_fails_before_training(tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    res = run_cli("run", "-m", "pca", "--seeds", "0", "--results-dir", str(target / "sub"))
    assert res.returncode == 2
    assert "not writable" in res.stderr and str(target) in res.stderr


def test_debug_shows_traceback():
    res = run_cli("run", "-m", "nosuchmodel", "--debug")
    assert res.returncode != 0 and "Traceback" in res.stderr


def _metrics(results_dir):
    out = {}
    for p in sorted(results_dir.rglob("*.json")):
        rec = json.loads(p.read_text())
        out[rec["run_id"]] = {
            k: v for k, v in rec["metrics"].items() if not k.endswith(("_s", "per_s", "rss_mb"))
        }
    return out


def test_run_show_export_resume_and_determinism(tmp_path):
    rd = tmp_path / "records"
    args = ["run", "-m", "pca,mean", "--seeds", "0,1", "--results-dir", str(rd), "--quiet"]
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "digits · digits-v2" in res.stdout and "ok 2/2" in res.stdout
    assert "MSE" in res.stdout and "nats" in res.stdout and "samples/s" in res.stdout
    first = _metrics(rd)
    assert len(first) == 4
    rec = json.loads(next(rd.rglob("pca/seed-0.json")).read_text())
    for key in (
        "protocol",
        "model",
        "dataset",
        "software",
        "device",
        "seed",
        "started",
        "finished",
        "metrics",
        "training",
    ):
        assert key in rec
    assert rec["protocol"]["key"] == "digits-v2"
    assert rec["software"]["torch"] and rec["dataset"]["files"]
    # resume: nothing reruns
    res = run_cli(*args)
    assert "4 already recorded" in res.stderr
    # determinism: a forced rerun gives the same metrics to the last digit
    res = run_cli(*args, "--force")
    assert res.returncode == 0
    assert _metrics(rd) == first
    # show renders from records only
    res = run_cli("show", "--results-dir", str(rd))
    assert res.returncode == 0 and "pca" in res.stdout and "ok 2/2" in res.stdout
    # export in every format
    out = tmp_path / "tables"
    for fmt, ext, marker in (
        ("markdown", "md", "|"),
        ("github", "md", "|"),
        ("latex", "tex", "\\begin{tabular}"),
        ("csv", "csv", "recon_mse_mean"),
    ):
        res = run_cli("export", "--results-dir", str(rd), "--format", fmt, "--out-dir", str(out))
        assert res.returncode == 0, res.stderr
        text = (out / f"digits-v2_digits.{ext}").read_text()
        assert marker in text and "pca" in text


def test_budget_override_is_a_separate_variant(tmp_path):
    rd = tmp_path / "records"
    res = run_cli(
        "run", "-m", "pca", "--seeds", "0", "--budget", "1000", "--results-dir", str(rd), "--quiet"
    )
    assert res.returncode == 0, res.stderr
    (group,) = [p.name for p in rd.iterdir()]
    assert group.startswith("digits-v2~")
    assert "VARIANT" in res.stdout


def test_protocol_set_makes_a_variant_as_budget_does(tmp_path, capsys):
    from aebench.cli import main

    rd = tmp_path / "records"
    args = ["run", "-m", "pca", "--seeds", "0", "--results-dir", str(rd), "--quiet"]
    assert main([*args, "--protocol-set", "val_curve_points=3"]) == 0
    (record,) = rd.rglob("*.json")
    stored = json.loads(record.read_text())
    assert record.parts[-4].startswith("digits-v2~")
    assert stored["variant"]["protocol_overrides"] == {"val_curve_points": 3}
    assert stored["learning"]["curve"] == "none (own fit)"  # PCA's fit is its own


@pytest.mark.data
@pytest.mark.skipif(not (SHARED_DATA / "mnist").exists(), reason="../shared/data/mnist absent")
def test_pca_on_shared_mnist_marks_train_split_non_canonical(tmp_path):
    rd = tmp_path / "records"
    res = run_cli(
        "run",
        "-d",
        "mnist",
        "-m",
        "pca",
        "--seeds",
        "0",
        "--data-dir",
        str(SHARED_DATA),
        "--no-download",
        "--results-dir",
        str(rd),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "NON-CANONICAL" in res.stdout and "10,000 of 60,000" in res.stdout
    rec = json.loads(next(rd.rglob("pca/seed-0.json")).read_text())
    assert rec["dataset"]["canonical"] is False
    assert rec["dataset"]["n_train"] == 10_000 and rec["dataset"]["n_test"] == 10_000
    # the reference figure for k = 32 (scikit-learn, 10k train): MSE/pixel 0.01697; ours
    # fits on the 9,000-image fit split, so it is close but not identical
    assert rec["metrics"]["recon_mse"] == pytest.approx(0.01697, rel=0.03)


def test_an_explicit_seed_subset_is_not_incomplete_on_runs_board_but_is_on_shows(tmp_path):
    """``run --seeds 0`` asked for seed 0 only: its board expects that seed; ``show`` of the
    same records still says the protocol's other seeds were not run."""
    rd = tmp_path / "r"
    ran = run_cli("run", "-m", "pca,mean", "--seeds", "0", "--results-dir", str(rd), "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert "pca" in ran.stdout and "INCOMPLETE" not in ran.stdout
    shown = run_cli("show", "--results-dir", str(rd))
    assert shown.returncode == 0 and "INCOMPLETE" in shown.stdout
