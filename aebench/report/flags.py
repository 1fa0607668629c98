"""Estimator warnings as a visible flag on a board's likelihood cells.

A likelihood estimator can say its figure is doubtful: a plugin puts a ``warning`` into its
estimate's ``info`` (the RBM's AIS does when its two starting distributions disagree), and an
importance-sampling estimator reports ``mean_ess_fraction`` (mean effective sample size over
examples / number of samples), which the harness checks against :data:`ESS_FLOOR`. Either puts
:data:`SIGN` after the row's NLL and a caption line saying what it means; the record holds the
details. The warning is about the estimator, so the bootstrap interval does not include it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ESS_FLOOR", "SIGN", "likelihood_notes"]

SIGN = "⚠"
#: below this share of importance samples carrying the weight, an importance-weighted bound is
#: set by a few samples (weight degeneracy). A convention of sequential Monte Carlo (resampling
#: when the ESS falls under 10-50 % of the particles), not fitted to any result: on the
#: published records it flags the VAE's IWAE on mnist (0.3 % of k = 5,000) and sms-spam v3
#: (5 % of k = 100), not on digits or sms-spam v1/v2 (31-49 %).
ESS_FLOOR = 0.10


def _headline(record: dict[str, Any]) -> dict[str, Any] | None:
    return next((e for e in (record.get("likelihood") or {}).values() if e.get("headline")), None)


def likelihood_notes(recs: list[dict[str, Any]]) -> list[str]:
    """What a row's headline likelihood estimator warned about, one line per kind of warning,
    naming the seeds (empty: nothing to flag)."""
    warned: dict[str, list[tuple[int, str]]] = {}
    ess: list[tuple[int, float, int | None, str]] = []
    for r in sorted((r for r in recs if r["status"] == "ok"), key=lambda r: r["seed"]):
        est = _headline(r)
        if est is None:
            continue
        info = est.get("info") or {}
        if info.get("warning"):
            warned.setdefault(est["label"], []).append((r["seed"], str(info["warning"])))
        frac = info.get("mean_ess_fraction")
        if isinstance(frac, (int, float)) and frac < ESS_FLOOR:
            ess.append((r["seed"], float(frac), info.get("k"), est["label"]))
    notes = []
    for label, items in warned.items():
        seeds = ", ".join(str(s) for s, _ in items)
        more = "; the others alike" if len(items) > 1 else ""
        notes.append(f"{label} on seed(s) {seeds}: {items[0][1]} (seed {items[0][0]}{more})")
    if ess:
        fr = [f for _, f, _, _ in ess]
        k = ess[0][2]
        share = f"{min(fr):.2%}–{max(fr):.2%}" if len(fr) > 1 else f"{fr[0]:.2%}"
        count = (
            f" ({min(fr) * k:,.0f}–{max(fr) * k:,.0f} of {k:,} samples)"
            if isinstance(k, int) and len(fr) > 1
            else (f" ({fr[0] * k:,.0f} of {k:,} samples)" if isinstance(k, int) else "")
        )
        notes.append(
            f"{ess[0][3]} on seed(s) {', '.join(str(s) for s, *_ in ess)}: mean effective sample "
            f"size {share} of the importance samples{count}, under the {ESS_FLOOR:.0%} floor: "
            "a few samples carry the bound, which may be loose"
        )
    return notes
