"""How a tuned board says what it is: its caption lines, from the tuned records alone."""

from __future__ import annotations

from typing import Any

__all__ = ["comparison_lines", "incomplete_note", "not_yet_tuned", "tuning_caption"]


def tuning_caption(t: dict[str, Any], recs: list[dict[str, Any]]) -> list[str]:
    """What a tuned board's caption says of how its configurations were chosen."""
    if t.get("method") == "successive-halving":
        return _halving_caption(t, recs)
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


def _by_model(recs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """model -> the tuning information of its first seed's record."""
    out: dict[str, dict[str, Any]] = {}
    for r in sorted(recs, key=lambda r: r["seed"]):
        out.setdefault(r["model"]["name"], r.get("tuning") or {})
    return out


def _params(params: Any) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in params or ()) or "the defaults"


def choice_text(info: dict[str, Any]) -> str:
    """How one model's configuration was chosen, with the full-budget validation figures."""
    if "best_config" not in info:
        return info.get("chosen", "")
    best, runner = info["best_value"], info.get("runner_up_config")
    if info.get("defaults_kept"):
        other = (
            f"runner-up configuration {runner} ({_params(info['runner_up_params'])}): "
            f"{info['runner_up_value']:.4g}"
            if runner is not None
            else "no other configuration finished the top rung"
        )
        return f"defaults kept: {best:.4g}; {other}"
    dflt = info.get("defaults_value")
    vs = f" vs defaults {dflt:.4g}" if dflt is not None else " (the defaults failed)"
    return f"configuration {info['best_config']} ({_params(info['best_params'])}): {best:.4g}{vs}"


def _halving_caption(t: dict[str, Any], recs: list[dict[str, Any]]) -> list[str]:
    models = _by_model(recs)
    rungs = " → ".join(f"{b:,}" for b in t["rung_budgets"])
    seeds = ", ".join(map(str, t["rung_seeds"]))
    studied = {m: i for m, i in models.items() if i.get("searched")}
    spent = "; ".join(
        f"{m}: {i['spent']:,} samples, {'/'.join(map(str, i['configs']))}, "
        f"{i['study_wall_s']:,} s" + ("" if i.get("complete") else " (STUDY NOT FINISHED)")
        for m, i in sorted(studied.items())
    )
    board_s = sum(_wall(r) for r in recs)
    return [
        f"TUNED by successive halving: {t['total']:,} training samples per model, all its runs "
        f"together; rungs {rungs} samples (each keeps the best 1/{t['eta']}, and the defaults "
        f"always go on; {t['sampler']} sampler; lower rungs on seed {t['rung_seeds'][0]}, the "
        f"top rung, the protocol's budget, on seed(s) {seeds}). Criterion {t['criterion']}: "
        f"{t['criterion_text']}. Chosen at the full budget on validation data only (no tuning "
        "run loaded the test split); each choice then ran with the board's seeds on the test "
        f"split. Defaults board: {t['defaults_board']}.",
        "Studies (samples trained; configurations per rung, the last those that reached the "
        f"full budget; wall time): {spent or 'none'}. "
        f"This board's runs: {board_s:,.0f} s.",
        "Chosen (mean validation figure at the full budget): "
        + "; ".join(f"{m}: {choice_text(i)}" for m, i in sorted(models.items()))
        + ".",
    ]


def _wall(rec: dict[str, Any]) -> float:
    from datetime import datetime

    try:
        start, end = (datetime.fromisoformat(rec[k]) for k in ("started", "finished"))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return max(0.0, (end - start).total_seconds())


#: the test figure a defaults → tuned line quotes, per task
_TEST_FIGURE = {"reconstruction": "recon_mse", "anomaly": "anomaly.auroc"}


def comparison_lines(tuned: list[dict[str, Any]], defaults: list[dict[str, Any]]) -> list[str]:
    """One line per tuned model: defaults → tuned on validation (the top rung's mean) and,
    where the defaults board has the model, on test (mean over the seeds both have)."""
    lines = []
    for model, info in sorted(_by_model(tuned).items()):
        rec = next(r for r in tuned if r["model"]["name"] == model)
        key = _TEST_FIGURE.get(rec["protocol"].get("task", "reconstruction"), "recon_mse")
        test = ""
        mine = {r["seed"]: r["metrics"].get(key) for r in tuned if r["model"]["name"] == model}
        theirs = {
            r["seed"]: r["metrics"].get(key)
            for r in defaults
            if r["model"]["name"] == model and r["dataset"]["name"] == rec["dataset"]["name"]
        }
        both = [s for s in mine if mine[s] is not None and theirs.get(s) is not None]
        if both:
            a = sum(theirs[s] for s in both) / len(both)
            b = sum(mine[s] for s in both) / len(both)
            test = f"; test {key} {a:.4g} → {b:.4g} (seeds {', '.join(map(str, both))})"
        if "best_config" in info:
            dflt = info.get("defaults_value")
            val = f"{dflt:.4g}" if dflt is not None else "failed"
            lines.append(
                f"{model}: defaults → tuned, validation {val} → {info['best_value']:.4g}{test} "
                f"— {choice_text(info)}"
            )
        else:
            lines.append(f"{model}: {info.get('chosen', 'defaults')}{test}")
    return lines
