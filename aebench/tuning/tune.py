"""``aebench tune``: the same budget of training samples for every model, spent by successive
halving (:mod:`aebench.tuning.halving`) and chosen on validation data at the protocol's budget.

Every run of a study is an ordinary run request evaluated on validation only (its data has no
test split), executed by the same executors as any run (in process, ``--jobs``, ``--cluster``);
only the study store (:mod:`aebench.tuning.store`) records it, one Optuna trial per run, and no
per-example arrays are kept. The study's state (which configurations reached which rung) is
recomputed from its finished runs each time, so a study continues where it stopped and never
repeats a finished run. The first configuration of every study is the model's defaults. The
tuned board is then one more suite of ordinary runs: each model's chosen configuration with
the protocol's seeds, on the test split, in a group of its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError, PluginError
from aebench.records.groups import is_reference
from aebench.registry.entries import ModelEntry, Registry
from aebench.run import runner
from aebench.run.runner import RunRequest
from aebench.tuning import store
from aebench.tuning.criteria import Criterion, criterion_for
from aebench.tuning.halving import Bracket, choose, promote
from aebench.tuning.space import check_space, describe

__all__ = [
    "Plan",
    "Reporter",
    "board_requests",
    "plan",
    "run_studies",
    "study_state",
    "tuned_group",
]

SAMPLERS = ("random", "tpe")
#: the study's sampler seed (fixed: a study is reproducible from its file and this number)
STUDY_SEED = 0
#: new configurations that break their config's own checks (in all) before a study stops
#: asking for more: a space that mostly yields invalid configurations ends, it does not spin
_MAX_INVALID = 50


class Reporter:
    """What tuning tells its user; the CLI prints it, tests stay silent."""

    def opened(self, model: str, path: Path | None, state: Any) -> None: ...
    def run(self, model: str, trial: Any, attrs: dict[str, Any]) -> None: ...


@dataclass
class _Model:
    entry: ModelEntry
    key: store.StudyKey | None = None  #: None: no search space, tuned over nothing
    opened: store.OpenStudy | None = None
    stopped: str | None = None  #: why no more runs are asked (e.g. not applicable)

    @property
    def study(self) -> Any:
        return self.opened.study if self.opened is not None else None


@dataclass
class Plan:
    protocol: Any
    dataset: str
    criterion: Criterion
    sampler: str
    bracket: Bracket
    board_seeds: tuple[int, ...]
    models: list[_Model] = field(default_factory=list)

    @property
    def rung_seeds(self) -> tuple[int, ...]:
        return tuple(self.protocol.seeds[: self.bracket.top_seeds])

    def seeds_at(self, rung: int) -> tuple[int, ...]:
        return self.rung_seeds[: self.bracket.seeds_at(rung)]

    def close(self) -> None:
        for m in self.models:
            if m.opened is not None:
                m.opened.close()
                m.opened = None


def plan(
    registry: Registry,
    models: list[str] | None,
    dataset: str | None,
    protocol: str | None,
    budget: str,
    sampler: str = "random",
    criterion: str | None = None,
    eta: int = 3,
    rungs: int = 3,
    top_seeds: int = 2,
    seeds: list[int] | None = None,
) -> Plan:
    """Check every input before any study is opened: a bad one is one line and no file."""
    from aebench.tuning.halving import parse_budget

    if sampler not in SAMPLERS:
        raise AebenchError(f"--sampler {sampler}: choose one of {', '.join(SAMPLERS)}")
    reqs = runner.plan(registry, models, [dataset] if dataset else None, protocol, seeds=seeds)
    proto, dset = reqs[0].protocol, reqs[0].dataset
    members = sorted({r.protocol.key for r in reqs})
    if len(members) > 1:  # one study per protocol: a family is tuned member by member
        raise AebenchError(
            f"-p {protocol} names {len(members)} protocols ({', '.join(members[:3])}, ...); "
            "tune one at a time, e.g. -p " + members[0]
        )
    if top_seeds > len(proto.seeds):
        raise AebenchError(
            f"--top-seeds {top_seeds}: protocol {proto.key} has {len(proto.seeds)} seed(s); "
            f"give at most {len(proto.seeds)}"
        )
    crit = criterion_for(proto, criterion)
    total = parse_budget(budget, proto.budget_samples)
    bracket = Bracket(total, proto.budget_samples, proto.batch_size, eta, rungs, top_seeds)
    names = list(dict.fromkeys(r.model for r in reqs))
    if not models:  # unasked: the models under comparison, not the reference rows, nor the
        # named variants (their base model is tuned; e.g. the RBM at its 256-unit code)
        names = [n for n in names if not _untuned(registry.model(n))]
    board_seeds = tuple(dict.fromkeys(r.seed for r in reqs))
    p = Plan(proto, dset, crit, sampler, bracket, board_seeds)
    for name in names:
        entry = registry.model(name)
        check_space(name, entry.config, entry.search_space)
        m = _Model(entry)
        if entry.search_space:
            space = describe(entry.search_space)
            m.key = store.StudyKey(proto, dset, name, crit, sampler, STUDY_SEED, space, bracket)
        p.models.append(m)
    return p


def _untuned(entry: ModelEntry) -> bool:
    caps = entry.capabilities
    return "variant" in entry.tags or is_reference(
        {"model": {"tags": list(entry.tags), "capabilities": {"supervised": caps.supervised}}}
    )


def open_studies(p: Plan, results_dir: Path, reporter: Reporter) -> None:
    for m in p.models:
        if m.key is None:
            reporter.opened(m.entry.name, None, None)
            continue
        m.opened = store.open_study(results_dir, m.key)
        state = study_state(p, m)
        if state.not_applicable:
            m.stopped = "not-applicable"
        reporter.opened(m.entry.name, m.opened.path, state)


# -- the study's state, from its finished runs alone -------------------------------------------


@dataclass
class State:
    """What a study's finished runs say: configurations, rungs, what is still to run."""

    configs: dict[int, dict[str, Any]]  #: config id (its first run's trial) -> its overrides
    defaults: int | None
    runs: dict[tuple[int, int, int], Any]  #: (config, rung, seed) -> its finished trial
    spent: int  #: samples trained by every run so far
    rungs: list[list[int]]  #: the configurations each rung holds (so far)
    todo: list[tuple[int | None, int, int]]  #: (config or None: a new one, rung, seed)
    not_applicable: bool = False
    invalid: int = 0  #: new configurations that broke their config's checks

    def values(self, rung: int, seeds: tuple[int, ...]) -> dict[int, float | None]:
        """Each configuration of ``rung`` with every one of ``seeds`` run: its mean figure
        over them (None where one failed)."""
        out: dict[int, float | None] = {}
        for c in self.rungs[rung]:
            ts = [self.runs.get((c, rung, s)) for s in seeds]
            if all(t is not None for t in ts):
                vals = [t.value if t.state.name == "COMPLETE" else None for t in ts]
                out[c] = None if None in vals else sum(vals) / len(vals)
        return out

    @property
    def done(self) -> bool:
        return not self.todo


