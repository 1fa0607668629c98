"""How a tuned board says what it is: its caption lines, from the tuned records alone."""

from __future__ import annotations

from typing import Any

__all__ = ["tuning_caption"]


def tuning_caption(t: dict[str, Any], recs: list[dict[str, Any]]) -> list[str]:
    """What a tuned board's caption says of how its configurations were chosen."""
    budget = f", trained on {t['trial_budget']:,} samples" if t.get("trial_budget") else ""
    chosen = {}
    for r in sorted(recs, key=lambda r: r["seed"]):
        info = r.get("tuning") or {}
        params = ", ".join(f"{k}={_value(v)}" for k, v in info.get("best_params") or ())
        if params:
            what = f"{params} (trial {info['best_trial']}, validation {info['best_value']:.4g})"
        else:
            what = info.get("chosen")
        chosen.setdefault(r["model"]["name"], what)
    return [
        f"TUNED, {t['trials']} trials each ({t['sampler']} sampler; every trial seed "
        f"{t['trial_seed']}{budget}), criterion {t['criterion']}: {t['criterion_text']}. Chosen "
        "on validation data only (no trial loaded the test split); each best configuration "
        f"then ran with the protocol's seeds on the test split. Defaults board: "
        f"{t['defaults_board']}.",
        "Chosen: " + "; ".join(f"{m}: {w}" for m, w in sorted(chosen.items())) + ".",
    ]


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(tuple(v)) if isinstance(v, list) else str(v)
