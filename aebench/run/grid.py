"""The grid: model × data set × seed run requests, and the group each one is recorded in.

``plan`` validates every name up front (an unknown model, data set or config field fails
before any training) and gives each request its group: the protocol's key for a default run,
a variant key when protocol fields or the model's config are overridden.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aebench.protocol import Protocol
from aebench.records import storage
from aebench.registry.entries import Registry, names_protocol

__all__ = ["RunRequest", "plan", "variant_group", "variant_record"]


@dataclass(frozen=True)
class RunRequest:
    model: str
    dataset: str
    protocol: Protocol
    seed: int
    #: ``name-vN``, or ``name-vN~<fingerprint>`` for a variant (protocol fields or the
    #: model's config overridden)
    group: str
    config_overrides: tuple[tuple[str, Any], ...] = ()
    #: the protocol fields this request overrides (a variant's record says which)
    protocol_overrides: tuple[tuple[str, Any], ...] = ()
    #: "test" (a board's run), or "validation": a tuning trial, whose data has no test split
    evaluate: str = "test"
    #: what the record says of how its configuration was chosen (``aebench.tuning``)
    tuning: tuple[tuple[str, Any], ...] = ()
    #: keep the trained model (``--save-models``): its state is stored beside the record
    save_model: bool = False

    @property
    def label(self) -> str:
        return f"{self.model} on {self.dataset} ({self.group}, seed {self.seed})"

    def path(self, results_dir: Path) -> Path:
        return storage.record_path(results_dir, self.group, self.dataset, self.model, self.seed)


def plan(
    registry: Registry,
    models: Iterable[str] | None,
    datasets: Iterable[str] | None,
    protocol: str | None = None,
    seeds: Iterable[int] | None = None,
    protocol_overrides: dict[str, Any] | None = None,
    config_overrides: dict[str, dict[str, Any]] | None = None,
) -> list[RunRequest]:
    """The grid model × data set × seed, validated up front (unknown names fail here)."""
    if protocol:  # the resolver every command uses: name or name-vN
        family = [d for d, p in registry.protocols() if names_protocol(protocol, p)][:1]
        named = family[0] if family else registry.resolve_protocol(protocol, variant=False)[0]
    if datasets:
        dsets = [registry.dataset(d) for d in datasets]
    elif protocol:  # a protocol (or a family of them) names its data set
        dsets = [named]
    else:
        dsets = [registry.default_dataset()]
    mods = [registry.model(m) for m in models] if models else list(registry.models.values())
    config_overrides = config_overrides or {}
    for name in config_overrides:
        registry.model(name).make_config(config_overrides[name])  # validate early
    requests = []
    pov = tuple(sorted((protocol_overrides or {}).items()))
    for d, base in ((e, b) for e in dsets for b in e.protocols_for(protocol)):
        proto = base.with_overrides(**protocol_overrides) if protocol_overrides else base
        # unasked, a detector is left out of protocols it takes no part in (asked: n/a row)
        chosen = mods if models else [m for m in mods if proto.task in m.capabilities.tasks]
        for seed in seeds if seeds is not None else proto.seeds:
            for m in chosen:
                ov = tuple(sorted(config_overrides.get(m.name, {}).items()))
                group = variant_group(base, proto, m.name, ov)
                requests.append(RunRequest(m.name, d.name, proto, int(seed), group, ov, pov))
    return requests


def variant_group(base: Protocol, proto: Protocol, model: str, config_ov: tuple) -> str:
    """The group a run is recorded and shown in: the protocol's key for a default run; a
    variant key for changed protocol fields (as published before) or a changed model config
    (its own group, so it never hides or replaces the default run's record)."""
    if not config_ov:
        return base.key if proto == base else f"{base.key}~{proto.fingerprint()}"
    blob = json.dumps(
        {"protocol": proto.fingerprint(), "model": model, "config": list(config_ov)},
        sort_keys=True,
        default=str,
    )
    return f"{base.key}~{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def variant_record(req: RunRequest) -> dict[str, Any]:
    return {
        "variant": {
            "of": req.protocol.key,
            "protocol_overrides": dict(req.protocol_overrides),
            "config_overrides": {req.model: dict(req.config_overrides)}
            if req.config_overrides
            else {},
        }
    }
