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


def test_every_hook_and_each_of_its_arguments_is_documented():
    """Each hookspec has a summary and a ``:param:`` per argument, and the README's plugin
    sections (Writing a plugin, Research workflow) show its full signature."""
    import inspect

    from aebench import hookspecs

    text = (REPO / "README.md").read_text()
    docs = text.split("## Writing a plugin", 1)[1].split("## Layout", 1)[0]
    hooks = [f for n, f in vars(hookspecs).items() if hasattr(f, "aebench_spec")]
    assert {h.__name__ for h in hooks} >= {"aebench_register_models", "aebench_run_recorded"}
    for hook in hooks:
        assert hook.__doc__ and hook.__doc__.strip().splitlines()[0], hook.__name__
        args = list(inspect.signature(hook).parameters)
        assert f"`{hook.__name__}({', '.join(args)})`" in docs, f"{hook.__name__} not in README"
        for arg in args:
            assert f":param {arg}:" in hook.__doc__, f"{hook.__name__}: no :param {arg}:"


def _tracker_example() -> str:
    text = (REPO / "README.md").read_text()
    pattern = r"<!-- tracker-example-file: aebench_wandb\.py -->\n```python\n(.*?)```"
    (source,) = re.findall(pattern, text, re.S)
    return source


def test_the_readme_wandb_tracker_receives_each_record(tmp_path, monkeypatch):
    """The README's W&B example, with a stand-in ``wandb`` module (no account, no network),
    registered as a plugin and told of the records a suite writes."""
    import importlib
    import json
    import sys
    import types

    import torch

    from aebench.execute import suite
    from aebench.registry.loading import load_registry
    from aebench.run import runner
    from aebench.testing import ToyPlugin

    runs = []

    class Run:
        def __init__(self, **kwargs):
            self.init, self.logged, self.summary, self.saved = kwargs, [], {}, []
            self.finished = False
            runs.append(self)

        def log(self, values, step):
            self.logged.append((step, values))

        def save(self, path, policy):
            self.saved.append(path)

        def finish(self):
            self.finished = True

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kw: Run(**kw)))
    (tmp_path / "aebench_wandb.py").write_text(_tracker_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("aebench_wandb")
    registry = load_registry(allowed=["pca"], extra_plugins=[("toy", ToyPlugin), ("wandb", module)])
    reqs = runner.plan(registry, ["pca"], ["toy"], seeds=[0, 1])
    data = runner.DataCache(registry, tmp_path, False, torch.device("cpu"))
    rd = tmp_path / "rec"
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    suite.run_suite(registry, reqs, rd, torch.device("cpu"), data, trackers={})
    assert runs == []  # off unless asked

    monkeypatch.setenv("WANDB_PROJECT", "demo")
    summary = suite.run_suite(
        registry, reqs, tmp_path / "rec2", torch.device("cpu"), data, trackers={}
    )
    assert sorted(r.init["name"] for r in runs) == sorted(r["run_id"] for r in summary.done)
    for run in runs:
        rec = next(r for r in summary.done if r["run_id"] == run.init["name"])
        stored = json.loads(next((tmp_path / "rec2").rglob(f"seed-{rec['seed']}.json")).read_text())
        assert run.summary == {k: v for k, v in stored["metrics"].items() if v is not None}
        assert run.init["config"]["seed"] == rec["seed"] and run.finished
        assert run.saved and run.saved[0].endswith(".npz")
    sys.modules.pop("aebench_wandb", None)


def test_the_readme_results_example_runs_and_prints_the_board(capsys, monkeypatch):
    """The README's Python API example, run from the checkout as a user would."""
    text = (REPO / "README.md").read_text()
    (source,) = re.findall(r"<!-- results-example -->\n```python\n(.*?)```", text, re.S)
    if not (REPO / "results" / "records" / "digits-v2").is_dir():
        pytest.skip("results/records/digits-v2 absent")
    monkeypatch.chdir(REPO)
    exec(compile(source, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "recon_mse_sign" in out and "conv_ae" in out and "▲" in out


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_reads_in_order_with_a_table_of_contents():
    """Issue 28: a table of contents linking every section, the everyday tasks (run, read a
    board, compare, your data, your model, publish) before the reference (protocols,
    statistics, tuning, clusters, GPU, faults), and how long the main job takes."""
    text = (REPO / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    links = set(re.findall(r"\]\(#([^)]+)\)", contents))
    anchors = {_anchor(h) for h in headings}
    assert headings[0] == "Contents"
    assert {_anchor(h) for h in headings[1:]} <= links, "a section missing from the contents"
    assert links <= anchors | {_anchor(h) for h in re.findall(r"^### (.+)$", text, flags=re.M)}

    def at(word: str) -> int:
        found = [i for i, h in enumerate(headings) if word.lower() in h.lower()]
        assert found, f"no section about {word!r}"
        return found[0]

    everyday = [
        "Quick start",
        "Running",
        "Reading a board",
        "Comparing",
        "own data",
        "plugin",
        "Publishing",
    ]
    reference = ["Protocols", "Statistics", "Tuning", "clusters", "GPU", "goes wrong"]
    order = [at(w) for w in everyday + reference]
    assert order == sorted(order), [headings[i] for i in order]
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"main job .* takes about", quick, flags=re.S)


def test_the_plugin_section_names_the_test_extra():
    text = (REPO / "README.md").read_text()
    plugin = text.split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    assert "[test]" in plugin and "pytest --pyargs aebench.testing" in plugin
