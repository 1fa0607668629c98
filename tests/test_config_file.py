"""Run files: ``aebench run --config FILE`` (TOML, read with tomllib) makes the same records as
the equivalent flags; ``--print-config`` writes the file for a command line; a malformed file,
an unknown key or a value of the wrong type is one line naming the file, the key and the fix
(exit 2), before any training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from conftest import run_cli

FLAGS = (
    "-m", "pca,mean", "--seeds", "0,1", "--budget", "1500", "--threads", "1",
    "--set", "pca.whiten=True", "--protocol-set", "val_curve_points=3",
    "--plugin", "digits", "--plugin", "pca", "--plugin", "mean",
)  # fmt: skip
RUN_FILE = """\
model = ["pca", "mean"]
seeds = [0, 1]
budget = 1500
threads = 1
plugin = ["digits", "pca", "mean"]

[set.pca]
whiten = true

[protocol-set]
val_curve_points = 3
"""
#: what differs between two identical runs: clock times, speeds, memory, provenance
TIMING = ("_s", "per_s", "_mb")


def comparable(rd: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(rd.rglob("seed-*.json")):
        rec = json.loads(p.read_text())
        for key in ("started", "finished", "software", "arrays_sha256"):
            rec.pop(key, None)
        rec["metrics"] = {k: v for k, v in rec["metrics"].items() if not k.endswith(TIMING)}
        rec["training"].pop("curve_s", None)
        out[p.relative_to(rd).as_posix()] = rec
    return out


def test_a_run_file_makes_the_same_records_as_the_flags(tmp_path):
    by_flags, by_file = tmp_path / "flags", tmp_path / "file"
    res = run_cli("run", *FLAGS, "-q", "--results-dir", str(by_flags))
    assert res.returncode == 0, res.stderr
    (tmp_path / "run.toml").write_text(f'results-dir = "{by_file}"\n' + RUN_FILE)
    res = run_cli("run", "-q", "--config", str(tmp_path / "run.toml"))
    assert res.returncode == 0, res.stderr
    flags, file = comparable(by_flags), comparable(by_file)
    assert len(flags) == 4 and any("~" in k for k in flags)  # a variant: --set, --protocol-set
    assert file == flags


def test_print_config_writes_the_file_that_reproduces_the_command_line(tmp_path):
    res = run_cli("run", *FLAGS, "--results-dir", "runs", "--save-models", "--print-config")
    assert res.returncode == 0, res.stderr
    written = tomllib.loads(res.stdout)
    assert written == {**tomllib.loads(RUN_FILE), "results-dir": "runs", "save-models": True}
    assert not Path("runs").exists()  # it ran nothing
    # and read back, it prints itself
    (tmp_path / "run.toml").write_text(res.stdout)
    again = run_cli("run", "--config", str(tmp_path / "run.toml"), "--print-config")
    assert again.returncode == 0 and again.stdout == res.stdout


def test_the_command_line_wins_over_the_file(tmp_path):
    (tmp_path / "run.toml").write_text(RUN_FILE)
    res = run_cli("run", "--config", str(tmp_path / "run.toml"), "--budget", "99", "--print-config")
    assert res.returncode == 0, res.stderr
    assert tomllib.loads(res.stdout)["budget"] == 99


@pytest.mark.parametrize(
    "text, expected",
    [
        ("model = [pca]\n", r"not valid TOML \(.*line 1.*\); fix that line"),
        (
            "modle = ['pca']\n",
            r"unknown key 'modle'; a run file's keys are aebench run's options: ",
        ),
        ("seeds = '0,1'\n", r"key 'seeds' takes a list of non-negative integers, e.g. seeds = \["),
        ("threads = '1'\n", r"key 'threads' takes an integer, e.g. threads = 2"),
        ("budget = [1]\n", r"key 'budget' takes a value as --budget takes it"),
        ("force = 1\n", r"key 'force' takes true or false"),
        ("precision = 'fp8'\n", r"key 'precision' takes one of "),
        ("set = 3\n", r"key 'set' takes a table"),
    ],
)
def test_a_bad_run_file_is_one_line_naming_file_key_and_fix(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    res = run_cli("run", "--config", str(path), "--results-dir", str(tmp_path / "runs"))
    assert res.returncode == 2
    line = res.stderr.strip()
    assert "\n" not in line and str(path) in line, line
    assert __import__("re").search(expected, line), line
    assert not (tmp_path / "runs").exists()


def test_a_missing_run_file_is_one_line(tmp_path):
    res = run_cli("run", "--config", str(tmp_path / "nope.toml"))
    assert res.returncode == 2
    assert "nope.toml: no such file" in res.stderr


def test_each_published_protocol_has_its_run_file():
    """``results/runs/PROTOCOL.toml``: the run file of each protocol ``results/regenerate.sh``
    runs, and of each older version whose published board it made (kept while that board is
    published), each a valid run file naming its protocol."""
    from conftest import REPO

    script = (REPO / "results" / "regenerate.sh").read_text()
    loop = script.split("for protocol in", 1)[1].split("; do", 1)[0]
    protocols = sorted(loop.replace("\\", " ").split())
    files = sorted(p.stem for p in (REPO / "results" / "runs").glob("*.toml"))
    assert set(protocols) <= set(files), "a protocol regenerate.sh runs has no run file"
    published = {p.name for p in (REPO / "results" / "records").iterdir() if p.is_dir()}
    assert set(files) <= set(protocols) | published, "a run file of no board"
    from aebench.cli import build_parser, config

    for name in files:
        path = REPO / "results" / "runs" / f"{name}.toml"
        args = build_parser().parse_args(["run", "--config", str(path)])
        config.apply(args, args.run_parser, str(path))
        written = tomllib.loads(config.render(args, args.run_parser))
        assert written == tomllib.loads(path.read_text())
        assert written["protocol"] == name
