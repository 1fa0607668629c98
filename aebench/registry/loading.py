"""Plugin discovery: entry points in the ``aebench`` group, allow and deny lists, isolation.

Built-ins and third-party plugins load the same way. A plugin that fails to import or to
register is reported once by name and skipped; every other plugin keeps working. A name two
plugins register is a clash (:class:`aebench.registry.entries.Clash`) naming both
distributions: neither keeps the name, and only a command that needs it fails.

Which plugins load: every entry point, or only those an allow-list names (``--plugin NAME``,
``$AEBENCH_PLUGINS=a,b``), less those a deny-list names (``--disable-plugin NAME``,
``$AEBENCH_DISABLE_PLUGINS=a,b``). A list names entry points (``pca``) or distributions
(``aebench``, ``aebench-linear``): a distribution stands for every entry point it declares.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

import pluggy

from aebench import hookspecs
from aebench.errors import PluginError
from aebench.registry.entries import Origin, Registry

GROUP = "aebench"
DISABLE_ENV = "AEBENCH_DISABLE_PLUGINS"
ALLOW_ENV = "AEBENCH_PLUGINS"


def _names(raw: str) -> set[str]:
    return {p.strip() for p in raw.split(",") if p.strip()}


def disabled_from_env() -> set[str]:
    """The deny-list in ``$AEBENCH_DISABLE_PLUGINS`` (comma-separated names)."""
    return _names(os.environ.get(DISABLE_ENV, ""))


def allowed_from_env() -> set[str] | None:
    """The allow-list in ``$AEBENCH_PLUGINS`` (comma-separated names); None when unset."""
    raw = os.environ.get(ALLOW_ENV)
    return _names(raw) if raw is not None and raw.strip() else None


def make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _origin(ep: EntryPoint) -> Origin:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "unknown"
    version = dist.version if dist is not None else "?"
    return Origin(plugin=ep.name, dist=name, version=version)


def _named(names: set[str], ep: EntryPoint) -> bool:
    if not names:
        return False
    dist = getattr(ep, "dist", None)
    return ep.name in names or (dist is not None and dist.metadata["Name"] in names)


def load_registry(
    disabled: Iterable[str] = (),
    extra_plugins: Iterable[tuple[str, object]] = (),
    allowed: Iterable[str] | None = None,
) -> Registry:
    """Discover, load and register the plugins: those in ``allowed`` (else in $AEBENCH_PLUGINS,
    else every one), less those in ``disabled`` and $AEBENCH_DISABLE_PLUGINS.

    Both lists name entry points or distributions. ``extra_plugins`` are (name,
    module-or-object) pairs registered as if from entry points (the deny-list applies to them,
    the allow-list does not); tests use it to add a plugin without installing a package.
    """
    blocked = set(disabled) | disabled_from_env()
    only = set(allowed) if allowed is not None else allowed_from_env()
    pm = make_manager()
    registry = Registry()
    origins: dict[str, Origin] = {}

    seen: set[str] = set()
    installed = sorted(entry_points(group=GROUP), key=lambda e: e.name)
    if only is not None:
        unknown = sorted(n for n in only if not any(_named({n}, ep) for ep in installed))
        if unknown:
            names = ", ".join(dict.fromkeys(ep.name for ep in installed)) or "none"
            raise PluginError(
                f"--plugin / AEBENCH_PLUGINS names {', '.join(map(repr, unknown))}, which no "
                f"installed plugin is (entry point or distribution); installed: {names}"
            )
    for ep in installed:
        if ep.name in seen or _named(blocked, ep) or (only is not None and not _named(only, ep)):
            continue
        seen.add(ep.name)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except (Exception, SystemExit) as exc:  # a broken plugin must not take the others down
            registry.broken.append((ep.name, _one_line(exc)))
            continue
        origins[ep.name] = _origin(ep)
    for name, plugin in extra_plugins:
        if name in blocked:
            continue
        pm.register(plugin, name=name)
        origins[name] = Origin(plugin=name, dist=name, version="local")

    registry.plugins = dict(origins)
    registry.hooks = pm.hook
    _call_each(pm, "aebench_register_datasets", registry, origins, registry.dataset_registrar)
    _call_each(pm, "aebench_register_models", registry, origins, registry.model_registrar)
    return registry


def _call_each(pm, hook_name, registry, origins, make_register) -> None:
    """Call a register hook plugin by plugin, so each registration knows where it came from."""
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):  # registration order
        origin = origins[impl.plugin_name]
        kwargs = {"register": make_register(origin)}
        try:
            impl.function(**{a: kwargs[a] for a in impl.argnames})
        except (Exception, SystemExit) as exc:
            registry.broken.append((impl.plugin_name, _one_line(exc)))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
