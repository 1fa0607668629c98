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


def test_every_register_argument_is_documented_in_the_readme_and_the_hookspec():
    """A keyword a plugin can pass to ``register`` (``search_space=`` too) is in the README's
    plugin section and in its hook's docstring."""
    import inspect

    from aebench import hookspecs
    from aebench.registry.entries import Origin, Registry

    section = (REPO / "README.md").read_text().split("## Writing a plugin", 1)[1]
    section = section.split("\n## ", 1)[0]
    reg, origin = Registry(), Origin("doc", "doc", "0")
    for make, hook in (
        (reg.model_registrar, hookspecs.aebench_register_models),
        (reg.dataset_registrar, hookspecs.aebench_register_datasets),
    ):
        names = list(inspect.signature(make(origin)).parameters)[2:]  # after name, factory
        assert names
        for name in names:
            assert f"{name}=" in section, f"register's {name}= is not in the README"
            assert f"{name}=" in " ".join(hook.__doc__.split()), f"{name}= not in {hook.__name__}"
