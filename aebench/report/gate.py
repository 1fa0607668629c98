"""The learning gate on a board: which learned rows never got past the training mean, and
which were still improving at the end of their budget.

A row whose reconstruction is no better than the mean image's learned nothing a board can
rank: its anomaly scores are the distance to the mean, whatever its architecture. The rule,
from the records alone (the protocol's ``gate_ratio``, 0.95 where it predates the field, and
``converged_tolerance``; :mod:`aebench.run.learning` computes the per-run figures):

- per seed, the ratio of the row's validation reconstruction MSE to the training mean's on the
  same validation carve: the record's ``learning`` section where it has one; a record made
  before that section (the published ones) takes the training-mean reference row's
  ``val_recon_mse`` on the same board and seed (that row reconstructs every example by the
  training mean, on the same carve; it is the one row the published protocols ran for it);
- a row **did not learn** when its mean ratio over its seeds is ≥ ``gate_ratio``;
- a row that learned is **not converged** when most of its seeds with a validation curve
  were still improving by more than ``converged_tolerance`` over the last quarter of the
  budget (``learning.converged`` False);
- reference rows, rows with no validation reconstruction figure (pure detectors) and rows
  with no baseline (no ``learning`` section and no training-mean row) are not gated; the
  caption names the last.

Such a row is shown with its mark, never bold or ≈, and not ranked (its cells carry the
verdict: :func:`aebench.report.rows.mark_best`, the significance marks and the ranks skip them).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aebench.records.groups import is_reference
from aebench.report.board import Row

__all__ = [
    "DID_NOT_LEARN",
    "GATE_RATIO",
    "NOT_CONVERGED",
    "SIGNS",
    "TRAINING_MEAN_ROW",
    "apply",
    "baselines",
    "caption",
    "family_row",
    "gate_ratio",
    "judge",
]

DID_NOT_LEARN = "did not learn"
NOT_CONVERGED = "not converged"
#: a family board's cell sign for each verdict (its caption explains them)
SIGNS = {DID_NOT_LEARN: "✗", NOT_CONVERGED: "»"}
#: the gate of protocols made before ``Protocol.gate_ratio`` (its default)
GATE_RATIO = 0.95
#: the reference row whose validation MSE is the training mean's, for records made before
#: their own ``learning`` section: the published protocols' ``mean`` plugin
TRAINING_MEAN_ROW = "mean"

Baselines = dict[tuple[str, int, tuple[Any, ...]], float]


def _data_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two runs' validation carves the same: data set, split seed and sizes."""
    d = record.get("dataset") or {}
    return (d.get("name"), d.get("split_seed"), d.get("n_fit"), d.get("n_val"))


def baselines(records: list[dict[str, Any]]) -> Baselines:
    """(group, seed, data) -> the training-mean reference row's validation MSE among
    ``records``; a variant board (``name-vN~…``: tuned, another budget) without that row
    borrows its published protocol's (``name-vN``) where the validation carve is the same
    (same data set, split seed and sizes), since the training mean does not depend on the
    variant's training settings."""
    out: Baselines = {}
    for r in records:
        v = (r.get("metrics") or {}).get("val_recon_mse")
        if (
            r["model"]["name"] == TRAINING_MEAN_ROW
            and is_reference(r)
            and r["status"] == "ok"
            and isinstance(v, (int, float))
            and v > 0
        ):
            out[(r["group"], r["seed"], _data_key(r))] = float(v)
    return out


def _ratio(record: dict[str, Any], base: Baselines) -> tuple[float, float] | None:
    """(this run's validation MSE / the training mean's, the gate) or None where either lacks."""
    part = record.get("learning") or {}
    v, b = part.get("val_recon_mse"), part.get("baseline_val_recon_mse")
    gate = part.get("gate_ratio") or record["protocol"].get("gate_ratio") or GATE_RATIO
    if not part:  # a record made before the learning section
        v = (record.get("metrics") or {}).get("val_recon_mse")
        group, seed, data = record["group"], record["seed"], _data_key(record)
        b = base.get((group, seed, data))
        if b is None:
            b = base.get((group.partition("~")[0], seed, data))
    if not isinstance(v, (int, float)) or not isinstance(b, (int, float)) or b <= 0:
        return None
    return v / b, float(gate)


def judge(ok: list[dict[str, Any]], base: Baselines) -> tuple[str, str, str, float | None]:
    """(verdict, why, why not gated, mean ratio) of a row's ok records: verdict "" (a result),
    :data:`DID_NOT_LEARN` or :data:`NOT_CONVERGED`; "why not gated" is "" where it was
    gated, "no baseline" where it has a validation figure but nothing to compare it with."""
    if not ok or is_reference(ok[0]):
        return "", "", "", None
    pairs = [p for p in (_ratio(r, base) for r in ok) if p is not None]
    if not pairs:
        has_val = any(
            isinstance((r.get("metrics") or {}).get("val_recon_mse"), (int, float))
            or (r.get("learning") or {}).get("val_recon_mse") is not None
            for r in ok
        )
        return "", "", "no baseline" if has_val else "", None
    ratio = sum(p[0] for p in pairs) / len(pairs)
    gate = max(p[1] for p in pairs)
    if not ratio < gate:  # a NaN ratio is no learning either
        return DID_NOT_LEARN, f"validation error {ratio:.3f}× the training mean's", "", ratio
    flags = [(r.get("learning") or {}).get("converged") for r in ok]
    curves = [f for f in flags if f is not None]
    still = sum(f is False for f in curves)
    if curves and 2 * still > len(curves):
        tol = next(
            (r["learning"].get("converged_tolerance") for r in ok if r.get("learning")), None
        )
        more = f" by more than {tol:g}" if isinstance(tol, (int, float)) else ""
        why = f"{still} of {len(curves)} seed(s) still improving{more} over the last quarter"
        return NOT_CONVERGED, why, "", ratio
    return "", "", "", ratio


