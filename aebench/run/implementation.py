"""Implementation fingerprints: which code and which config made a record.

A protocol fixes what every model is run under; it says nothing about the model itself. When a
model's code or its config defaults change, its old records no longer describe what today's
code computes. Every record therefore carries the fingerprint of the model's implementation:

- ``code``: a hash of the source of the module that defines the model's factory, and of every
  module of the same top-level package (the plugin's own code) or of ``aebench.nn`` (layers the
  harness lends to plugins) that it draws names from, recursively. The source is parsed and
  written back without docstrings and comments (``ast``), so editing prose does not make
  results stale, while any change to code does;
- ``config``: a hash of the config the run used, with every default filled in.

Harness code that changes numerics (the training loop, metrics, the data) is governed by the
protocol instead: such a change is a protocol field or a new protocol version, never silent.

``staleness`` compares a stored record with what the installed plugins would run today; the
suite reruns a stale record (keeping the old one aside), and boards mark stale rows.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import inspect
import json
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["checker", "code_fingerprint", "fingerprint", "staleness"]

#: harness modules whose code is part of a model's implementation (building blocks for plugins)
_SHARED_MODEL_CODE = ("aebench.nn",)


def _sha(blob: str) -> str:
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_source(source: str) -> str:
    """The code of ``source`` without comments, docstrings or layout (``ast`` round trip)."""
    return ast.unparse(_strip_docstrings(ast.parse(source)))


def _related_modules(module: types.ModuleType) -> list[types.ModuleType]:
    """``module`` and the modules of its own package (and shared layers) it takes names from."""
    top = module.__name__.split(".")[0]
    seen: dict[str, types.ModuleType] = {}
    todo = [module]
    while todo:
        mod = todo.pop()
        if mod.__name__ in seen:
            continue
        seen[mod.__name__] = mod
        for value in vars(mod).values():
            name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
            if not isinstance(name, str):
                continue
            if name.split(".")[0] == top or name in _SHARED_MODEL_CODE:
                dep = sys.modules.get(name)
                if dep is not None and dep.__name__ not in seen:
                    todo.append(dep)
    return [seen[k] for k in sorted(seen)]


@functools.cache
def _module_code(name: str) -> str:
    module = sys.modules[name]
    try:
        return normalised_source(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        # no source (a compiled module): its distribution's version stands in for it
        return f"<no source: {name} {getattr(module, '__version__', '?')}>"


def code_fingerprint(factory: Any) -> dict[str, Any]:
    """{"sha": hash of the model's code, "modules": the modules it covers}."""
    module = inspect.getmodule(factory)
    if module is None:
        return {"sha": _sha(repr(factory)), "modules": []}
    mods = _related_modules(module)
    blob = "\n".join(f"# {m.__name__}\n{_module_code(m.__name__)}" for m in mods)
    return {"sha": _sha(blob), "modules": [m.__name__ for m in mods]}


def _config_json(config: Any) -> str:
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return json.dumps(config, sort_keys=True, default=str)


def fingerprint(entry: Any, config: Any) -> dict[str, Any]:
    """The implementation of ``entry`` (a registry ModelEntry) run with ``config``."""
    code = code_fingerprint(entry.factory)
    config_sha = _sha(_config_json(config))
    return {
        "fingerprint": _sha(f"{code['sha']}:{config_sha}"),
        "code": code["sha"],
        "config": config_sha,
        "modules": code["modules"],
    }


def staleness(record: dict[str, Any], registry: Any) -> str | None:
    """Why ``record`` is not what today's installed model computes, or None if it is."""
    model = record.get("model") or {}
    name = model.get("name")
    if name not in registry.models:
        return f"model {name!r} is not installed here, so its implementation cannot be checked"
    stored = model.get("implementation")
    if not isinstance(stored, dict) or "fingerprint" not in stored:
        return "made before records carried an implementation fingerprint"
    entry = registry.models[name]
    try:
        config = entry.make_config(dict(model.get("overrides") or {}))
    except Exception as exc:  # a field that no longer exists, say
        return f"its config no longer applies ({exc})"
    today = fingerprint(entry, config)
    if stored["fingerprint"] == today["fingerprint"]:
        return None
    what = []
    if stored.get("code") != today["code"]:
        what.append(f"code {stored.get('code')} → {today['code']}")
    if stored.get("config") != today["config"]:
        what.append(f"config {stored.get('config')} → {today['config']}")
    return f"made by another implementation ({', '.join(what) or stored['fingerprint']})"


def checker(registry: Any) -> Callable[[dict[str, Any]], str | None]:
    """``staleness`` against ``registry``, remembered per model, config and stored fingerprint
    (a board asks once per record). A model not installed here cannot be checked: its rows
    are not called stale (another user's plugin, merged from their results directory)."""
    memo: dict[str, str | None] = {}

    def check(record: dict[str, Any]) -> str | None:
        model = record.get("model") or {}
        key = json.dumps(
            [model.get("name"), model.get("overrides"), model.get("implementation")],
            sort_keys=True,
            default=str,
        )
        if key not in memo:
            installed = model.get("name") in registry.models
            memo[key] = staleness(record, registry) if installed else None
        return memo[key]

    return check