def study_state(p: Plan, m: _Model) -> State:
    b, space = p.bracket, m.entry.search_space
    trials = store.counted(m.study)
    configs, runs, defaults, spent, invalid, na = {}, {}, None, 0, 0, False
    for t in trials:
        a = t.user_attrs
        spent += int(a.get("samples") or 0)
        na = na or a.get("status") == "not-applicable"
        if a.get("status") == "invalid-config":
            invalid += 1
            continue
        c = a["config"]
        if c == t.number:
            configs[c] = {k: space[k].value(v) for k, v in t.params.items()}
            if a.get("defaults"):
                defaults = c
        runs[(c, a["rung"], a["seed"])] = t
    state = State(configs, defaults, runs, spent, [list(configs)], [], na, invalid)
    seeds0 = p.seeds_at(0)
    pending = [(c, 0, s) for c in configs for s in seeds0 if (c, 0, s) not in runs]
    spent0 = sum(int(t.user_attrs.get("samples") or 0) for (_, r, _), t in runs.items() if r == 0)
    n0 = b.first_rung(spent0, len(configs), len(pending))
    new = [(None, 0, seeds0[0])] * max(0, n0 - len(configs)) if invalid < _MAX_INVALID else []
    if defaults is None:  # the defaults are the first configuration of every study
        new = [(-1, 0, seeds0[0]), *new[1:]] if new else [(-1, 0, seeds0[0])]
    if pending or new:
        state.todo = pending + new
        return state
    sizes = b.sizes(len(configs))
    for k in range(1, b.rungs):
        prev = state.values(k - 1, p.seeds_at(k - 1))
        state.rungs.append(promote(prev, sizes[k], defaults, p.criterion.direction))
        todo = [(c, k, s) for c in state.rungs[k] for s in p.seeds_at(k) if (c, k, s) not in runs]
        if todo:
            state.todo = todo
            return state
    return state


# -- running -------------------------------------------------------------------------------


