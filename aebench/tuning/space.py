"""Search spaces: what a model plugin declares beside its config dataclass.

A model takes part in tuning by passing ``search_space={field: Float(...) | Int(...) |
Choice(...)}`` to ``register``; each key is a field of its config dataclass. Nothing here
imports Optuna: a plugin declares its space without it, and only ``aebench tune`` needs it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from aebench.errors import PluginError

__all__ = ["Choice", "Float", "Int", "Param", "check_space", "describe"]


class Param:
    """One field's range; ``distribution()`` is its Optuna distribution, ``value()`` maps a
    sampled value back to what the config field holds."""

    def distribution(self) -> Any:
        raise NotImplementedError

    def value(self, sampled: Any) -> Any:
        return sampled

    def fits(self, hint: Any) -> bool:
        """Whether every value of this range is of the field's declared type ``hint``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Float(Param):
    """A real number in [lo, hi]; ``log=True`` samples its logarithm uniformly."""

    lo: float
    hi: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_range(self, self.lo, self.hi, self.log)

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(float(self.lo), float(self.hi), log=self.log)

    def fits(self, hint: Any) -> bool:
        return float in _types(hint)

    def __str__(self) -> str:
        return f"{self.lo:g}..{self.hi:g}{' (log)' if self.log else ''}"


@dataclass(frozen=True)
class Int(Param):
    """An integer in [lo, hi]; ``log=True`` samples its logarithm uniformly."""

    lo: int
    hi: int
    log: bool = False

    def __post_init__(self) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.lo, self.hi)):
            raise ValueError(f"Int({self.lo!r}, {self.hi!r}): bounds must be integers")
        _check_range(self, self.lo, self.hi, self.log)

    def distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.lo, self.hi, log=self.log)

    def fits(self, hint: Any) -> bool:
        return int in _types(hint)

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}{' (log)' if self.log else ''} (integers)"


class Choice(Param):
    """One of a few values (strings, numbers, booleans, None or tuples of them)."""

    def __init__(self, *options: Any) -> None:
        if not options:
            raise ValueError("Choice() needs at least one option")
        if len(set(map(repr, options))) != len(options):
            raise ValueError(f"Choice{options!r}: options repeat")
        self.options = tuple(options)

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        # Optuna's store holds str/int/float/bool/None; a tuple option is stored by its repr
        return CategoricalDistribution([self._label(o) for o in self.options])

    def value(self, sampled: Any) -> Any:
        return next(o for o in self.options if self._label(o) == sampled)

    @staticmethod
    def _label(option: Any) -> Any:
        return repr(option) if isinstance(option, (tuple, list)) else option

    def fits(self, hint: Any) -> bool:
        return all(_is_instance(o, hint) for o in self.options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and other.options == self.options

    def __hash__(self) -> int:
        return hash(self.options)

    def __repr__(self) -> str:
        return f"Choice{self.options!r}"

    def __str__(self) -> str:
        return " | ".join(map(repr, self.options))


def _check_range(p: Param, lo: float, hi: float, log: bool) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{p!r}: needs finite bounds with lo < hi")
    if log and lo <= 0:
        raise ValueError(f"{p!r}: a log scale needs lo > 0")


def _types(hint: Any) -> set[type]:
    """The plain types a field hint admits: ``float | None`` -> {float, NoneType}."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_types(a) for a in typing.get_args(hint)))
    if hint is None:
        return {type(None)}
    if hint is typing.Any:
        return {object}
    return {origin or hint} if isinstance(origin or hint, type) else set()


def _is_instance(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is None or hint is type(None):
        return value is None
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is_instance(v, args[0]) for v in value)
        return not args or (len(args) == len(value) and all(map(_is_instance, value, args)))
    if hint is float:  # an int is a float where a field says float (PEP 484)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def check_space(model: str, config: type | None, space: dict[str, Param] | None) -> None:
    """Raise a one-line PluginError naming ``model`` and the field for any entry of ``space``
    that is not a field of ``config`` or whose values the field's type does not admit."""
    if not space:
        return
    if config is None or not dataclasses.is_dataclass(config):
        raise PluginError(f"model {model!r} declares a search space but no config dataclass")
    hints = typing.get_type_hints(config)
    fields = {f.name for f in dataclasses.fields(config)}
    for name, param in space.items():
        if name not in fields:
            raise PluginError(
                f"model {model!r}: search space names {name!r}, which is not a field of "
                f"{config.__name__} (fields: {', '.join(sorted(fields))})"
            )
        if not isinstance(param, Param):
            raise PluginError(
                f"model {model!r}, field {name!r}: {param!r} is not a Float, Int or Choice "
                "from aebench.tuning"
            )
        if not param.fits(hints[name]):
            raise PluginError(
                f"model {model!r}, field {name!r}: {type(param).__name__} {param} does not "
                f"fit the field's type {_hint_name(hints[name])}; declare a range of that type"
            )


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def describe(space: dict[str, Param] | None) -> dict[str, str]:
    """The space as plain strings (stored with each study and tuned record)."""
    return {name: f"{type(p).__name__} {p}" for name, p in sorted((space or {}).items())}
