"""What plugins register: models, data sets and the protocols data sets define."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.errors import DuplicateError, PluginError
from aebench.protocol import Protocol, resolve_key


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
    #: ``from_files(path, options) -> Protocol`` for a data set that reads a user's files
    from_files: Callable[[Path, dict[str, str]], Protocol] | None = None

    def protocol(self, key: str | None = None) -> Protocol:
        """The protocol called ``key`` (``name`` or ``name-vN``); the first one by default."""
        if key is None:
            return self.protocols[0]
        for p in self.protocols:
            if key in (p.name, p.key):
                return p
        known = ", ".join(p.key for p in self.protocols)
        raise PluginError(f"data set {self.name!r} has no protocol {key!r}; known: {known}")

    def protocols_for(self, key: str | None = None) -> tuple[Protocol, ...]:
        """Every member of the family called ``key`` (``name`` or ``name-vN``), else the one
        protocol :meth:`protocol` finds."""
        members = tuple(p for p in self.protocols if key and _in_family(key, p))
        return members or (self.protocol(key),)


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
                f"{', '.join(sorted(self.datasets)) or 'none'} (see `aebench list`), or a path "
                "to files of your own"
            )
        return self.datasets[name]

    def resolve(
        self, datasets: list[str] | None, protocol: str | None, options: list[str] | None
    ) -> tuple[list[str] | None, str | None]:
        """``-d`` values and ``-p`` as a plan takes them: data-set names pass through; a path
        becomes the data set that reads files and the protocol it derives for ``options``
        (``KEY=VALUE`` strings), which joins the entry's protocols so a plan finds it."""
        paths, options = [d for d in datasets or () if d not in self.datasets], options or []
        if not paths and not options:
            return datasets, protocol
        if len(datasets or ()) != 1 or protocol or not paths:
            raise PluginError(
                "--data-option and -d PATH take one path and no -p: the files' protocol is "
                "derived from them and the options"
            )
        readers = [d for d in self.datasets.values() if d.from_files is not None]
        if not readers or not _looks_like_path(paths[0]):
            self.dataset(paths[0])  # a mistyped name, say: the unknown-name error
        parsed: dict[str, str] = {}
        for item in options:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise PluginError(f"--data-option {item!r}: expected KEY=VALUE, e.g. scaling=none")
            parsed[key.strip()] = value.strip()
        entry = readers[0]
        derived = entry.from_files(Path(paths[0]), parsed)
        if all(p.key != derived.key for p in entry.protocols):
            entry.protocols = (*entry.protocols, derived)
        return [entry.name], derived.key

    def default_dataset(self) -> DatasetEntry:
        defaults = [d for d in self.datasets.values() if d.default]
        if not defaults:
            raise PluginError("no data set is marked default; pass --dataset NAME")
        return defaults[0]

    def protocols(self) -> Iterable[tuple[DatasetEntry, Protocol]]:
        for d in self.datasets.values():
            for p in d.protocols:
                yield d, p

    def resolve_protocol(
        self, asked: str, variant: bool = True
    ) -> tuple[DatasetEntry, Protocol, str]:
        """(data set, protocol, "~fingerprint" or "") for ``-p asked``; see ``resolve_key``.

        Without ``variant`` a variant's name is refused: it is made by overrides, not named.
        """
        key = resolve_key(asked, ((p.name, p.key) for _, p in self.protocols()))
        base, tilde, fingerprint = key.partition("~")
        d, p = next((d, p) for d, p in self.protocols() if p.key == base)
        if tilde and not variant:
            raise PluginError(
                f"protocol {asked!r} is a variant: run {base} with the same overrides "
                "(--budget, --precision) instead"
            )
        return d, p, tilde + fingerprint

    def resolve_group(self, asked: str, records: Iterable[dict[str, Any]] = ()) -> str:
        """The record group ``-p asked`` names among the installed protocols, then among the
        protocols of ``records`` (whose plugin may be gone), newest version first."""
        protos = [r.get("protocol") or {} for r in records]
        stored = sorted(
            {(p.get("name"), p["key"], p.get("version") or 0) for p in protos if p.get("key")},
            key=lambda t: -t[2],
        )
        known = [(p.name, p.key) for _, p in self.protocols()] + [(n, k) for n, k, _ in stored]
        return resolve_key(asked, known)

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
            from_files: Callable[[Path, dict[str, str]], Protocol] | None = None,
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
                name, factory, protos, description or _doc(factory), default, origin, from_files
            )

        return register


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or bool(Path(value).suffix) or Path(value).exists()


def names_protocol(key: str, p: Protocol) -> bool:
    """Whether ``key`` names ``p`` (``name`` or ``name-vN``) or its family."""
    return key in (p.name, p.key) or _in_family(key, p)


def _in_family(key: str, p: Protocol) -> bool:
    return bool(p.family) and key in (p.family, p.family.rsplit("-v", 1)[0])


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
