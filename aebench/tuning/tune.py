"""``aebench tune``: the same number of trials for every model, chosen on validation data only.

Each trial is an ordinary run request evaluated on validation only (its data has no test
split), executed by the same executors as any run (in process, ``--jobs``, ``--cluster``);
only the study store (``aebench.tuning.store``) records it, and no per-example arrays are
kept. The tuned board is then one more suite of ordinary runs: each model's best
configuration with the protocol's seeds, on the test split, in a group of its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError
from aebench.records.groups import is_reference
from aebench.registry.entries import ModelEntry, Registry
from aebench.run import runner
from aebench.run.runner import RunRequest
from aebench.tuning import store
from aebench.tuning.criteria import Criterion, criterion_for
from aebench.tuning.space import check_space, describe

__all__ = ["Plan", "Reporter", "board_requests", "plan", "run_trials", "tuned_group"]

SAMPLERS = ("random", "tpe")
#: the study's sampler seed (fixed: a study is reproducible from its file and this number)
STUDY_SEED = 0


class Reporter:
    """What tuning tells its user; the CLI prints it, tests stay silent."""

    def opened(self, model: str, path: Path | None, done: int, todo: int) -> None: ...
    def trial(self, model: str, trial: Any, attrs: dict[str, Any]) -> None: ...


@dataclass
class _Model:
    entry: ModelEntry
    key: store.StudyKey | None = None  #: None: no search space, tuned over nothing
    opened: store.OpenStudy | None = None
    stopped: str | None = None  #: why no more trials are asked (e.g. not applicable)

    @property
    def study(self) -> Any:
        return self.opened.study if self.opened is not None else None


@dataclass
class Plan:
    protocol: Any
    trial_protocol: Any
    dataset: str
    criterion: Criterion
    sampler: str
    trials: int
    trial_budget: int | None
    models: list[_Model] = field(default_factory=list)

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
    trials: int,
    sampler: str = "random",
    criterion: str | None = None,
    trial_budget: int | None = None,
) -> Plan:
    """Check every input before any study is opened: a bad one is one line and no file."""
    if trials < 1:
        raise AebenchError(f"--trials {trials}: give at least 1 trial per model")
    if trial_budget is not None and trial_budget < 1:
        raise AebenchError(f"--trial-budget {trial_budget}: give a positive number of samples")
    if sampler not in SAMPLERS:
        raise AebenchError(f"--sampler {sampler}: choose one of {', '.join(SAMPLERS)}")
    reqs = runner.plan(registry, models, [dataset] if dataset else None, protocol, seeds=[0])
    proto, dset = reqs[0].protocol, reqs[0].dataset
    members = sorted({r.protocol.key for r in reqs})
    if len(members) > 1:  # one study per protocol: a family is tuned member by member
        raise AebenchError(
            f"-p {protocol} names {len(members)} protocols ({', '.join(members[:3])}, ...); "
            "tune one at a time, e.g. -p " + members[0]
        )
    crit = criterion_for(proto, criterion)
    names = list(dict.fromkeys(r.model for r in reqs))
    if not models:  # unasked: the models under comparison, not the reference rows
        names = [n for n in names if not _is_reference(registry.model(n))]
    trial_proto = proto.with_overrides(budget_samples=trial_budget) if trial_budget else proto
    p = Plan(proto, trial_proto, dset, crit, sampler, trials, trial_budget)
    for name in names:
        entry = registry.model(name)
        check_space(name, entry.config, entry.search_space)
        m = _Model(entry)
        if entry.search_space:
            m.key = store.StudyKey(
                proto,
                trial_proto,
                dset,
                name,
                crit,
                sampler,
                STUDY_SEED,
                describe(entry.search_space),
                trial_budget,
            )
        p.models.append(m)
    return p


def _is_reference(entry: ModelEntry) -> bool:
    caps = entry.capabilities
    return is_reference(
        {"model": {"tags": list(entry.tags), "capabilities": {"supervised": caps.supervised}}}
    )


def open_studies(p: Plan, results_dir: Path, reporter: Reporter) -> None:
    for m in p.models:
        if m.key is None:
            reporter.opened(m.entry.name, None, 0, 0)
            continue
        m.opened = store.open_study(results_dir, m.key)
        done = store.counted(m.study)
        if any(t.user_attrs.get("status") == "not-applicable" for t in done):
            m.stopped = "not-applicable"
        reporter.opened(m.entry.name, m.opened.path, len(done), max(0, p.trials - len(done)))


def _todo(p: Plan, m: _Model) -> int:
    if m.study is None or m.stopped:
        return 0
    return max(0, p.trials - len(store.counted(m.study)))


def run_trials(p: Plan, executor: Any, parallel: int, reporter: Reporter) -> None:
    """Ask, run and tell until every model's study has ``p.trials`` counted trials.

    A random sampler does not learn from results, so each model's remaining trials are asked
    at once and the executor keeps every worker busy; TPE asks ``parallel`` per model a round.
    """
    while any(_todo(p, m) for m in p.models):
        asked: dict[tuple[str, str], tuple[_Model, Any, RunRequest]] = {}
        for m in p.models:
            n = _todo(p, m) if p.sampler == "random" else min(_todo(p, m), max(1, parallel))
            for _ in range(n):
                trial = m.study.ask({k: v.distribution() for k, v in m.entry.search_space.items()})
                req = _trial_request(p, m, trial)
                if req is None:  # the sampled values break the config's own checks
                    _tell(m, trial, None, reporter)
                    continue
                asked[(req.model, req.group)] = (m, trial, req)
        _run_batch(asked, executor, reporter)


def _trial_request(p: Plan, m: _Model, trial: Any) -> RunRequest | None:
    overrides = {k: m.entry.search_space[k].value(v) for k, v in trial.params.items()}
    try:
        m.entry.make_config(overrides)
    except (ValueError, TypeError) as exc:
        trial.set_user_attr("invalid", f"{type(exc).__name__}: {exc}")
        return None
    seed = p.protocol.seeds[0]  # one seed for every trial: configurations compete, not seeds
    return RunRequest(
        m.entry.name,
        p.dataset,
        p.trial_protocol,
        seed,
        f"{p.protocol.key}~trial-{trial.number}",
        tuple(sorted(overrides.items())),
        evaluate="validation",
    )


def _run_batch(asked: dict, executor: Any, reporter: Reporter) -> None:
    started: dict[tuple[str, str], float] = {}
    told: set[tuple[str, str]] = set()

    def begin(req: RunRequest) -> None:
        started[(req.model, req.group)] = time.time()

    runs = executor.run([r for _, _, r in asked.values()], begin, lambda done, total: None)
    try:
        for req, outcome in runs:
            k, record = (req.model, req.group), outcome.record
            m, trial, _ = asked[k]
            # to the run's own finish (not to when this thread got to it): what a trial took
            # from its start in a worker, host start and data load included
            end = _timestamp(record.get("finished")) or time.time()
            _tell(m, trial, record, reporter, max(0.0, end - started.get(k, end)))
            told.add(k)
    finally:
        runs.close()
        for k, (m, trial, _) in asked.items():  # Ctrl-C: the rest are queued again
            if k not in told:
                _interrupt(m, trial)


def _timestamp(iso: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() if iso else None


def _interrupt(m: _Model, trial: Any) -> None:
    from optuna.trial import TrialState

    m.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    m.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def _tell(m: _Model, trial: Any, record: dict | None, reporter: Reporter, wall: float = 0.0):
    """Store what the trial did; a failed, diverged or non-finite trial is FAIL, never a
    score."""
    from optuna.trial import TrialState

    attrs = _trial_attrs(record, m.key.criterion, wall, trial.user_attrs.get("invalid"))
    for k, v in attrs.items():
        if k != "status":
            trial.set_user_attr(k, v)
    trial.set_user_attr("status", attrs["status"])  # last: it says the trial has finished
    value = attrs.get("value")
    if attrs["status"] == "ok" and value is not None:
        m.study.tell(trial, value)
    else:
        m.study.tell(trial, state=TrialState.FAIL)
        if attrs["status"] == "not-applicable":
            m.stopped = "not-applicable"
    reporter.trial(m.entry.name, trial, attrs)


def _trial_attrs(record: dict | None, criterion: Criterion, wall: float, invalid: str | None):
    if record is None:
        return {"status": "invalid-config", "reason": invalid}
    metrics = record.get("metrics") or {}
    value = criterion.value(metrics)
    status, reason = record["status"], record.get("reason")
    if status == "ok" and not (isinstance(value, (int, float)) and math.isfinite(value)):
        status = "failed"
        reason = f"no finite {criterion.metric} (the run's figures: {sorted(metrics)})"
    busy = (metrics.get("fit_s") or 0.0) + (metrics.get("eval_s") or 0.0)
    # few attributes: each is a commit of its own
    return {
        "status": status,
        "reason": reason,
        "value": value if status == "ok" else None,
        "seed": record["seed"],
        "config": record["model"].get("config"),
        "metrics": metrics,
        # what a trial cost besides training and evaluating: host start, data load, messages
        "time": {"wall_s": wall, "overhead_s": max(0.0, wall - busy) if wall else None},
        "run": {k: record.get(k) for k in ("started", "finished", "software", "device")},
    }


def tuned_group(p: Plan) -> str:
    """The tuned board's group: a variant key, never the defaults board's."""
    group = f"{p.protocol.key}~tuned-{p.trials}"
    if p.criterion.name != criterion_for(p.protocol, None).name:
        group += f"-{p.criterion.name}"
    if p.trial_budget is not None:
        group += f"-budget{p.trial_budget}"
    return group


def board_requests(p: Plan, results_dir: Path) -> list[RunRequest]:
    """Each model's best configuration of its first ``p.trials`` counted trials (its
    defaults, said so, where it has no search space or no trial finished), per seed."""
    group = tuned_group(p)
    out = []
    for m in p.models:
        info, overrides = _best(p, m, results_dir)
        for seed in p.protocol.seeds:
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


def _best(p: Plan, m: _Model, results_dir: Path) -> tuple[dict[str, Any], tuple]:
    info: dict[str, Any] = {
        "trials": p.trials,
        "criterion": p.criterion.name,
        "criterion_text": p.criterion.describe(p.protocol),
        "uses_labels": p.criterion.uses_labels,
        "direction": p.criterion.direction,
        "sampler": p.sampler,
        "trial_budget": p.trial_budget,
        "trial_seed": p.protocol.seeds[0],
        "defaults_board": p.protocol.key,
        "space": "; ".join(f"{k}: {v}" for k, v in describe(m.entry.search_space).items()),
    }
    if m.study is None:
        return {**info, "searched": False, "chosen": "defaults (no search space)"}, ()
    trials = store.counted(m.study)[: p.trials]
    ok = [t for t in trials if t.state.name == "COMPLETE"]
    info.update(
        searched=True,
        study=str(m.opened.path.relative_to(results_dir)),
        values=tuple(t.value if t.state.name == "COMPLETE" else None for t in trials),
        failed=len(trials) - len(ok),
    )
    if not ok:
        if any(t.user_attrs.get("status") == "not-applicable" for t in trials):
            return {**info, "chosen": "not applicable to this data (nothing to tune)"}, ()
        return {**info, "chosen": f"defaults (all {len(trials)} trials failed)"}, ()
    sign = 1.0 if p.criterion.direction == "minimize" else -1.0
    best = min(ok, key=lambda t: (sign * t.value, t.number))  # a tie: the earlier trial
    overrides = {k: m.entry.search_space[k].value(v) for k, v in best.params.items()}
    info.update(
        chosen=f"best of {len(trials)} trials (trial {best.number})",
        best_trial=best.number,
        best_value=best.value,
        best_params=tuple(sorted(overrides.items())),
    )
    return info, tuple(sorted(overrides.items()))
