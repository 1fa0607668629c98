"""The README's commands are the ones CI runs; every hook is documented."""

from __future__ import annotations

import re

import pytest
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


def _dataset_example() -> str:
    text = (REPO / "README.md").read_text()
    pattern = r"<!-- dataset-example-file: aebench_blobs\.py -->\n```python\n(.*?)```"
    (source,) = re.findall(pattern, text, re.S)
    return source


def test_the_readme_data_set_plugin_passes_the_contract_and_runs(tmp_path, monkeypatch):
    """The README's data-set example, imported as its package would be, checked by the
    contract suite's data-set check and run through the harness with a model."""
    import dataclasses
    import importlib

    import numpy as np
    import torch

    from aebench import DataError
    from aebench.registry.loading import load_registry
    from aebench.run import runner
    from aebench.testing import check_dataset

    (tmp_path / "aebench_blobs.py").write_text(_dataset_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("aebench_blobs")
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (90, 4)), rng.normal(4, 1, (10, 4))])
    labels = np.r_[np.zeros(90), np.ones(10)]
    (tmp_path / "data" / "blobs").mkdir(parents=True)
    np.savetxt(tmp_path / "data" / "blobs" / "blobs.csv", np.c_[labels, x], delimiter=",")

    registry = load_registry(allowed=["pca"], extra_plugins=[("blobs", module)])
    splits = check_dataset(registry.dataset("blobs"), tmp_path / "data")
    assert (splits.provenance["n_train"], splits.provenance["n_test"]) == (70, 30)

    with pytest.raises(DataError, match="no blobs.csv in"):
        check_dataset(registry.dataset("blobs"), tmp_path / "elsewhere")
    (req,) = runner.plan(registry, ["pca"], ["blobs"], seeds=[0])
    tiny = registry.model("pca").make_config(tiny=True)
    req = dataclasses.replace(req, config_overrides=tuple(dataclasses.asdict(tiny).items()))
    data = runner.DataCache(registry, tmp_path / "data", False, torch.device("cpu"))
    record = runner.run_one(registry, req, torch.device("cpu"), data).record
    assert record["status"] == "ok", record.get("reason")
    assert record["dataset"]["files"]["blobs.csv"]["sha256"]
    assert 0.0 <= record["metrics"]["anomaly.auroc"] <= 1.0
