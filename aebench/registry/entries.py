"""What plugins register: models, data sets and the protocols data sets define."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.errors import DuplicateError, PluginError, ProtocolError
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
        """The flags that hold for ``config`` (:meth:`aebench.Model.capabilities_for`)."""
        per_config = getattr(self.factory, "capabilities_for", None)
        return per_config(config) if per_config is not None else self.capabilities

    def learning_rate(self, config: Any) -> float | None:
        """The learning rate ``config`` sets (:meth:`aebench.Model.learning_rate`); None: the
        protocol's. A factory that is no :class:`aebench.Model` is read by the default field."""
        own = getattr(self.factory, "learning_rate", None)
        if own is not None:
            return own(config)
        return getattr(config, "lr", None)

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
            try:  # the config's own checks (__post_init__) refuse a value: name it, one line
                cfg = dataclasses.replace(cfg, **overrides)
            except (ValueError, TypeError) as exc:
                given = ", ".join(f"{self.name}.{k}={v!r}" for k, v in sorted(overrides.items()))
                raise PluginError(
                    f"model {self.name!r} refuses {given}: {exc} (see `aebench list` and the "
                    "model's docstring for its config)"
                ) from None
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
        # a family name without a version means its first registered (newest) version only
        members = tuple(p for p in members if p.family == members[0].family)
        return members or (self.protocol(key),)


@dataclass
class Clash:
    """A name that more than one plugin registered (a model, a data set or a protocol).

    None of them gets it: the name is left out of the registry, so every command that does not
    need it runs, and one that does fails with this clash's one line, naming the packages and
    the fix.
    """

    what: str
    name: str
    origins: list[Origin]

    def __str__(self) -> str:
        times = "twice" if len(self.origins) == 2 else f"{len(self.origins)} times"
        by = " and by ".join(str(o) for o in self.origins)
        flags = " or ".join(f"--disable-plugin {o.plugin}" for o in self.origins)
        return (
            f"{self.what} {self.name!r} is registered {times}: by {by}; uninstall one or disable "
            f"it with {flags} (or $AEBENCH_DISABLE_PLUGINS)"
        )