def run_studies(p: Plan, executor: Any, parallel: int, reporter: Reporter) -> None:
    """Ask, run and tell until every model's study has run its bracket.

    A rung's runs go out together (every model's at once, so the executor keeps its workers
    busy); TPE asks ``parallel`` new configurations per model a round, to learn between them.
    """
    while True:
        asked: dict[tuple[str, str], tuple[_Model, Any, RunRequest]] = {}
        for m in p.models:
            if m.study is None or m.stopped:
                continue
            todo = study_state(p, m).todo
            fresh = [t for t in todo if t[0] is None]
            if p.sampler == "tpe":
                todo = [t for t in todo if t[0] is not None] + fresh[: max(1, parallel)]
            for config, rung, seed in todo:
                trial, req = _ask(p, m, config, rung, seed)
                if req is None:  # the sampled values break the config's own checks
                    _tell(p, m, trial, None, reporter)
                    continue
                asked[(req.model, req.group)] = (m, trial, req)
        if not asked:
            if not any(
                m.study is not None and not m.stopped and study_state(p, m).todo for m in p.models
            ):
                return
            continue  # only invalid configurations this round: ask again
        _run_batch(p, asked, executor, reporter)


def _ask(p: Plan, m: _Model, config: int | None, rung: int, seed: int):
    space = m.entry.search_space
    if config is None:  # a new configuration from the sampler
        trial = m.study.ask({k: v.distribution() for k, v in space.items()})
        overrides = {k: space[k].value(v) for k, v in trial.params.items()}
        config = trial.number
    else:
        trial = m.study.ask()
        if config == -1:  # the defaults: no override
            config, overrides = trial.number, {}
            trial.set_user_attr("defaults", True)
        else:
            first = m.study.get_trials(deepcopy=False)[config]  # trial numbers are 0, 1, ...
            overrides = {k: space[k].value(v) for k, v in first.params.items()}
    trial.set_user_attr("config", config)
    trial.set_user_attr("rung", rung)
    trial.set_user_attr("seed", seed)
    trial.set_user_attr("budget", p.bracket.budgets()[rung])
    trial.set_user_attr("overrides", sorted(overrides.items()))
    try:
        m.entry.make_config(overrides)
    except (ValueError, TypeError, PluginError) as exc:  # the config refuses the combination
        trial.set_user_attr("invalid", f"{type(exc).__name__}: {exc}")
        return trial, None
    proto = p.protocol
    if rung != p.bracket.top:
        proto = proto.with_overrides(budget_samples=p.bracket.budgets()[rung])
    req = RunRequest(
        m.entry.name,
        p.dataset,
        proto,
        seed,
        f"{p.protocol.key}~trial-{trial.number}",
        tuple(sorted(overrides.items())),
        evaluate="validation",
    )
    return trial, req


