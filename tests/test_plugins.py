"""Plugin discovery through entry points: isolation, clashes, allow and deny lists (the CLI's
in subprocesses, the registry's in process)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest
from conftest import make_distribution, run_cli

from aebench import DuplicateError, PluginError, hookimpl

BROKEN = {"broken_plugin": "raise RuntimeError('boom at import')\n"}
DUPLICATE = {
    "dup_plugin": """
        from aebench import hookimpl
        from aebench_plugins.models.pca import PCA, PCAConfig

        @hookimpl
        def aebench_register_models(register):
            register("pca", PCA, config=PCAConfig)
    """
}
BAD_PROTOCOL = {
    "bad_protocol": """
        from aebench import Dataset, Protocol, hookimpl

        BAD = Protocol(name="bad", version=1, dataset="bad", code_size=2, budget_samples=0)

        @hookimpl
        def aebench_register_datasets(register):
            register("bad", Dataset, protocols=[BAD])
    """
}
HOOK_RAISES = {
    "hook_raises": """
        from aebench import hookimpl

        @hookimpl
        def aebench_register_models(register):
            raise ValueError("cannot register today")
    """
}


def test_builtin_plugins_come_through_entry_points():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="aebench")}
    assert {"pca", "digits"} <= names
    from aebench.registry.loading import load_registry

    reg = load_registry()
    assert reg.models["pca"].origin.dist == "aebench"


def test_plugin_that_raises_on_import_is_reported_once_and_others_work(fake_site):
    make_distribution(fake_site, "broken-dist", BROKEN, {"broken": "broken_plugin"})
    res = run_cli("list")
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "broken" in line]
    assert len(warnings) == 1
    assert "RuntimeError: boom at import" in warnings[0]
    assert "pca" in res.stdout


def test_plugin_whose_hook_raises_is_isolated(fake_site):
    make_distribution(fake_site, "hook-dist", HOOK_RAISES, {"hookraises": "hook_raises"})
    res = run_cli("list")
    assert res.returncode == 0, res.stderr
    assert "hookraises" in res.stderr and "cannot register today" in res.stderr
    assert "pca" in res.stdout


def test_a_name_registered_twice_is_reported_once_and_only_its_commands_fail(fake_site, tmp_path):
    make_distribution(fake_site, "dup-dist", DUPLICATE, {"dup": "dup_plugin"}, version="2.5")
    res = run_cli("list")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if "registered twice" in line]
    assert len(lines) == 1, res.stderr
    clash = lines[0]
    assert "model 'pca' is registered twice" in clash
    assert "aebench 0.1.0" in clash and "dup-dist 2.5" in clash
    assert "--disable-plugin dup" in clash and "AEBENCH_DISABLE_PLUGINS" in clash
    assert "names registered twice" in res.stdout and "│ pca " in res.stdout  # the clash table
    assert "Traceback" not in res.stderr
    # the command that needs the name fails with that line; another one runs
    res = run_cli("run", "-m", "pca", "--seeds", "0", "--results-dir", str(tmp_path / "a"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].endswith(clash.split("warning: ", 1)[1])
    res = run_cli(
        "run", "-m", "mean", "--seeds", "0", "--quiet", "--results-dir", str(tmp_path / "b")
    )
    assert res.returncode == 0, res.stderr
    assert "ok 1/1" in res.stdout


def test_the_allow_list_loads_only_the_plugins_it_names(fake_site):
    make_distribution(fake_site, "broken-dist", BROKEN, {"broken": "broken_plugin"})
    make_distribution(fake_site, "dup-dist", DUPLICATE, {"dup": "dup_plugin"})
    res = run_cli("list", "--plugin", "pca", "--plugin", "digits")
    assert res.returncode == 0, res.stderr
    assert "broken" not in res.stderr and "twice" not in res.stderr
    assert "│ pca " in res.stdout and "│ mean " not in res.stdout and "│ digits " in res.stdout


def test_disable_plugin_by_flag_and_environment(fake_site):
    make_distribution(fake_site, "broken-dist", BROKEN, {"broken": "broken_plugin"})
    make_distribution(fake_site, "dup-dist", DUPLICATE, {"dup": "dup_plugin"})
    res = run_cli("list", "--disable-plugin", "broken", "--disable-plugin", "dup")
    assert res.returncode == 0, res.stderr
    assert "broken" not in res.stderr
    res = run_cli("list", env={"AEBENCH_DISABLE_PLUGINS": "broken,dup"})
    assert res.returncode == 0 and "broken" not in res.stderr
    # disabling a built-in removes its models
    res = run_cli("list", env={"AEBENCH_DISABLE_PLUGINS": "broken,dup,pca"})
    assert res.returncode == 0
    assert "│ pca " not in res.stdout


# -- in-process: the registry's allow-list and clashes ---------------------------------------
class _Dup:
    @staticmethod
    @hookimpl
    def aebench_register_models(register):
        from aebench_plugins.models.pca import PCA, PCAConfig

        register("pca", PCA, config=PCAConfig)


class _DupDataSet:
    """A data set named like a built-in one, and another whose protocol has a built-in key."""

    @staticmethod
    @hookimpl
    def aebench_register_datasets(register):
        from aebench_plugins.datasets.digits import DIGITS_V1, DIGITS_V2, Digits

        register("digits", Digits, protocols=[dataclasses.replace(DIGITS_V2, version=9)])
        register("digits-copy", Digits, protocols=[dataclasses.replace(DIGITS_V1, lr=0.1)])


def test_load_registry_allow_list_by_entry_point_distribution_and_environment(monkeypatch):
    from aebench.registry.loading import load_registry

    reg = load_registry(allowed=["pca", "digits"])
    assert set(reg.models) == {"pca"} and set(reg.datasets) == {"digits"}
    assert set(load_registry(allowed=["aebench"], disabled=["pca"]).models) > {"mean", "vae"}
    assert "pca" not in load_registry(allowed=["aebench"], disabled=["pca"]).models
    monkeypatch.setenv("AEBENCH_PLUGINS", "mean, sms_spam")
    reg = load_registry()
    assert set(reg.models) == {"mean"} and set(reg.datasets) == {"sms-spam"}
    assert set(load_registry(allowed=["pca"]).models) == {"pca"}  # the argument wins
    monkeypatch.setenv("AEBENCH_PLUGINS", "")
    assert {"pca", "mean"} <= set(load_registry().models)  # empty: every plugin


def test_an_allow_list_name_no_plugin_has_is_one_line_naming_it_and_the_installed(
    monkeypatch, capsys
):
    from aebench.cli import main
    from aebench.errors import PluginError
    from aebench.registry.loading import load_registry

    with pytest.raises(PluginError) as excinfo:
        load_registry(allowed=["pca", "nope"])
    line = str(excinfo.value)
    assert "\n" not in line and "'nope'" in line and "installed: " in line and "pca" in line
    assert main(["list", "--plugin", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plugin / AEBENCH_PLUGINS names 'nope'") and err.count("\n") == 1
    monkeypatch.setenv("AEBENCH_PLUGINS", "nope")
    with pytest.raises(PluginError):
        load_registry()


def test_a_model_clash_takes_the_name_from_both_and_names_them():
    from aebench.registry.loading import load_registry

    reg = load_registry(extra_plugins=[("dup", _Dup)])
    assert "pca" not in reg.models and "mean" in reg.models
    (clash,) = reg.clashes
    line = str(clash)
    assert "\n" not in line and "model 'pca' is registered twice" in line
    assert "aebench 0.1.0 (plugin 'pca')" in line and "dup local (plugin 'dup')" in line
    with pytest.raises(DuplicateError) as excinfo:
        reg.model("pca")
    assert str(excinfo.value) == line
    assert reg.model("mean").name == "mean"


def test_data_set_and_protocol_clashes_refuse_only_the_contested_names():
    from aebench.registry.loading import load_registry

    reg = load_registry(extra_plugins=[("dupset", _DupDataSet)])
    whats = sorted((c.what, c.name) for c in reg.clashes)
    assert whats == [("data set", "digits"), ("protocol", "digits-v1")]
    for contested in (
        lambda: reg.dataset("digits"),
        lambda: reg.dataset("digits-copy"),  # its one protocol is contested: nothing is left
        lambda: reg.resolve_protocol("digits-v1"),
        lambda: reg.resolve_protocol("digits-v2"),
        lambda: reg.resolve_protocol("digits-v9"),
        lambda: reg.resolve_group("digits-v1~abc"),
        lambda: reg.default_dataset(),  # digits was the default
    ):
        with pytest.raises(DuplicateError, match="is registered twice"):
            contested()
    assert reg.resolve_protocol("sms-spam-v4")[0].name == "sms-spam"
    assert reg.model("pca").name == "pca"


def test_a_protocol_clash_leaves_a_data_set_its_other_protocols():
    from aebench.registry.entries import Origin, Registry
    from aebench_plugins.datasets.digits import DIGITS_V1, DIGITS_V2, Digits

    reg = Registry()
    reg.dataset_registrar(Origin("a", "a-dist", "1"))("digits", Digits, [DIGITS_V2, DIGITS_V1])
    other = dataclasses.replace(DIGITS_V1, dataset="other")
    reg.dataset_registrar(Origin("b", "b-dist", "1"))("other", Digits, [other])
    assert [p.key for p in reg.dataset("digits").protocols] == ["digits-v2"]
    assert reg.resolve_protocol("digits")[1].key == "digits-v2"  # the name meant v2 before
    with pytest.raises(DuplicateError, match="a-dist 1 .* and by b-dist 1"):
        reg.resolve_protocol("digits-v1")
    with pytest.raises(DuplicateError):
        reg.dataset("other")


def test_a_protocol_is_validated_at_registration_naming_plugin_and_field():
    from aebench.registry.entries import Origin, Registry
    from aebench_plugins.datasets.digits import DIGITS_V1, Digits

    bad = dataclasses.replace(DIGITS_V1)
    object.__setattr__(bad, "precision", "fp16")  # past __post_init__, as no plugin should
    register = Registry().dataset_registrar(Origin("mine", "my-dist", "1"))
    with pytest.raises(PluginError) as excinfo:
        register("digits", Digits, [bad])
    message = str(excinfo.value)
    assert "\n" not in message and "my-dist 1 (plugin 'mine')" in message
    assert "protocol digits-v1: precision 'fp16' is not one of" in message
    with pytest.raises(PluginError, match="is not an aebench.Protocol"):
        register("digits", Digits, [{"name": "digits"}])


def test_a_plugin_whose_protocol_is_invalid_is_skipped_by_name(fake_site):
    from aebench.registry.loading import load_registry

    make_distribution(fake_site, "bad-dist", BAD_PROTOCOL, {"badproto": "bad_protocol"})
    reg = load_registry()
    (problem,) = [p for name, p in reg.broken if name == "badproto"]
    assert problem.startswith("ProtocolError: protocol bad-v1: budget_samples must be")
    assert "pca" in reg.models


def test_model_contract_defaults():
    """What the Model base class declares for a plugin that declares nothing."""
    from aebench import Capabilities, Model

    @dataclasses.dataclass
    class Config:
        lr: float | None = None
        step: float = 0.5

    class Plain(Model):
        capabilities = Capabilities(inputs=("image",))

        def fit(self, train, ctx): ...
        def encode(self, x): ...
        def decode(self, z): ...

    class OwnField(Plain):
        lr_field = "step"

    class NoField(Plain):
        lr_field = None

    assert Plain.capabilities_for(Config()) is Plain.capabilities
    assert Plain.learning_rate(Config()) is None and Plain.learning_rate(Config(lr=0.1)) == 0.1
    assert OwnField.learning_rate(Config(lr=0.1)) == 0.5
    assert NoField.learning_rate(Config(lr=0.1)) is None
    assert Plain.learning_rate(None) is None


@pytest.mark.e2e  # a fresh interpreter: what importing the module alone does
def test_importing_the_contract_suite_registers_nothing():
    """Test modules import ``ToyPlugin`` from ``aebench.testing``: no plugin loads until
    pytest parametrizes the suite's tests."""
    code = (
        "import sys, aebench.testing as t\n"
        "assert t.registry.cache_info().currsize == 0\n"
        "assert not [m for m in sys.modules if m.startswith('aebench_plugins')]\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _entry(factory, config):
    from aebench.registry.entries import ModelEntry, Origin

    return ModelEntry("m", factory, config, "", (), Origin("p", "d", "1"))


def test_the_contract_suite_checks_what_a_model_declares():
    from aebench import Capabilities, Model
    from aebench.testing import check_declarations

    @dataclasses.dataclass
    class Config:
        lr: float | None = None

        @classmethod
        def tiny(cls):
            return cls()

    class Good(Model):
        capabilities = Capabilities()

        def fit(self, train, ctx): ...
        def encode(self, x): ...
        def decode(self, z): ...

    check_declarations(_entry(Good, Config))
    check_declarations(_entry(Good, None))

    @dataclasses.dataclass
    class NoTiny:
        lr: float | None = None

    @dataclasses.dataclass
    class TinyReturnsDict(Config):
        @classmethod
        def tiny(cls):
            return {}

    @dataclasses.dataclass
    class BadRate(Config):
        lr: float | None = 0

    class OwnField(Good):
        lr_field = "step"

    class BadFlags(Good):
        @classmethod
        def capabilities_for(cls, config):
            return {"likelihood": "none"}

    for factory, config, message in (
        (Good, NoTiny, "tiny() classmethod"),
        (Good, TinyReturnsDict, "tiny() must return a config"),
        (Good, BadRate, "must be None or a positive float"),
        (OwnField, Config, "no config field 'step'"),
        (BadFlags, Config, "capabilities_for must return"),
    ):
        with pytest.raises(AssertionError, match=re.escape(message)):
            check_declarations(_entry(factory, config))
