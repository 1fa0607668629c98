"""``aebench list``: what is installed, as Rich tables: models, reference rows and data sets
with their protocols (from the registry only; nothing is loaded or run)."""

from __future__ import annotations

import argparse
from typing import Any

from aebench.cli import common

__all__ = ["add_parser", "run", "tables"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="models, data sets and protocols from installed plugins")
    common.common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = common.wide_console()
    for table in tables(common.load_plugins(args)):
        out.print(table)
    return 0


def tables(registry: Any) -> list[Any]:
    from rich.table import Table

    out = []
    entries = sorted(registry.models.values(), key=lambda m: m.name)
    for title, group in (
        ("models", [m for m in entries if "reference" not in m.tags]),
        ("reference rows (not autoencoders)", [m for m in entries if "reference" in m.tags]),
    ):
        t = Table(title=title, title_justify="left")
        for h in (
            "name",
            "plugin",
            "distribution",
            "inputs",
            "tasks",
            "likelihood",
            "tags",
            "description",
        ):
            t.add_column(h)
        for m in group:
            caps = m.capabilities
            like = caps.likelihood + (" (Bernoulli)" if caps.binary else "")
            t.add_row(
                m.name,
                m.origin.plugin,
                f"{m.origin.dist} {m.origin.version}",
                ", ".join(caps.inputs),
                ", ".join(caps.tasks),
                like,
                ", ".join(m.tags),
                m.description,
            )
        out.append(t)
    t = Table(title="data sets", title_justify="left")
    for h in ("name", "plugin", "distribution", "protocols", "task", "default", "description"):
        t.add_column(h)
    for d in sorted(registry.datasets.values(), key=lambda d: d.name):
        t.add_row(
            d.name,
            d.origin.plugin,
            f"{d.origin.dist} {d.origin.version}",
            "\n".join(p.key for p in d.protocols),
            "\n".join(p.task for p in d.protocols),
            "yes" if d.default else "",
            d.description,
        )
    out.append(t)
    if registry.clashes:  # names no plugin has until all but one of their plugins are disabled
        t = Table(
            title="names registered twice (unusable until one plugin is disabled)",
            title_justify="left",
        )
        for h in ("kind", "name", "registered by"):
            t.add_column(h)
        for clash in registry.clashes:
            t.add_row(clash.what, clash.name, "\n".join(str(o) for o in clash.origins))
        out.append(t)
    return out
