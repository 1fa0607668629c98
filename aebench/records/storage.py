"""Run records as JSON files: atomic writes, resume, tolerant reading.

A record is written to a temporary file in the target directory, flushed and fsynced, then
renamed over the final name, so a crash leaves either the old record or the new one, never
half of one. Temporary files left by a killed process are swept at the start of a run.

Reading is tolerant: a file that is not a record this version can read is reported in one line
and skipped. A run never overwrites such a file: one written by a newer aebench is left alone,
and one that is not a record at all is renamed aside (``*.unreadable-<time>``) before the run
is repeated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError, AebenchWarning

FORMAT_VERSION = 1
#: statuses after which a run is not repeated by a plain ``aebench run`` (failures are retried)
COMPLETE = frozenset({"ok", "not-applicable", "diverged"})
_TMP_PREFIX = ".aebench-tmp-"


def default_results_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    # not results/records: that folder holds the published records, which a run would resume
    return Path(os.environ.get("AEBENCH_RESULTS", "aebench-runs"))


def record_path(results_dir: Path, group: str, dataset: str, model: str, seed: int) -> Path:
    return results_dir / group / dataset / model / f"seed-{seed}.json"


class NewerFormat(AebenchError):
    """A record written by a newer aebench: never read as ours, never overwritten."""


def check_writable(results_dir: Path, record_paths: Iterable[Path] = ()) -> None:
    """Fail before any training if records could not be written (one-line error).

    Probes ``results_dir`` and, for each of ``record_paths``, the deepest folder of it that
    exists already (a read-only folder of one model would otherwise fail after hours).
    """
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_writable(results_dir, exc) from None
    folders = {results_dir}
    for path in record_paths:
        folder = path.parent
        while not folder.is_dir() and folder != results_dir and folder.parent != folder:
            folder = folder.parent
        folders.add(folder)
    for folder in sorted(folders):
        try:
            fd, probe = tempfile.mkstemp(prefix=_tmp_prefix(), dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise _not_writable(folder, exc) from None


def _not_writable(folder: Path, exc: OSError) -> AebenchError:
    return AebenchError(
        f"results directory {folder} is not writable ({exc.strerror or exc}); "
        "fix its permissions or pass --results-dir DIR"
    )


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically (temp file + fsync + rename)."""
    record = {k: v for k, v in record.items() if not k.startswith("_")}  # in-memory only
    blob = json.dumps(record, indent=1, sort_keys=True, allow_nan=False, default=_jsonable)
    atomic_write(path, blob + "\n")


def read_record(path: Path) -> dict[str, Any]:
    """Parse one record; raise AebenchError (one line) if it is not a record we can read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AebenchError(f"{path}: not a valid JSON record ({exc})") from None
    if not isinstance(data, dict) or "format" not in data or "status" not in data:
        raise AebenchError(f"{path}: not an aebench record (no format/status)")
    fmt = data["format"]
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise AebenchError(f"{path}: not an aebench record (format {fmt!r})")
    if fmt > FORMAT_VERSION:
        raise NewerFormat(
            f"{path}: record format {fmt!r} is newer than this aebench reads "
            f"({FORMAT_VERSION}); upgrade aebench"
        )
    missing = _missing_fields(data)
    if missing:
        raise AebenchError(f"{path}: not a complete aebench record (no {', '.join(missing)})")
    return data


def _missing_fields(data: dict[str, Any]) -> list[str]:
    """The fields every reader (leaderboards, statistics, pictures) relies on that are absent."""
    missing = [k for k in ("group", "protocol", "model", "dataset") if k not in data]
    missing += [k for k in ("protocol", "model", "dataset") if not isinstance(data.get(k), dict)]
    missing += [
        f"{k}.name"
        for k in ("model", "dataset")
        if not isinstance(data.get(k), dict) or "name" not in data[k]
    ]
    if not isinstance(data["status"], str):
        missing.append("status")
    if not isinstance(data.get("seed"), int):
        missing.append("seed")
    if data["status"] == "ok" and not isinstance(data.get("metrics"), dict):
        missing.append("metrics")
    return sorted(set(missing))


def record_state(path: Path) -> str:
    """What a run finds at ``path``: "missing", "complete", "retry" (a failed run),
    "newer" (a newer aebench's record) or "unreadable" (not a record we can read)."""
    if not path.exists():
        return "missing"
    try:
        return "complete" if read_record(path)["status"] in COMPLETE else "retry"
    except NewerFormat:
        return "newer"
    except AebenchError:
        return "unreadable"


def is_complete(path: Path) -> bool:
    return record_state(path) == "complete"


def set_aside(path: Path, why: str = "unreadable") -> Path:
    """Rename a record out of the way (kept for inspection, never overwritten); return the
    new path, ``<name>.<why>-<time>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    os.replace(path, target)
    return target


def left_alone(path: Path) -> bool:
    """A newer aebench's record is left as it is, even under --force: it is not ours to lose."""
    if record_state(path) != "newer":
        return False
    warnings.warn(
        f"{path}: written by a newer aebench; left as it is, not rerun",
        AebenchWarning,
        stacklevel=2,
    )
    return True


def set_aside_unreadable(paths: Iterable[Path]) -> None:
    """Rename files that are not records out of the way of the runs about to replace them."""
    for path in paths:
        if record_state(path) == "unreadable":
            kept = set_aside(path)
            warnings.warn(
                f"{path} is not a readable record; kept as {kept.name}, and the run is repeated",
                AebenchWarning,
                stacklevel=2,
            )


def load_records(results_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable record under ``results_dir`` and one line per file that was skipped."""
    records, problems = [], []
    if not results_dir.exists():
        return records, problems
    for path in sorted(results_dir.rglob("*.json")):
        if path.name.startswith(_TMP_PREFIX):
            continue
        try:
            rec = read_record(path)
        except AebenchError as exc:
            problems.append(str(exc))
            continue
        rec["_path"] = str(path)
        records.append(rec)
    return records, problems


def _tmp_prefix() -> str:
    # the writer's pid is in the name, so a sweep can tell a dead writer's leftovers from the
    # file another live aebench process is writing into the same results directory
    return f"{_TMP_PREFIX}{os.getpid()}-"


def _writer_alive(tmp: Path) -> bool:
    pid = tmp.name[len(_TMP_PREFIX) :].split("-", 1)[0]
    if not pid.isdigit():
        return False  # no pid in the name: an older aebench's leftover
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    return True


def sweep_temporaries(results_dir: Path) -> int:
    """Remove temporary files whose writer has died (a killed process's); return how many."""
    n = 0
    if results_dir.exists():
        for tmp in results_dir.rglob(_TMP_PREFIX + "*"):
            if _writer_alive(tmp):
                continue
            with contextlib.suppress(OSError):
                tmp.unlink()
                n += 1
    return n


def slug(text: str) -> str:
    """A file name for ``text`` (a model or board name a plugin chose): the text itself where it
    is already safe (lower-case letters, digits and ``._~-``), else its safe part and a hash of
    it, so no two names share a file."""
    safe = re.sub(r"[^a-z0-9._~-]+", "-", text.lower()).strip("-.")[:60]
    if safe == text and safe:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{safe}-{digest}" if safe else digest


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a record")
