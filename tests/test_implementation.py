"""Implementation fingerprints: records say which code and config made them; resume reruns
a record of another implementation (keeping it aside); boards mark stale rows; --set runs are
variants of their own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import make_distribution, run_cli

from aebench.run import implementation

PLUGIN = '''
"""A third-party linear autoencoder (docstring: not part of the fingerprint)."""
from dataclasses import dataclass

from torch import nn

from aebench import Capabilities, TorchModel, hookimpl


@dataclass(frozen=True)
class Cfg:
    scale: float = 1.0


class Lin(TorchModel):
    capabilities = Capabilities(inputs=("vector",))

    def __init__(self, spec, code_size, config):
        super().__init__(spec, code_size, config)
        self.enc, self.dec = nn.Linear(spec.dim, code_size), nn.Linear(code_size, spec.dim)

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)

    def loss(self, batch):
        return ((self.decode(self.encode(batch)) - batch) ** 2).mean() * LOSS_SCALE


LOSS_SCALE = 1.0


@hookimpl
def aebench_register_models(register):
    register("lin", Lin, config=Cfg)
'''


def _install(site: Path, source: str) -> dict[str, str]:
    for old in site.glob("aebench_lin*"):  # reinstall: a new version of the same package
        if old.is_dir():
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        else:
            old.unlink()
    make_distribution(site, "aebench-lin", {"aebench_lin": source}, {"lin": "aebench_lin"})
    return {"PYTHONPATH": str(site)}


def test_prose_edits_keep_the_fingerprint_and_code_edits_change_it():
    base = implementation.normalised_source(textwrap.dedent(PLUGIN))
    prose = PLUGIN.replace("not part of the fingerprint", "reworded").replace(
        "    def encode(self, x):", "    # a comment\n    def encode(self, x):"
    )
    assert implementation.normalised_source(textwrap.dedent(prose)) == base
    code = PLUGIN.replace("LOSS_SCALE = 1.0", "LOSS_SCALE = 2.0")
    assert implementation.normalised_source(textwrap.dedent(code)) != base


def test_fingerprint_covers_the_plugins_own_modules_and_its_config():
    from aebench.registry.loading import load_registry

    registry = load_registry()
    entry = registry.model("denoising_ae")
    fp = implementation.fingerprint(entry, entry.make_config())
    # the MLP layers it builds from are part of its implementation; the harness API is not
    assert "aebench.nn" in fp["modules"]
    assert "aebench" not in fp["modules"] and "aebench.model" not in fp["modules"]
    other = implementation.fingerprint(entry, entry.make_config({"level": 0.123}))
    assert other["code"] == fp["code"] and other["config"] != fp["config"]
    assert other["fingerprint"] != fp["fingerprint"]


def test_every_builtin_record_carries_todays_fingerprint(tmp_path):
    from aebench.registry.loading import load_registry
    from aebench.run import runner

    registry = load_registry()
    req = runner.plan(registry, ["pca"], ["digits"], seeds=[0])[0]
    import torch

    rec = runner.new_record(registry, req, torch.device("cpu"))
    assert rec["model"]["implementation"]["fingerprint"]
    assert implementation.staleness(rec, registry) is None
    rec["model"]["implementation"] = {**rec["model"]["implementation"], "fingerprint": "x"}
    assert "another implementation" in implementation.staleness(rec, registry)
    del rec["model"]["implementation"]
    assert "before records carried" in implementation.staleness(rec, registry)


RUN = ("run", "-m", "lin", "--seeds", "0", "--budget", "640", "--threads", "1", "-q")


@pytest.mark.parametrize("change", ["code", "config default"])
def test_resume_reruns_a_record_of_another_implementation_and_keeps_the_old_one(tmp_path, change):
    site, results = tmp_path / "site", tmp_path / "r"
    env = _install(site, PLUGIN)
    args = (*RUN, "--results-dir", str(results))
    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    (path,) = results.rglob("seed-0.json")
    old = json.loads(path.read_text())
    again = run_cli(*args, env=env)  # same implementation: skipped as recorded
    assert "1 already recorded" in again.stdout + again.stderr
    if change == "code":
        env = _install(site, PLUGIN.replace("LOSS_SCALE = 1.0", "LOSS_SCALE = 2.0"))
    else:
        env = _install(site, PLUGIN.replace("scale: float = 1.0", "scale: float = 3.0"))
    # before rerunning, the board marks the row stale (and does not rank it)
    shown = run_cli("show", "--results-dir", str(results), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "[STALE]" in shown.stdout and "another implementation" in shown.stdout
    third = run_cli(*args, env=env)
    assert third.returncode == 0, third.stderr
    err = " ".join((third.stderr + third.stdout).split())
    assert "another implementation" in err and "rerun" in err, err
    new = json.loads(path.read_text())
    assert new["model"]["implementation"] != old["model"]["implementation"]
    kept = list(path.parent.glob("seed-0.json.superseded-*"))
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == old
    assert len(list(path.parent.glob("seed-0.npz.superseded-*"))) == 1
    shown = run_cli("show", "--results-dir", str(results), env=env)
    assert "[STALE]" not in shown.stdout


def test_set_overrides_are_a_variant_that_never_hides_or_replaces_the_default(tmp_path):
    site, results = tmp_path / "site", tmp_path / "r"
    env = _install(site, PLUGIN)
    base = (*RUN, "--results-dir", str(results))
    assert run_cli(*base, env=env).returncode == 0
    (default,) = results.rglob("seed-0.json")
    before = default.read_bytes()
    for _ in range(2):  # the second time: recorded, skipped, nothing replaced
        out = run_cli(*base, "--set", "lin.scale=0.0", env=env)
        assert out.returncode == 0, out.stderr
    assert "1 already recorded" in out.stdout + out.stderr
    paths = sorted(results.rglob("seed-0.json"))
    assert len(paths) == 2 and default.read_bytes() == before
    variant = next(p for p in paths if p != default)
    rec = json.loads(variant.read_text())
    default_group = json.loads(before)["group"]  # --budget: a protocol variant already
    assert rec["group"] != default_group and rec["group"].split("~")[0] == "digits-v2"
    assert rec["variant"]["config_overrides"] == {"lin": {"scale": 0.0}}
    assert rec["model"]["overrides"] == {"scale": 0.0}
    assert implementation.staleness(rec, _registry(site)) is None
    shown = run_cli("show", "--results-dir", str(results), env=env)
    text = " ".join(shown.stdout.split())
    assert text.count("digits ·") == 2 and "VARIANT" in text and "lin.scale=0.0" in text, text


def _registry(site: Path):
    import importlib
    import sys

    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        from aebench.registry.loading import load_registry

        return load_registry()
    finally:
        sys.path.remove(str(site))


PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "records"


@pytest.mark.skipif(not PUBLISHED.is_dir(), reason="no published records in this checkout")
def test_published_records_name_the_modules_todays_fingerprint_hashes():
    """Moving harness code must not move what a fingerprint covers: each model's published
    record on digits-v2 names the same modules (its plugin module, ``aebench.nn``) that
    today's fingerprint hashes, and one whose code is unchanged since matches it exactly."""
    from aebench.records.storage import read_record
    from aebench.registry import load_registry

    registry = load_registry()
    checked = 0
    for path in sorted(PUBLISHED.glob("digits-v2/digits/*/seed-0.json")):
        record = read_record(path)
        entry = registry.models[record["model"]["name"]]
        config = entry.make_config(dict(record["model"].get("overrides") or {}))
        today = implementation.fingerprint(entry, config)
        stored = record["model"]["implementation"]
        assert stored["modules"] == today["modules"], path
        checked += 1
    assert checked >= 8
