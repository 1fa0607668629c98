"""The README's plugin example, built as a real package into a throwaway virtual environment."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import REPO


def readme_example_files() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    pattern = r"<!-- example-file: (\S+) -->\n```\w*\n(.*?)```"
    return {name: body for name, body in re.findall(pattern, text, re.S)}


def test_readme_example_has_both_files():
    assert set(readme_example_files()) == {"pyproject.toml", "aebench_linear.py"}


def test_readme_mentions_every_hook():
    from aebench import hookspecs

    text = (REPO / "README.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("aebench_")]
    assert hooks
    for name in hooks:
        assert f"`{name}(" in text, f"hook {name} is not documented in README"


@pytest.mark.e2e  # a real venv, a real wheel, the command in a new process
@pytest.mark.timeout(900)  # four steps of up to 300 s each
def test_readme_plugin_installs_and_runs_in_a_fresh_venv(tmp_path):
    pkg = tmp_path / "aebench-linear"
    pkg.mkdir()
    for name, body in readme_example_files().items():
        (pkg / name).write_text(body)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # The throwaway venv sees this environment's packages (aebench, torch) but installs the
    # plugin into its own site-packages, as a user would next to an existing aebench.
    site_dir = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent_site = sysconfig.get_paths()["purelib"]
    Path(site_dir, "_parent_env.pth").write_text(f"import site; site.addsitedir({parent_site!r})\n")
    # Build a real wheel (with this environment's setuptools: no network), then install it.
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(wheels),
            str(pkg),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("aebench_linear-0.1.0-*.whl")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(Path(site_dir).glob("aebench_linear-0.1.0.dist-info"))
    res = subprocess.run(
        [str(py), "-m", "aebench.cli", "list"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": ""},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "linear-ae" in res.stdout and "aebench-linear" in res.stdout
    out = tmp_path / "records"
    res = subprocess.run(
        [
            str(py),
            "-m",
            "aebench.cli",
            "run",
            "-m",
            "linear-ae",
            "--seeds",
            "0",
            "--budget",
            "5000",
            "--results-dir",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": ""},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "linear-ae" in res.stdout and "ok 1/1" in res.stdout
    assert list(out.rglob("linear-ae/seed-0.json"))