@dataclass
class Registry:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    #: (plugin name, one-line error) for every plugin that failed to load or register.
    broken: list[tuple[str, str]] = field(default_factory=list)
    #: every loaded plugin: name -> Origin
    plugins: dict[str, Origin] = field(default_factory=dict)
    #: every name more than one plugin registered, in the order found; none of them has it
    clashes: list[Clash] = field(default_factory=list)
    #: the loaded plugins' hooks beyond registration (``pluggy``'s hook relay; None: none
    #: loaded), e.g. ``hooks.aebench_run_recorded`` that the suite calls per record written
    hooks: Any = field(default=None, repr=False)
    #: (what, name) -> its clash, for "model", "data set" and "protocol" (names and keys)
    _contested: dict[tuple[str, str], Clash] = field(default_factory=dict, repr=False)
    #: protocol key -> who defined it first, for the protocols of contested data sets
    _defined_by: dict[str, Origin] = field(default_factory=dict, repr=False)

    def contested(self, what: str, name: str) -> Clash | None:
        """The clash over ``name`` (a model, data set or protocol name or key), if any."""
        return self._contested.get((what, name.partition("~")[0]))

    def _refuse_contested(self, what: str, name: str) -> None:
        clash = self.contested(what, name)
        if clash is not None:
            raise DuplicateError(str(clash))

    def model(self, name: str) -> ModelEntry:
        self._refuse_contested("model", name)
        if name not in self.models:
            raise PluginError(
                f"unknown model {name!r}; available: {', '.join(sorted(self.models)) or 'none'} "
                "(see `aebench list`)"
            )
        return self.models[name]

    def dataset(self, name: str) -> DatasetEntry:
        self._refuse_contested("data set", name)
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
        lost = [c for c in self.clashes if c.what == "data set"]
        if not defaults and lost:  # the default may be the one two plugins registered
            raise DuplicateError(str(lost[0]))
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
        self._refuse_contested("protocol", asked)
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
        self._refuse_contested("protocol", asked)
        protos = [r.get("protocol") or {} for r in records]
        stored = sorted(
            {(p.get("name"), p["key"], p.get("version") or 0) for p in protos if p.get("key")},
            key=lambda t: -t[2],
        )
        known = [(p.name, p.key) for _, p in self.protocols()] + [(n, k) for n, k, _ in stored]
        # a family's board (``mnist-oneclass-v1``, its members' common key) is a group too
        families = [getattr(p, "family", "") for _, p in self.protocols()]
        families += [p.get("family") or "" for p in protos]
        for family in dict.fromkeys(f for f in families if f):
            base, _, version = family.rpartition("-v")
            if base and version.isdigit():
                known.append((base, family))
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
            if self._clash("model", name, origin, self.models):
                return
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
            protos = tuple(protocols)
            if not protos:
                raise PluginError(f"data set {name!r} from {origin} registers no protocol")
            for p in protos:
                _check_protocol(name, origin, p)
            keys = [p.key for p in protos]
            for key in {k for k in keys if keys.count(k) > 1}:
                raise PluginError(f"data set {name!r} from {origin} defines protocol {key!r} twice")
            entry = DatasetEntry(
                name, factory, protos, description or _doc(factory), default, origin, from_files
            )
            # protocol keys another data set defines first, then the data set's own name
            entry.protocols = self._protocol_clashes(entry)
            if self._clash("data set", name, origin, self.datasets, entry.protocols):
                return
            if entry.protocols:
                self.datasets[name] = entry

        return register

    def _clash(
        self,
        what: str,
        name: str,
        origin: Origin,
        entries: dict[str, Any],
        protocols: Iterable[Protocol] = (),
    ) -> bool:
        """Whether ``name`` is taken already; if so, no one keeps it (and, for a data set, its
        protocols)."""
        clash = self._contested.get((what, name))
        if clash is None and name not in entries:
            return False
        if clash is None:
            first = entries.pop(name)
            clash = Clash(what, name, [first.origin])
            self.clashes.append(clash)
            self._contest(what, name, clash)
            self._contest_protocols(getattr(first, "protocols", ()), clash, first.origin)
        clash.origins.append(origin)
        self._contest_protocols(protocols, clash, origin)
        return True

    def _protocol_clashes(self, entry: DatasetEntry) -> tuple[Protocol, ...]:
        """``entry``'s protocols less those a data set of another name defines already: both
        lose them, and a data set left with none is contested as a whole. A protocol's bare
        name is contested where it meant the lost protocol; otherwise it keeps its meaning.
        (Protocols a data set of the same name defines are that data set's clash.)"""
        kept = []
        for p in entry.protocols:
            clash = self._contested.get(("protocol", p.key))
            if clash is not None and clash.what == "data set" and clash.name == entry.name:
                clash = None
            holder = next(
                (
                    d
                    for d in self.datasets.values()
                    if d.name != entry.name and any(q.key == p.key for q in d.protocols)
                ),
                None,
            )
            if clash is None and holder is None:
                kept.append(p)
                continue
            if clash is None or clash.what != "protocol":  # a first clash over this key
                first = holder.origin if holder is not None else self._defined_by[p.key]
                clash = Clash("protocol", p.key, [first])
                self.clashes.append(clash)
            if holder is not None:
                named = [q.key for q in holder.protocols if q.name == p.name]
                if named[0] == p.key:  # ``-p NAME`` meant the lost protocol
                    self._contest("protocol", p.name, clash)
                holder.protocols = tuple(q for q in holder.protocols if q.key != p.key)
                if not holder.protocols:
                    del self.datasets[holder.name]
                    self._contest("data set", holder.name, clash)
            if entry.origin not in clash.origins:
                clash.origins.append(entry.origin)
            self._contested["protocol", p.key] = clash
        if not kept:  # every protocol is contested, the last one's clash among them
            self._contest("data set", entry.name, clash)
        return tuple(kept)

    def _contest(self, what: str, name: str, clash: Clash) -> None:
        self._contested.setdefault((what, name), clash)

    def _contest_protocols(self, protocols: Iterable[Protocol], clash: Clash, by: Origin) -> None:
        for p in protocols:
            self._defined_by.setdefault(p.key, by)
            names = (p.key, p.name, p.family, p.family.rsplit("-v", 1)[0]) if p.family else ()
            for name in names or (p.key, p.name):
                self._contest("protocol", name, clash)


def _check_protocol(name: str, origin: Origin, p: Any) -> None:
    """A registered protocol is a valid :class:`Protocol` (one line naming plugin and field)."""
    if not isinstance(p, Protocol):
        raise PluginError(f"data set {name!r} from {origin}: {p!r} is not an aebench.Protocol")
    try:
        p.check()
    except ProtocolError as exc:
        raise PluginError(f"data set {name!r} from {origin}: {exc}") from None


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


def _doc(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""
