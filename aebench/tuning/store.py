"""The study store: one Optuna study per (protocol, data set, model, budget) in an SQLite file.

``<results-dir>/tuning/<protocol-key>/<dataset>/<model>~sh-<total>.sqlite3`` (a named criterion
adds ``~<criterion>``). Each trial is one run: a configuration at one rung on one seed, its
rung, budget, seed, configuration and validation figure in the trial's user attributes. Only
the tuning process writes it, one told run at a time, so a kill loses no finished run; a run
a kill left running is marked failed (``status`` absent: interrupted) when the study is next
opened, and the search asks for it again. The study's identity (protocol fingerprint, model,
criterion, bracket, sampler, search space) is stored with it and checked before anything is
written, so a file that belongs elsewhere is refused, never extended. Studies of the earlier
method (``<model>.sqlite3``, format 1: trials at one budget) are read by nothing here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError
from aebench.protocol import Protocol
from aebench.tuning.criteria import DEFAULT, Criterion
from aebench.tuning.halving import Bracket

__all__ = [
    "FORMAT",
    "OpenStudy",
    "StudyKey",
    "check_file",
    "counted",
    "interrupted",
    "open_study",
    "study_path",
]

FORMAT = 2
_ATTR = "aebench"
#: identity fields: a study continues only where all of them agree
_IDENTITY = ("protocol", "fingerprint", "dataset", "model", "criterion")
#: the bracket: another one plans other rungs, so it is another study
_BRACKET = ("total", "eta", "rungs", "top_seeds")


@dataclass(frozen=True)
class StudyKey:
    """What makes two tuning runs the same study."""

    protocol: Protocol  #: the protocol the board is run under (its budget: the top rung's)
    dataset: str
    model: str
    criterion: Criterion
    sampler: str
    seed: int
    space: dict[str, str]
    bracket: Bracket

    def attrs(self) -> dict[str, Any]:
        b = self.bracket
        return {
            "format": FORMAT,
            "method": "successive-halving",
            "protocol": self.protocol.key,
            "fingerprint": self.protocol.fingerprint(),
            "dataset": self.dataset,
            "model": self.model,
            "criterion": self.criterion.name,
            "direction": self.criterion.direction,
            "sampler": self.sampler,
            "seed": self.seed,
            "space": self.space,
            **{k: getattr(b, k) for k in _BRACKET},
            "rung_budgets": b.budgets(),
        }


def study_path(results_dir: Path, key: StudyKey) -> Path:
    name = f"{key.model}~sh-{key.bracket.total}"
    if key.criterion.name != DEFAULT.get(key.protocol.task):
        name += f"~{key.criterion.name}"
    return results_dir / "tuning" / key.protocol.key / key.dataset / f"{name}.sqlite3"


def _storage(path: Path):
    """Optuna's RDB storage on ``path``, in SQLite's write-ahead-log mode: a trial told is a
    commit a killed process cannot undo, at a fraction of the default journal's syncing."""
    import optuna
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")

    def on_connect(con, _record) -> None:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")

    event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # the connection made before the listener goes
    return storage


def check_file(path: Path) -> None:
    """Refuse, in one line and without writing to it, a file that is not an Optuna study."""
    try:
        con = sqlite3.connect(path)
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {r[0] for r in rows}
            check = con.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise AebenchError(
            f"study file {path} is not a readable SQLite database ({exc}); move it aside "
            "(the study then starts over) or restore it from a backup"
        ) from None
    if check != "ok":
        raise AebenchError(
            f"study file {path} is damaged (SQLite quick_check: {check}); move it aside "
            "(the study then starts over) or restore it from a backup"
        )
    if not {"studies", "trials"} <= tables:
        raise AebenchError(
            f"{path} is an SQLite file but not an Optuna study; move it aside or pass another "
            "--results-dir"
        )


def _lock(path: Path):
    """An exclusive lock for this process's lifetime: two tune processes on one study would
    each take the other's running trials for interrupted ones."""
    handle = open(path.with_name(path.name + ".lock"), "a+")  # noqa: SIM115 - held open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AebenchError(
            f"study {path} is being tuned by another aebench process; wait for it to finish "
            "or stop it"
        ) from None
    return handle


def _sampler(name: str, seed: int):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        # the constant liar keeps parallel trials of one batch from all asking for one point
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    raise AebenchError(f"--sampler {name}: choose random or tpe")


