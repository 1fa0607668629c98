"""Plugin discovery through entry points: isolation, duplicates, disabling (in subprocesses)."""

from __future__ import annotations

from conftest import make_distribution, run_cli

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


def test_duplicate_names_are_an_error_naming_both_distributions(fake_site):
    make_distribution(fake_site, "dup-dist", DUPLICATE, {"dup": "dup_plugin"}, version="2.5")
    res = run_cli("list")
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "'pca' is registered twice" in err
    assert "aebench 0.1.0" in err and "dup-dist 2.5" in err
    assert "Traceback" not in res.stderr


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
