"""Where a result came from: software versions, machine, git commit, device."""

from __future__ import annotations

import functools
import json
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

import aebench
from aebench.run import determinism

#: vector instruction sets named in /proc/cpuinfo's flags that change which kernels run
_VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "fma",
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "asimd",
    "sve",
    "sve2",
)


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    info = _cpuinfo()
    return (
        info.get("model name")
        or info.get("Model name")  # some Arm kernels
        or platform.processor()
        or platform.machine()
    )


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """The CPU as far as it decides floating-point results: model, microarchitecture ids,
    vector instruction sets, and the kernels torch picked for it (``cpu_capability``).

    A virtual machine may name only a brand ("AMD EPYC"); family and model then still tell
    one generation from another. ``kind`` is what ``aebench reproduce`` compares.
    """
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())

    def _int(key: str) -> int | None:
        try:
            return int(info[key], 0)
        except (KeyError, ValueError):
            return None

    out: dict[str, Any] = {
        "model_name": cpu_model(),
        "vendor": info.get("vendor_id") or info.get("CPU implementer"),
        "family": _int("cpu family"),
        "model": _int("model"),
        "stepping": _int("stepping"),
        "machine": platform.machine(),
        "vector_isa": [f for f in _VECTOR_FLAGS if f in flags],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    out["kind"] = cpu_kind(out)
    return out


def cpu_kind(cpu: dict[str, Any]) -> str:
    """``model name [vendor family F model M] / torch capability``: two machines of one kind
    run the same kernels on the same microarchitecture, so a run's bits repeat across them.
    Stepping is left out (it fixes errata, not arithmetic)."""
    ids = " ".join(
        str(x)
        for x in (
            cpu.get("vendor"),
            f"family {cpu['family']}" if cpu.get("family") is not None else None,
            f"model {cpu['model']}" if cpu.get("model") is not None else None,
        )
        if x
    )
    name = cpu.get("model_name") or "?"
    return f"{name} [{ids or cpu.get('machine') or '?'}] / {cpu.get('cpu_capability') or '?'}"


def math_libraries() -> dict[str, Any]:
    """torch's BLAS and oneDNN (MKL-DNN) builds and NumPy's BLAS, with the code path each
    chose for this CPU where it says (OpenBLAS's ``architecture``). Not cached: SciPy's BLAS
    is listed once something has loaded it."""
    config = torch.__config__.show()

    def _find(pattern: str) -> str | None:
        m = re.search(pattern, config)
        return m.group(1) if m else None

    libs: dict[str, Any] = {
        "torch_blas": _find(r"BLAS_INFO=(\w+)"),
        "torch_mkl": _find(r"Math Kernel Library Version ([\d.]+)"),
        "torch_onednn": _find(r"MKL-DNN v([\w.]+)")
        if torch.backends.mkldnn.is_available()
        else None,
        "python_blas": [],
    }
    try:
        # threadpoolctl reports only what is loaded: load both, so every record names the same
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_info

        loaded = threadpool_info()
    except Exception:  # threadpoolctl is best effort: provenance must not fail a run
        loaded = []
    # NumPy's and SciPy's wheels each bring their own OpenBLAS; both compute here
    keys = ("internal_api", "version", "architecture", "threading_layer")
    blas = [
        {"bundled_in": Path(i.get("filepath") or "?").parent.name, **{k: i.get(k) for k in keys}}
        for i in loaded
        if i.get("user_api") == "blas"
    ]
    # in a fixed order, not the order the libraries happened to load in
    libs["python_blas"] = sorted(blas, key=lambda b: json.dumps(b, sort_keys=True, default=str))
    return libs


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the aebench checkout, with ``-dirty`` when it has local changes."""
    root = Path(aebench.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def device_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device.type, "index": device.index}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["name"] = cpu_model()
        info["threads"] = torch.get_num_threads()
        info["cpu"] = cpu_info()
        info["cpu_kind"] = info["cpu"]["kind"]
    return info


def software() -> dict[str, Any]:
    import numpy
    import scipy
    import sklearn

    return {
        "aebench": aebench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "math_libraries": math_libraries(),
    }


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; one-line errors."""
    from aebench.errors import AebenchError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise AebenchError(
            f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise AebenchError(f"--device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise AebenchError(
                f"--device {name}: no CUDA device is available here; use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise AebenchError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
        determinism.before_cuda()  # before the process's first cuBLAS call, which reads it
    return dev
