"""Run files: ``aebench run --config FILE`` reads a TOML file, ``--print-config`` writes one.

A run file holds what the command line would: its keys are ``aebench run``'s long options
(``model``, ``dataset``, ``protocol``, ``seeds``, ``budget``, ``results-dir``, ``jobs``, ...;
a dash or an underscore alike), read with Python's ``tomllib``. Repeatable options take a list
(``model = ["pca", "mean"]``), ``seeds`` a list of integers, switches ``true``/``false``, and
the three ``KEY=VALUE`` options a table::

    model = ["pca", "mean"]
    seeds = [0, 1]
    budget = 2000
    results-dir = "runs"

    [set.pca]              # --set pca.whiten=True
    whiten = true

    [protocol-set]         # --protocol-set val_curve_points=10
    val_curve_points = 10

An option given on the command line wins over the file. The keys come from the command's own
parser, so a new option is a new key with nothing to add here. A file that is not TOML, a key
that is no option, or a value of the wrong type is one line naming the file, the key and the
fix (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import tomllib

from aebench.errors import AebenchError

__all__ = ["apply", "render"]

#: options that are no part of a run's description
_NOT_KEYS = {"help", "config", "print_config", "debug", "func", "run_parser"}
#: ``--NAME KEY=VALUE`` options, written as a TOML table
_TABLES = ("set", "protocol_set", "data_option")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> action for every option a run file may set."""
    return {
        a.dest: a
        for a in parser._actions  # argparse keeps no public list of a parser's options
        if a.option_strings and a.dest not in _NOT_KEYS
    }


def _name(action: argparse.Action) -> str:
    return max(action.option_strings, key=len).lstrip("-")


def apply(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str) -> None:
    """Fill ``args`` from the run file ``path`` wherever the command line left the default."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AebenchError(
            f"--config {file}: no such file; give the path of a TOML run file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AebenchError(f"--config {file}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AebenchError(
            f"--config {file}: not valid TOML ({exc}); fix that line "
            '(e.g. strings in quotes: model = ["pca"])'
        ) from None
    options = _options(parser)
    for key, value in data.items():
        dest = key.replace("-", "_")
        action = options.get(dest)
        if action is None:
            known = ", ".join(sorted(_name(a) for a in options.values()))
            raise AebenchError(
                f"--config {file}: unknown key {key!r}; a run file's keys are aebench run's "
                f"options: {known}"
            )
        if getattr(args, dest) != action.default:
            continue  # the command line wins
        setattr(args, dest, _value(file, key, dest, action, value))


def _wrong(file: Path, key: str, want: str) -> AebenchError:
    return AebenchError(f"--config {file}: key {key!r} takes {want}")


def _value(file: Path, key: str, dest: str, action: argparse.Action, value: Any) -> Any:
    if dest in _TABLES:
        return _table_items(file, key, dest, value)
    if dest == "seeds":
        ok = isinstance(value, list) and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
        )
        if not ok:
            raise _wrong(file, key, "a list of non-negative integers, e.g. seeds = [0, 1, 2]")
        return ",".join(str(s) for s in value)
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise _wrong(file, key, f"true or false, e.g. {key} = true")
        return value
    if isinstance(action, argparse._AppendAction):
        if isinstance(value, str):
            value = [value]
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _wrong(file, key, f'a list of strings, e.g. {key} = ["a", "b"]')
        return value
    kind = action.type or str
    if not isinstance(kind, type):  # a converter: it reads the text the flag would get
        if isinstance(value, (dict, list, bool)):
            raise _wrong(file, key, f"a value as --{_name(action)} takes it")
        try:
            return kind(str(value))
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            raise _wrong(file, key, f"a value as --{_name(action)} takes it ({exc})") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        want, example = {int: ("an integer", "2"), float: ("a number", "60.0")}.get(
            kind, ("a string", '"text"')
        )
        raise _wrong(file, key, f"{want}, e.g. {key} = {example}")
    if action.choices is not None and value not in action.choices:
        raise _wrong(file, key, f"one of {', '.join(map(str, action.choices))}")
    return value


def _table_items(file: Path, key: str, dest: str, value: Any) -> list[str]:
    """A ``[set]`` / ``[protocol-set]`` / ``[data-option]`` table as the flags' KEY=VALUE."""
    if not isinstance(value, dict):
        raise _wrong(file, key, f"a table, e.g. [{key}] on a line of its own, then field = value")
    if dest == "set":
        items = []
        for model, fields in value.items():
            if not isinstance(fields, dict):
                raise _wrong(file, f"{key}.{model}", "a table of config fields, e.g. [set.pca]")
            items += [f"{model}.{f}={v!r}" for f, v in fields.items()]
        return items
    if dest == "data_option":
        return [f"{k}={v}" for k, v in value.items()]
    return [f"{k}={v!r}" for k, v in value.items()]


def render(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The run file for ``args``: every option not at its default, as TOML."""
    lines = ["# aebench run --config FILE: a run file (written by aebench run --print-config)"]
    tables: list[str] = []
    for dest, action in _options(parser).items():
        value = getattr(args, dest, action.default)
        if value == action.default or value is None:
            continue
        name = _name(action)
        if dest == "set":
            models: dict[str, list[str]] = {}
            for item in value:  # MODEL.FIELD=VALUE, checked by the run that reads it
                key, _, raw = item.partition("=")
                model, _, field = key.partition(".")
                models.setdefault(model, []).append(f"{_key(field)} = {_toml(_literal(raw))}")
            for model, fields in models.items():
                tables += ["", f"[set.{_key(model)}]", *fields]
        elif dest in _TABLES:
            tables += ["", f"[{name}]"]
            for item in value:
                k, _, raw = item.partition("=")
                tables.append(
                    f"{_key(k)} = {_toml(_literal(raw) if dest != 'data_option' else raw)}"
                )
        elif dest == "seeds":
            lines.append(f"seeds = [{', '.join(s.strip() for s in value.split(',') if s.strip())}]")
        elif isinstance(action, argparse._AppendAction):
            items = [v.strip() for item in value for v in item.split(",") if v.strip()]
            lines.append(f"{name} = {_toml(items)}")
        else:
            lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines + tables) + "\n"


def _literal(raw: str) -> Any:
    import ast

    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum()
    return name if bare else _toml(name)


def _toml(value: Any) -> str:
    """A TOML value (strings, numbers, booleans, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise AebenchError(f"--print-config: cannot write {value!r} as TOML; write that key by hand")
