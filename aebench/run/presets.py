"""Named protocol presets a command can ask for by one flag, each a set of protocol overrides.

A preset's runs are a protocol *variant* like any other override (``name-vN~<fingerprint>``,
:func:`aebench.run.grid.variant_group`), so its records never mix with the full protocol's;
its records say what it changed (``variant.protocol_overrides``), and :func:`preset_of` names
the preset those overrides hold, for the boards to mark.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "QUICK", "preset_of"]

#: ``--quick``: a tenth of digits' training budget and evaluation settings small enough that
#: the likelihood estimates (IWAE's k importance samples, AIS's chains, temperatures and
#: repeats) stop dominating a run: a smoke test of the whole pipeline, not a result. The
#: values were picked for wall time on the 2-core development machine, not on any metric.
QUICK: dict[str, Any] = {
    "budget_samples": 10000,
    "iwae_k": 50,
    "ais_chains": 16,
    "ais_betas": 1000,
    "ais_runs": 1,
}
PRESETS = {"quick": QUICK}


def preset_of(record: dict[str, Any]) -> str | None:
    """The preset whose overrides a record's variant holds (others may be added), or None."""
    over = ((record.get("variant") or {}).get("protocol_overrides")) or {}
    for name, preset in PRESETS.items():
        if all(k in over for k in preset) and all(
            over[k] == v for k, v in preset.items() if k != "budget_samples"
        ):
            return name
    return None