def _create(path: Path, key: StudyKey) -> None:
    """A new study file, complete before it takes its name (a kill leaves none or a whole one)."""
    import optuna

    tmp = path.with_name(f".aebench-tmp-{os.getpid()}-{path.name}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    storage = _storage(tmp)
    study = optuna.create_study(
        storage=storage, study_name=_ATTR, direction=key.criterion.direction
    )
    study.set_user_attr(_ATTR, {**key.attrs(), "created": datetime.now(timezone.utc).isoformat()})
    storage.engine.dispose()  # the last connection checkpoints the log into the file
    os.replace(tmp, path)


def _check_identity(path: Path, found: dict[str, Any] | None, key: StudyKey) -> None:
    want = key.attrs()
    if not found or found.get("format") != FORMAT:
        raise AebenchError(
            f"{path} is an Optuna study that aebench did not write; move it aside or pass "
            "another --results-dir"
        )
    if any(found.get(k) != want[k] for k in _IDENTITY):
        raise AebenchError(
            f"study file {path} holds a study of {found.get('model')} on "
            f"{found.get('protocol')}/{found.get('dataset')} (fingerprint "
            f"{found.get('fingerprint')}, criterion {found.get('criterion')}), not of "
            f"{key.model} on {want['protocol']}/{key.dataset} (fingerprint {want['fingerprint']}, "
            f"criterion {key.criterion.name}); move it back where it belongs"
        )
    if found.get("sampler") != key.sampler:
        raise AebenchError(
            f"study {path} was sampled with --sampler {found.get('sampler')}; continue it with "
            f"that sampler, or move the file aside to start over with {key.sampler}"
        )
    if any(found.get(k) != want[k] for k in _BRACKET):
        found_args = " ".join(f"--{k.replace('_', '-')} {found.get(k)}" for k in _BRACKET[1:])
        raise AebenchError(
            f"study {path} was planned with {found_args}; continue it with those, or move the "
            "file aside to start over with the new bracket"
        )
    if found.get("space") != key.space:
        raise AebenchError(
            f"the search space of {key.model} changed since study {path} began; move the file "
            "aside to start a new study over the new space"
        )


@dataclass
class OpenStudy:
    """A study this process holds the lock of, until ``close``."""

    study: Any
    path: Path
    storage: Any
    lock: Any

    def close(self) -> None:
        self.storage.engine.dispose()  # the last connection checkpoints the log into the file
        self.lock.close()


def open_study(results_dir: Path, key: StudyKey) -> OpenStudy:
    """The study at its path, created or continued; interrupted runs are marked so (the
    search asks for them again). Refuses a file that is not this study before writing
    anything to it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = study_path(results_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(path)
    try:
        if path.exists():
            check_file(path)
        else:
            _create(path, key)
        storage = _storage(path)
        try:
            study = optuna.load_study(
                study_name=_ATTR,
                storage=storage,
                sampler=_sampler(key.sampler, key.seed),
            )
        except KeyError:
            raise AebenchError(
                f"{path} is an Optuna study file that aebench did not write (no study named "
                f"{_ATTR!r}); move it aside or pass another --results-dir"
            ) from None
        _check_identity(path, study.user_attrs.get(_ATTR), key)
        _recover(study)
        # a seeded sampler restarted from its seed would repeat the trials it already drew:
        # seed it by the study's length, so a continued study stays reproducible
        study.sampler = _sampler(key.sampler, key.seed + len(study.trials))
    except BaseException:
        lock.close()
        raise
    return OpenStudy(study, path, storage, lock)


def _recover(study) -> None:
    """Settle the runs a dead process left RUNNING (the lock says none is alive).

    ``status`` is the last thing stored before a run is told, so one that has it had
    finished: it is told now from what it stored. One without was cut off: it becomes FAIL
    without a ``status`` (what marks it interrupted); the search sees the run missing and asks
    for it again.
    """
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        status, value = t.user_attrs.get("status"), t.user_attrs.get("value")
        if status == "ok" and value is not None:
            study.tell(t.number, value)
        else:
            study.tell(t.number, state=TrialState.FAIL)


def interrupted(trial) -> bool:
    """Every trial aebench tells carries a ``status``; one without was cut off by a stop."""
    return trial.state.name == "FAIL" and "status" not in trial.user_attrs


def counted(study) -> list:
    """The runs that count, in trial order: finished or failed ones, not those interrupted
    (the search asks for them again)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    return [t for t in trials if not interrupted(t)]
