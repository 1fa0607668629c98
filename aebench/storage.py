"""Run records as JSON files: atomic writes, resume, tolerant reading.

A record is written to a temporary file in the target directory, flushed and fsynced, then
renamed over the final name, so a crash leaves either the old record or the new one, never
half of one. Temporary files left by a killed process are swept at the start of a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aebench.errors import AebenchError

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


def check_writable(results_dir: Path) -> None:
    """Fail before any training if records could not be written (one-line error)."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=results_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AebenchError(
            f"results directory {results_dir} is not writable ({exc.strerror or exc}); "
            "fix its permissions or pass --results-dir DIR"
        ) from None


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
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
    if not isinstance(data["format"], int) or data["format"] > FORMAT_VERSION:
        raise AebenchError(
            f"{path}: record format {data['format']!r} is newer than this aebench reads "
            f"({FORMAT_VERSION}); upgrade aebench"
        )
    return data


def is_complete(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return read_record(path)["status"] in COMPLETE
    except AebenchError:
        return False


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


def sweep_temporaries(results_dir: Path) -> int:
    """Remove temporary files a killed process left behind; return how many."""
    n = 0
    if results_dir.exists():
        for tmp in results_dir.rglob(_TMP_PREFIX + "*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                n += 1
    return n


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a record")
