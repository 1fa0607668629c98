"""A board's caption: what a reader needs to judge its rows (protocol, data, task, threshold,
splits, tuning, how figures were measured), from its records alone."""

from __future__ import annotations

from typing import Any

from aebench.run import thresholds
from aebench.run.presets import preset_of
from aebench.run.reproducibility import reproducibility_note
from aebench.run.scored_inputs import eval_inputs_note

__all__ = ["T_NOTE", "board_caption", "fit_kind", "summary_line"]


def fit_kind(record: dict[str, Any]) -> str:
    """How the fit went through its data (``FitContext.fit_kind``); a record made before that
    was stored says "own fit" when no training step was taken."""
    t = record.get("training") or {}
    return t.get("fit") or ("batches" if t.get("steps") else "own fit")


def _variant_text(recs: list[dict[str, Any]]) -> str:
    """What a variant changes, as its records say (records made before they said: nothing)."""
    changes = set()
    for r in recs:
        v = r.get("variant") or {}
        changes |= {f"{k}={val!r}" for k, val in (v.get("protocol_overrides") or {}).items()}
        for model, fields in (v.get("config_overrides") or {}).items():
            changes |= {f"--set {model}.{k}={val!r}" for k, val in fields.items()}
    return f" ({', '.join(sorted(changes))})" if changes else ""


def summary_line(title: str, recs: list[dict[str, Any]]) -> str:
    """The one line that says what a board is: protocol, budget, data, seeds, device, and
    whether it is a variant (a QUICK one above all: a smoke test, not a result)."""
    if not recs:
        return title
    r0 = recs[0]
    p, d = r0["protocol"], r0["dataset"]
    seeds = sorted({r["seed"] for r in recs})
    devices = sorted({str(r["device"].get("name")) for r in recs})
    quick = any(preset_of(r) for r in recs)
    changes = _variant_text(recs)
    if len(changes) > 80 or any(r.get("tuning") for r in recs):
        n = changes.count("=")
        changes = f" ({n} override(s), listed by --explain)" if n else ""
    if quick:
        variant = f" · QUICK preset{changes}: a smoke test, not a result"
    else:
        variant = f" · VARIANT{changes}" if r0.get("variant") else ""
    return (
        f"{title}: code {p['code_size']}, budget {p['budget_samples']:,} samples; train "
        f"{d.get('n_train', '?'):,}, test {d.get('n_test', '?'):,}; seeds "
        f"{', '.join(map(str, seeds))}; {', '.join(devices)}{variant}."
    )


def board_caption(group: str, recs: list[dict[str, Any]]) -> list[str]:
    r0 = recs[0]
    p, d = r0["protocol"], r0["dataset"]
    tuning = next((r["tuning"] for r in recs if r.get("tuning")), None)
    lines = [
        f"Protocol {p['key']} ({p.get('description') or p['dataset']}); fingerprint "
        f"{p['fingerprint']}"
        + (
            (
                " — QUICK preset (`--quick`): a smoke test, not a result"
                if any(preset_of(r) for r in recs)
                else ""
            )
            + f" — a VARIANT of the published protocol{_variant_text(recs)}"
            if "~" in group and not tuning
            else ""
        )
        + f"; code size {p['code_size']}, budget {p['budget_samples']:,} samples, "
        f"batch {p['batch_size']}.",
    ]
    counts = (
        f"train {d.get('n_train', '?'):,} (fit {d.get('n_fit', '?'):,} + val "
        f"{d.get('n_val', '?'):,}), test {d.get('n_test', '?'):,}"
    )
    canon = "canonical" if d.get("canonical") else "NON-CANONICAL"
    note = f" — {d['canonical_note']}" if d.get("canonical_note") else ""
    lines.append(f"Data: {d['name']}, {canon} files{note}; {counts}.")
    anomaly = next((r["anomaly"] for r in recs if r.get("anomaly")), None)
    if anomaly:
        trained = (
            "normal examples only"
            if p.get("anomaly_train") == "normal"
            else "all training examples (contaminated)"
        )
        lines.append(
            f"Anomaly task: trained on {trained}; threshold: {anomaly['threshold_rule']}; "
            f"test has {anomaly['n_test_anomalous']:,} anomalies of "
            f"{anomaly['n_test']:,}. The oracle F1 uses test labels: an upper bound, "
            "not a result."
        )
        cap = thresholds.cap_line(recs)
        if cap:
            lines.append(cap)
    if p.get("split_per_seed"):
        splits = sorted({r["dataset"]["split_seed"] for r in recs if "split_seed" in r["dataset"]})
        lines.append(
            f"Split: each seed draws its own stratified split (split seeds {splits}), so the "
            "spread over seeds includes the split's."
        )
    if tuning:
        from aebench.report.tuning import tuning_caption

        lines += tuning_caption(tuning, recs)
    if any(fit_kind(r) != "batches" for r in recs if r["status"] == "ok"):
        lines.append(
            "Train samples/s marked closed form or own fit: the model fit without the "
            "harness's batches (one solve, or its own solver), so the figure is training "
            "examples / fit time, not a training loop's throughput; — where none was reported."
        )
    if _inputs_differ(recs) or p.get("eval_inputs") == "pixels":
        lines.append(eval_inputs_note(r0))
    lines += _reproducibility_lines(recs)
    devices = sorted({f"{r['device'].get('name')} ({r['device']['type']})" for r in recs})
    seeds = sorted({r["seed"] for r in recs})
    lines.append(
        f"Seeds {seeds}; best per quality column in bold (never a timing); device: "
        f"{', '.join(devices)}."
    )
    lines.append(T_NOTE)
    return lines


def _inputs_differ(recs: list[dict[str, Any]]) -> bool:
    """Whether the board's rows scored different test inputs (some a fixed Bernoulli draw)."""
    drawn = {
        str((r.get("training") or {}).get("test_binarization", "none")) != "none"
        for r in recs
        if r["status"] == "ok"
    }
    return len(drawn) > 1


def _reproducibility_lines(recs: list[dict[str, Any]]) -> list[str]:
    """One line per model on the board that cannot be reproduced across CPU kinds within a
    useful tolerance (``aebench.run.reproducibility``)."""
    models = sorted({r["model"]["name"] for r in recs if r["status"] == "ok"})
    notes = [(m, reproducibility_note(m)) for m in models]
    return [f"Reproducibility: {m} is {note}." for m, note in notes if note]


#: the caption's line on intervals until aebench.report.significance replaces it with its own
T_NOTE = (
    "Mean ± 95% CI over seeds (Student t); a value with no interval is the same on every seed. "
    "Timings: median (min–max) over seeds."
)
