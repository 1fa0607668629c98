"""The README's commands are the ones CI runs; every hook is documented."""

from __future__ import annotations

import re

from conftest import REPO


def _quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_quick_start_has_two_one_line_commands():
    cmds = _quick_start_commands()
    assert len(cmds) == 2
    assert all("\n" not in c for c in cmds)
    assert all("-c constraints.txt" in c for c in cmds), "torch must come through the pin"


def test_ci_runs_the_readme_test_command():
    test_cmd = _quick_start_commands()[1]
    assert "pytest" in test_cmd
    assert test_cmd in (REPO / ".ci" / "run").read_text()


def test_torch_is_pinned_in_exactly_one_place():
    pins = [p for p in REPO.glob("*.txt") if "torch==" in p.read_text()]
    assert [p.name for p in pins] == ["constraints.txt"]
    assert "torch==" not in (REPO / "pyproject.toml").read_text()