def _run_batch(p: Plan, asked: dict, executor: Any, reporter: Reporter) -> None:
    started: dict[tuple[str, str], float] = {}
    told: set[tuple[str, str]] = set()

    def begin(req: RunRequest) -> None:
        started[(req.model, req.group)] = time.time()

    runs = executor.run([r for _, _, r in asked.values()], begin, lambda *_: None)
    try:
        for req, outcome in runs:
            k, record = (req.model, req.group), outcome.record
            m, trial, _ = asked[k]
            # to the run's own finish (not to when this thread got to it): what a run took
            # from its start in a worker, host start and data load included
            end = _timestamp(record.get("finished")) or time.time()
            _tell(p, m, trial, record, reporter, max(0.0, end - started.get(k, end)))
            told.add(k)
    finally:
        runs.close()
        from optuna.trial import TrialState

        for k, (m, trial, _) in asked.items():  # Ctrl-C: the rest are asked again next time
            if k not in told:
                m.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def _timestamp(iso: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() if iso else None


def _tell(p: Plan, m: _Model, trial: Any, record: dict | None, reporter: Reporter, wall=0.0):
    """Store what the run did; a failed, diverged or non-finite run is FAIL, never a score."""
    from optuna.trial import TrialState

    nominal = p.bracket.nominal(trial.user_attrs["rung"])
    attrs = _run_attrs(record, m.key.criterion, wall, trial.user_attrs.get("invalid"), nominal)
    for k, v in attrs.items():
        if k != "status":
            trial.set_user_attr(k, v)
    trial.set_user_attr("status", attrs["status"])  # last: it says the run has finished
    value = attrs.get("value")
    if attrs["status"] == "ok" and value is not None:
        m.study.tell(trial, value)
    else:
        m.study.tell(trial, state=TrialState.FAIL)
        if attrs["status"] == "not-applicable":
            m.stopped = "not-applicable"
    reporter.run(m.entry.name, trial, attrs)


def _run_attrs(record, criterion: Criterion, wall: float, invalid: str | None, nominal: int):
    if record is None:
        return {"status": "invalid-config", "reason": invalid, "samples": 0}
    metrics = record.get("metrics") or {}
    value = criterion.value(metrics)
    status, reason = record["status"], record.get("reason")
    if status == "ok" and not (isinstance(value, (int, float)) and math.isfinite(value)):
        status = "failed"
        reason = f"no finite {criterion.metric} (the run's figures: {sorted(metrics)})"
    seen = (record.get("training") or {}).get("samples_seen")
    busy = (metrics.get("fit_s") or 0.0) + (metrics.get("eval_s") or 0.0)
    # few attributes: each is a commit of its own
    return {
        "status": status,
        "reason": reason,
        "value": value if status == "ok" else None,
        # what the study is charged: what the run trained (less, where it stopped early),
        # its whole budget where it failed or does not count its samples
        "samples": int(seen) if status == "ok" and seen else nominal,
        "metrics": metrics,
        "time": {"wall_s": wall, "overhead_s": max(0.0, wall - busy) if wall else None},
        "run": {k: record.get(k) for k in ("started", "finished", "software", "device")},
    }


# -- the tuned board -----------------------------------------------------------------------


def tuned_group(p: Plan) -> str:
    """The tuned board's group: a variant key, never the defaults board's, nor the earlier
    method's (``~tuned-<trials>``)."""
    b = p.bracket
    group = f"{p.protocol.key}~tuned-sh-{b.total}"
    if (b.eta, b.rungs, b.top_seeds) != (3, 3, 2):
        group += f"-eta{b.eta}-r{b.rungs}-s{b.top_seeds}"
    if p.criterion.name != criterion_for(p.protocol, None).name:
        group += f"-{p.criterion.name}"
    return group


def board_requests(p: Plan, results_dir: Path) -> list[RunRequest]:
    """Each model's chosen configuration (its defaults, said so, where it has no search space,
    where the defaults won or nothing else finished), per board seed."""
    group = tuned_group(p)
    out = []
    for m in p.models:
        info, overrides = chosen(p, m, results_dir)
        for seed in p.board_seeds:
            out.append(
                RunRequest(
                    m.entry.name,
                    p.dataset,
                    p.protocol,
                    int(seed),
                    group,
                    overrides,
                    tuning=tuple(sorted(info.items())),
                )
            )
    return out


def chosen(p: Plan, m: _Model, results_dir: Path) -> tuple[dict[str, Any], tuple]:
    """What a tuned record says of how its configuration was chosen, and its overrides."""
    b = p.bracket
    info: dict[str, Any] = {
        "method": "successive-halving",
        "criterion": p.criterion.name,
        "criterion_text": p.criterion.describe(p.protocol),
        "uses_labels": p.criterion.uses_labels,
        "direction": p.criterion.direction,
        "sampler": p.sampler,
        "total": b.total,
        "eta": b.eta,
        "rung_budgets": tuple(b.budgets()),
        "rung_seeds": p.rung_seeds,
        "defaults_board": p.protocol.key,
        "space": "; ".join(f"{k}: {v}" for k, v in describe(m.entry.search_space).items()),
    }
    if m.study is None:
        return {**info, "searched": False, "chosen": "defaults (no search space)"}, ()
    s = study_state(p, m)
    top = s.values(b.top, p.seeds_at(b.top)) if len(s.rungs) == b.rungs else {}
    runs = store.counted(m.study)
    info.update(
        searched=True,
        study=str(m.opened.path.relative_to(results_dir)),
        spent=s.spent,
        runs=len(runs),
        configs=tuple(len(r) for r in s.rungs),
        reached_top=len(top),
        complete=s.done,
        top_values=tuple((c, v, c == s.defaults) for c, v in top.items()),
        study_wall_s=round(sum((t.user_attrs.get("time") or {}).get("wall_s") or 0 for t in runs)),
    )
    if s.not_applicable:
        return {**info, "chosen": "not applicable to this data (nothing to tune)"}, ()
    pick = choose(top, s.defaults, p.criterion.direction)
    if pick["best"] is None:
        return {**info, "chosen": "defaults (no configuration finished the top rung)"}, ()

    best, second = pick["best"], pick["runner_up"]
    info.update(  # plain values and tuples: a request is hashed
        best_config=best,
        best_value=top[best],
        best_params=tuple(sorted(s.configs[best].items())),
        defaults_value=top.get(s.defaults),
        runner_up_config=second,
        runner_up_params=tuple(sorted(s.configs[second].items())) if second is not None else None,
        runner_up_value=top[second] if second is not None else None,
        defaults_kept=pick["defaults_kept"],
    )
    if pick["defaults_kept"]:
        info["chosen"] = "defaults kept (best at the full budget on validation)"
    else:
        info["chosen"] = f"configuration {pick['best']} (best at the full budget on validation)"
    return info, tuple(sorted(s.configs[pick["best"]].items()))
