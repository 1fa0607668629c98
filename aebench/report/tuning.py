"""How a tuned board says what it is: its caption lines, from the tuned records alone."""

from __future__ import annotations

from typing import Any

__all__ = ["incomplete_note", "not_yet_tuned", "tuning_caption"]


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


#: model tags whose rows a tuned board does not repeat: reference rows and named variants
#: (their base model is tuned; e.g. the RBM at its 256-unit code)
_UNTUNED_TAGS = frozenset({"reference", "variant"})


def not_yet_tuned(recs: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """The models of a tuned board's defaults board (same data set; reference rows and named
    variants aside) that have no row on the tuned board ``recs`` yet, sorted."""
    t = next((r["tuning"] for r in recs if r.get("tuning")), None)
    if not t:
        return []
    dataset = recs[0]["dataset"]["name"]
    tuned = {r["model"]["name"] for r in recs}
    expected = {
        r["model"]["name"]
        for r in records
        if r.get("group") == t["defaults_board"]
        and r["dataset"]["name"] == dataset
        and not _UNTUNED_TAGS & set(r["model"].get("tags") or ())
        and not r["model"].get("capabilities", {}).get("supervised")
    }
    return sorted(expected - tuned)


def incomplete_note(missing: list[str]) -> str:
    """The caption line of a tuned board that lacks rows its defaults board has."""
    return (
        f"INCOMPLETE: no tuned row yet for {', '.join(missing)} (on the defaults board; "
        "`aebench tune` again runs them): best and ≈ marks compare only the rows shown."
    )