def apply(row: Row, verdict: str, why: str, ungated: str, ratio: float | None) -> None:
    """Set a protocol board row's verdict on it and every cell (what the marks and ranks read)."""
    row.verdict, row.verdict_reason, row.ungated = verdict, why, ungated
    row.learn_ratio = ratio
    if verdict:
        row.display += f" [{verdict}]"
        for cell in row.cells.values():
            cell.verdict = verdict


def family_row(
    row: Row, records: list[dict[str, Any]], labels: dict[str, str], base: Baselines
) -> None:
    """Mark a family board's row from its current ``records``: each member column's cell
    (``labels``: member group -> column header) with its member's verdict and sign, the mean
    column's and the row's with the worst of them (a mean over a member the row did not learn
    is no result)."""
    by: dict[str, list[str]] = defaultdict(list)
    loose = []
    for g, label in labels.items():
        ok = [r for r in records if r["group"] == g and r["status"] == "ok"]
        verdict, _, ungated, _ = judge(ok, base)
        if ungated:
            loose.append(label)
        if verdict and g in row.cells:
            row.cells[g].verdict = verdict
            row.cells[g].flag = SIGNS[verdict]
            by[verdict].append(label.split("\n")[0])  # a header's first line names it
    row.ungated = f"no baseline on {', '.join(loose)}" if loose else ""
    worst = next((v for v in (DID_NOT_LEARN, NOT_CONVERGED) if by[v]), "")
    if not worst:
        return
    row.verdict = worst
    row.verdict_reason = "; ".join(
        f"{'' if v == worst else v + ' '}on {', '.join(by[v])} ({len(by[v])} of "
        f"{len(labels)} members)"
        for v in SIGNS
        if by[v]
    )
    row.display += f" [{worst} on {len(by[worst])} of {len(labels)}]"
    for key, cell in row.cells.items():
        if key not in labels:  # the mean column
            cell.verdict = worst


def caption(rows: list[Row], gate: float, members: tuple[str, ...] = ()) -> list[str]:
    """The caption lines of a board's gate: the rule, and which rows each verdict took (on a
    family board, ``members``: its member columns, how many cells too)."""
    learned = [r for r in rows if r.ok and not r.reference]
    if not learned:
        return []
    lines = [
        f"Learning gate: a learned row DID NOT LEARN when its validation reconstruction "
        "error, as a ratio to the training mean's (the mean image, on images) on the same "
        f"validation carve and averaged over its seeds, is not below {gate:g}×; one that "
        "learned but was still improving on most of its seeds over the last quarter of its "
        "budget is NOT CONVERGED. Both are shown with their mark, never ▲ or =, and not "
        "ranked."
        + (
            f" In a member column {SIGNS[DID_NOT_LEARN]} marks did not learn and "
            f"{SIGNS[NOT_CONVERGED]} not converged; the mean column of such a row is no result."
            if members
            else ""
        )
    ]
    for verdict in (DID_NOT_LEARN, NOT_CONVERGED):
        if members:  # a row's reason names its member columns
            hit = [r for r in learned if any(r.cells[k].verdict == verdict for k in members)]
            shown = [r.cells[k] for r in learned for k in members if r.cells[k].n]
            n_hit = sum(c.verdict == verdict for c in shown)
            names = "; ".join(f"{r.model} ({r.verdict_reason})" for r in hit)
            if hit:
                lines.append(
                    f"{verdict}: {len(hit)} of {len(learned)} learned rows, in {n_hit} of "
                    f"{len(shown)} of their member cells: {names}."
                )
            continue
        hit = [r for r in learned if r.verdict == verdict]
        if hit:
            if verdict == DID_NOT_LEARN:
                names = ", ".join(f"{r.model} ({r.learn_ratio:.3f}×)" for r in hit)
                rule = f"validation error ≥ {gate:g}× the training mean's, mean over seeds"
            else:
                names = ", ".join(f"{r.model} ({r.verdict_reason})" for r in hit)
                rule = "still improving over the last quarter of the budget"
            lines.append(f"{verdict}: {len(hit)} of {len(learned)} learned rows ({rule}): {names}.")
    loose = [r for r in learned if r.ungated]
    if loose:
        what = ("; " if members else ", ").join(
            f"{r.model} ({r.ungated})" if members else r.model for r in loose
        )
        lines.append(
            f"not gated (no baseline: no training-mean figure for its seeds on this board): {what}."
        )
    return lines


def gate_ratio(records: list[dict[str, Any]]) -> float:
    """The board's gate (its protocol's, or the default for protocols that predate it)."""
    for r in records:
        g = (r.get("learning") or {}).get("gate_ratio") or r["protocol"].get("gate_ratio")
        if g:
            return float(g)
    return GATE_RATIO
