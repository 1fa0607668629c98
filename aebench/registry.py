"""What plugins register: models, data sets and the protocols data sets define."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aebench.errors import DuplicateError, PluginError
from aebench.protocol import Protocol


@dataclass(frozen=True)
class Origin:
    """Which plugin (entry-point name) and distribution registered something."""

    plugin: str
    dist: str
    version: str

    def __str__(self) -> str:
        return f"{self.dist} {self.version} (plugin {self.plugin!r})"


@dataclass
class ModelEntry:
    name: str
    factory: Callable[..., Any]
    config: type | None
    description: str
    tags: tuple[str, ...]
    origin: Origin
    #: field -> ``aebench.tuning`` range (Float, Int, Choice); None: tuned over nothing
    search_space: dict[str, Any] | None = None

    @property
    def capabilities(self):
        return getattr(self.factory, "capabilities", None)

    def capabilities_for(self, config: Any):
        """The flags that hold for ``config`` (a factory may define ``capabilities_for``)."""
        per_config = getattr(self.factory, "capabilities_for", None)
        return per_config(config) if per_config is not None else self.capabilities

    def make_config(self, overrides: dict[str, Any] | None = None, tiny: bool = False) -> Any:
        """The model's config dataclass, with defaults (or ``tiny()`` for tests) and overrides."""
        if self.config is None:
            return None
        cfg = self.config.tiny() if tiny and hasattr(self.config, "tiny") else self.config()
        if overrides:
            names = {f.name for f in dataclasses.fields(cfg)}
            unknown = set(overrides) - names
            if unknown:
                raise PluginError(
                    f"model {self.name!r} has no config field(s) {sorted(unknown)}; "
                    f"known: {sorted(names)}"
                )
            cfg = dataclasses.replace(cfg, **overrides)
        return cfg


@dataclass
class DatasetEntry:
    name: str
    factory: Callable[..., Any]
    protocols: tuple[Protocol, ...]
    description: str
    default: bool
    origin: Origin

    def protocol(self, key: str | None = None) -> Protocol:
        """The protocol called ``key`` (``name`` or ``name-vN``); the first one by default."""
        if key is None:
            return self.protocols[0]
        for p in self.protocols:
            if key in (p.name, p.key):
                return p
        known = ", ".join(p.key for p in self.protocols)
        raise PluginError(f"data set {self.name!r} has no protocol {key!r}; known: {known}")


@dataclass
class Registry:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    #: (plugin name, one-line error) for every plugin that failed to load or register.
    broken: list[tuple[str, str]] = field(default_factory=list)
    #: every loaded plugin: name -> Origin
    plugins: dict[str, Origin] = field(default_factory=dict)

    def model(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise PluginError(
                f"unknown model {name!r}; available: {', '.join(sorted(self.models)) or 'none'} "
                "(see `aebench list`)"
            )
        return self.models[name]

    def dataset(self, name: str) -> DatasetEntry:
        if name not in self.datasets:
            raise PluginError(
                f"unknown data set {name!r}; available: "
                f"{', '.join(sorted(self.datasets)) or 'none'} (see `aebench list`)"
            )
        return self.datasets[name]

    def default_dataset(self) -> DatasetEntry:
        defaults = [d for d in self.datasets.values() if d.default]
        if not defaults:
            raise PluginError("no data set is marked default; pass --dataset NAME")
        return defaults[0]

    def protocols(self) -> Iterable[tuple[DatasetEntry, Protocol]]:
        for d in self.datasets.values():
            for p in d.protocols:
                yield d, p

    # -- the register callables handed to plugins ---------------------------------------------
    def model_registrar(self, origin: Origin) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            config: type | None = None,
            description: str = "",
            tags: Iterable[str] = (),
            search_space: dict[str, Any] | None = None,
        ) -> None:
            _check_name("model", name, origin)
            if name in self.models:
                raise DuplicateError(_duplicate("model", name, self.models[name].origin, origin))
            # checked by `aebench tune` (one line naming model and field), not here: a bad
            # range must not take the model's default runs away
            space = dict(search_space) if search_space else None
            self.models[name] = ModelEntry(
                name, factory, config, description or _doc(factory), tuple(tags), origin, space
            )

        return register

    def dataset_registrar(self, origin: Origin) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            protocols: Iterable[Protocol] = (),
            description: str = "",
            default: bool = False,
        ) -> None:
            _check_name("data set", name, origin)
            if name in self.datasets:
                raise DuplicateError(
                    _duplicate("data set", name, self.datasets[name].origin, origin)
                )
            protos = tuple(protocols)
            if not protos:
                raise PluginError(f"data set {name!r} from {origin} registers no protocol")
            for p in protos:
                for _, q in self.protocols():
                    if q.key == p.key:
                        raise DuplicateError(f"protocol {p.key!r} is defined twice ({origin})")
            self.datasets[name] = DatasetEntry(
                name, factory, protos, description or _doc(factory), default, origin
            )

        return register


def _check_name(what: str, name: str, origin: Origin) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise PluginError(f"{what} name {name!r} from {origin} must be letters, digits, - _ .")


def _duplicate(what: str, name: str, first: Origin, second: Origin) -> str:
    return (
        f"{what} {name!r} is registered twice: by {first} and by {second}; "
        f"uninstall one or disable it with --disable-plugin {second.plugin}"
    )


def _doc(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""
