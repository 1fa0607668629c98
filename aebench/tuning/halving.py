"""Successive halving at an equal budget of training samples: the plan and its decisions.

Jamieson & Talwalkar, "Non-stochastic Best Arm Identification and Hyperparameter
Optimization", AISTATS 2016 (one bracket of Li et al.'s Hyperband, JMLR 2018). A study runs
configurations at rung budgets ``full/eta^(R-1), ..., full/eta, full`` samples; each rung keeps
the best ``1/eta`` of the one below, plus the model's defaults, which always go on. The top rung
is the protocol's own budget on ``top_seeds`` validation seeds (the lower rungs run on one), so
the published configuration is chosen at the budget it is published at, and never loses to the
defaults on validation. Every model's study gets the same ``total`` of training samples; the
number of configurations on the first rung is the largest whose bracket fits in it, and samples
a run did not train (early stopping) go back to that first rung while it is open.

Plain numbers only: ``aebench.tuning.tune`` runs what this plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aebench.errors import AebenchError

__all__ = ["Bracket", "choose", "parse_budget", "promote"]

#: configurations on every rung at least: the defaults and one challenger
MIN_CONFIGS = 2


@dataclass(frozen=True)
class Bracket:
    """One successive-halving bracket under a budget of ``total`` training samples."""

    total: int  #: samples every model's study may train on, all runs together
    full: int  #: the protocol's budget (the top rung's)
    batch: int  #: the protocol's batch size (the loop trains whole batches)
    eta: int = 3
    rungs: int = 3
    top_seeds: int = 2

    def __post_init__(self) -> None:
        if self.eta < 2:
            raise AebenchError(f"--eta {self.eta}: give 2 or more (each rung keeps 1/eta)")
        if self.rungs < 1:
            raise AebenchError(f"--rungs {self.rungs}: give at least 1 (the full budget)")
        if self.top_seeds < 1:
            raise AebenchError(f"--top-seeds {self.top_seeds}: give at least 1")
        if self.cost(MIN_CONFIGS) > self.total:
            raise AebenchError(
                f"--budget {self.total:,}: the smallest bracket ({MIN_CONFIGS} configurations "
                f"through rungs {', '.join(f'{b:,}' for b in self.budgets())} samples, "
                f"{self.top_seeds} seed(s) at the top) trains {self.cost(MIN_CONFIGS):,} "
                "samples; give at least that"
            )

    @property
    def top(self) -> int:
        return self.rungs - 1

    def budgets(self) -> list[int]:
        """Each rung's budget in samples, lowest first; the last is the protocol's."""
        return [max(1, self.full // self.eta ** (self.top - k)) for k in range(self.rungs)]

    def nominal(self, rung: int) -> int:
        """The samples one run of ``rung`` trains: whole batches, at least one."""
        b = self.budgets()[rung]
        return max(1, b // self.batch) * self.batch

    def seeds_at(self, rung: int) -> int:
        return self.top_seeds if rung == self.top else 1

    def sizes(self, n0: int) -> list[int]:
        """Configurations per rung when ``n0`` start: each keeps 1/eta, never below two."""
        out = [n0]
        for _ in range(self.top):
            out.append(min(out[-1], max(MIN_CONFIGS, out[-1] // self.eta)))
        return out

    def run_cost(self, rung: int) -> int:
        return self.nominal(rung) * self.seeds_at(rung)

    def cost(self, n0: int) -> int:
        """The samples a bracket of ``n0`` first-rung configurations trains, none stopping early."""
        return sum(n * self.run_cost(k) for k, n in enumerate(self.sizes(n0)))

    def first_rung(self, spent: int, started: int, pending: int) -> int:
        """How many configurations the first rung holds: the most whose bracket fits in
        ``total``, given ``spent`` samples trained by its finished runs, ``started``
        configurations asked so far and ``pending`` first-rung runs of theirs still to run.
        A run that stopped early spent less than its budget: the rest buys configurations."""
        per_run = self.nominal(0)
        n = max(MIN_CONFIGS, started)
        while True:
            upper = self.cost(n + 1) - (n + 1) * self.run_cost(0)
            new_runs = (n + 1 - started) * self.seeds_at(0)
            if spent + (pending + new_runs) * per_run + upper > self.total:
                return n
            n += 1

    def describe(self) -> str:
        rungs = " → ".join(f"{b:,}" for b in self.budgets())
        return f"rungs {rungs} samples (eta {self.eta}; {self.top_seeds} seed(s) at the top)"


def promote(
    values: dict[int, float | None], n_next: int, defaults: int | None, direction: str
) -> list[int]:
    """The configurations that go on from a rung: the defaults (where they finished), then the
    best of the rest by ``values`` (None: failed; a tie goes to the earlier configuration)."""
    sign = 1.0 if direction == "minimize" else -1.0
    ok = sorted(
        (c for c, v in values.items() if v is not None), key=lambda c: (sign * values[c], c)
    )
    out = [defaults] if defaults in ok else []
    return out + [c for c in ok if c != defaults][: max(0, n_next - len(out))]


def choose(values: dict[int, float | None], defaults: int | None, direction: str) -> dict[str, Any]:
    """The published configuration: the best on the top rung. Says whether the defaults were
    kept and which configuration came second (with both figures)."""
    ranked = promote(values, len(values), None, direction)
    if not ranked:
        return {"best": None, "runner_up": None, "defaults_kept": False}
    best = ranked[0]
    return {
        "best": best,
        "runner_up": ranked[1] if len(ranked) > 1 else None,
        "defaults_kept": best == defaults,
    }


def parse_budget(text: str, full: int) -> int:
    """``--budget``: samples (``600000``, ``600k``, ``2M``) or a multiple of the protocol's
    budget (``20x``)."""
    t = text.strip().lower().replace(",", "").replace("_", "")
    scale = {"x": full, "k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale != 1 else t) * scale
    except ValueError:
        value = -1
    if not value >= 1:
        raise AebenchError(
            f"--budget {text}: give training samples per model (e.g. 600000, 600k) or a multiple "
            f"of the protocol's budget of {full:,} (e.g. 20x)"
        )
    return int(value)
