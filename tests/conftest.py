"""Shared fixtures: fake installed distributions for plugin tests, the shared data path, the
``aebench`` command run in this process (``run_cli``) or in a new one (``run_cli_subprocess``,
``start_cli``), and the records and real data every test shares."""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import traceback
import warnings
from pathlib import Path
from typing import Any

# One thread everywhere (torch, numpy's BLAS, and the processes tests start): the data are
# tiny, and a second thread per process only thrashes on a busy 2-core machine. Before torch
# and numpy are imported, for their pools; threadpoolctl for a pool that already exists.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
try:
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
except (ImportError, ValueError):
    pass
SHARED_DATA = REPO.parent / "shared" / "data"


#: pytest-timeout's limit for the opt-in long tiers (pyproject's default, 300 s, is for the rest)
LONG_TIMEOUT_S = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` and ``benchmark`` tests run whole grids on real data: a longer hang guard
    unless the test sets its own."""
    for item in items:
        long = item.get_closest_marker("slow") or item.get_closest_marker("benchmark")
        if long and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT_S))


def make_distribution(
    site: Path,
    dist: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
    version: str = "1.0",
) -> Path:
    """Write an installed distribution (dist-info + modules) into ``site``.

    importlib.metadata finds it like any pip-installed package once ``site`` is on sys.path.
    """
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "[aebench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(eps)
    for name, src in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(src))
    return site


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A directory on sys.path (and PYTHONPATH for subprocesses) for fake distributions."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    importlib.invalidate_caches()
    yield site
    _forget_foreign_modules()  # what this test's plugins left imported


def _cli_env(env: dict[str, str] | None) -> dict[str, str]:
    # one thread: the tests' models are tiny, and two threads thrash on a busy 2-core machine
    return {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", **(env or {})}


class CliResult(subprocess.CompletedProcess):
    """What ``run_cli`` gives back, in-process or not: returncode, stdout, stderr."""


#: modules that stay imported between in-process calls: aebench, the built-in plugins, the
#: tests' own helpers, the standard library and what the virtualenv installed. Anything else
#: (a plugin a test wrote into a temporary site) is forgotten before and after each call, so
#: the next call imports the files as they are then, as a new process would.
_KEPT = tuple(
    str(Path(p).resolve())
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, REPO / "aebench", REPO / "plugins"}
) + (str(Path(__file__).resolve().parent),)


_foreign: dict[str, bool] = {}


def _forget_foreign_modules() -> None:
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or name.startswith("__"):  # __main__: the runner's
            continue
        if file not in _foreign:
            _foreign[file] = not os.path.realpath(file).startswith(_KEPT)
        if _foreign[file]:
            del sys.modules[name]
    importlib.invalidate_caches()
    try:  # a plugin's code is fingerprinted once per module name: reread it next call
        from aebench.run import implementation

        implementation._module_code.cache_clear()
    except (ImportError, AttributeError):
        pass


def _set_environ(target: dict[str, str]) -> None:
    """Make os.environ equal ``target``, touching only the variables that differ."""
    for key in [k for k in os.environ if k not in target]:
        del os.environ[key]
    for key, value in target.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``aebench ARGS`` in this process: ``aebench.cli.main(args)`` with the environment
    (``env`` on top of ours, ``PYTHONPATH`` entries put on sys.path), working directory
    (default: the checkout) and output of a fresh ``aebench`` process, and everything it may
    change restored afterwards (environment, cwd, sys.path, torch's threads and switches,
    signal handlers, warning filters). The same ``main`` a console script calls; the tests
    that check the process boundary itself use ``run_cli_subprocess``. ``timeout`` is kept
    for the subprocess form's callers: in-process, pytest-timeout stops a hang.
    ``AEBENCH_TEST_CLI=subprocess`` runs every call in a new process instead (to compare)."""
    if os.environ.get("AEBENCH_TEST_CLI") == "subprocess":
        return run_cli_subprocess(*args, env=env, cwd=cwd, timeout=timeout)
    from aebench.cli import main

    new_env = _cli_env(env)
    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    saved_torch = (torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype())
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_bytecode = sys.dont_write_bytecode
    extra = [p for p in new_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    out, err = io.StringIO(), io.StringIO()
    try:
        _set_environ(new_env)
        sys.path[:0] = [p for p in extra if p not in sys.path]
        sys.dont_write_bytecode = True  # a test may rewrite a plugin within the same second
        _forget_foreign_modules()
        os.chdir(cwd or REPO)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's --help and --version
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # --debug lets it out: what the interpreter would print
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        _set_environ(saved_env)  # and drop what the command added (CUBLAS_WORKSPACE_CONFIG)
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_bytecode
        _forget_foreign_modules()
        torch.set_num_threads(saved_torch[0])
        torch.set_grad_enabled(saved_torch[1])
        torch.set_default_dtype(saved_torch[2])
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
    return CliResult(["aebench", *args], code, out.getvalue(), err.getvalue())


def run_cli_subprocess(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    **popen: Any,
) -> subprocess.CompletedProcess:
    """``aebench ARGS`` in a subprocess, as a user would run it (``popen``: more for Popen),
    for the tests whose subject is the process: its limits, privileges, exit and signals."""
    return subprocess.run(
        [sys.executable, "-m", "aebench.cli", *args],
        capture_output=True,
        text=True,
        env=_cli_env(env),
        cwd=cwd or REPO,
        timeout=timeout,
        **popen,
    )


def start_cli(*args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:
    """``aebench ARGS`` started in a subprocess and left running; its output goes to ``log``
    (``.out`` and ``.err``), so a test can signal it while it works."""
    return subprocess.Popen(
        [sys.executable, "-m", "aebench.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=open(log.with_suffix(".out"), "w"),  # noqa: SIM115 - the child holds it
        stderr=open(log.with_suffix(".err"), "w"),  # noqa: SIM115
        text=True,
        env=_cli_env(env),
        cwd=REPO,
        # as at a terminal: a test run started as a background job inherits SIGINT ignored,
        # and Python then installs no KeyboardInterrupt handler, so Ctrl-C could not be tried
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def install_faulty_plugins(site: Path) -> dict[str, str]:
    """Install ``faulty_plugin.py`` (distribution aebench-faulty) and a plugin whose import
    raises (aebench-broken) into ``site``; return the environment a subprocess needs."""
    source = (Path(__file__).parent / "faulty_plugin.py").read_text()
    make_distribution(
        site, "aebench-faulty", {"aebench_faulty": source}, {"faulty": "aebench_faulty"}
    )
    make_distribution(
        site,
        "aebench-broken",
        {"aebench_broken": "raise RuntimeError('injected fault: import fails')\n"},
        {"broken": "aebench_broken"},
    )
    return {"PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}


#: the small grid behind ``digits_records``: pca and mean on digits (its current protocol),
#: seeds 0 and 1, a training budget of seconds
DIGITS_GRID = ("-m", "pca,mean", "--seeds", "0,1", "--budget", "2000", "--threads", "1", "-q")


@pytest.fixture(scope="session")
def digits_records(tmp_path_factory) -> Path:
    """``aebench run DIGITS_GRID`` once per session: a results directory for the tests that
    only read records (show, export, plot, publish, merge). Never write into it; a test that
    damages or adds records works on ``copy_of(digits_records, tmp_path)``."""
    rd = tmp_path_factory.mktemp("digits-records") / "runs"
    res = run_cli("run", *DIGITS_GRID, "--results-dir", str(rd))
    assert res.returncode == 0, res.stderr
    before = _contents(rd)
    yield rd
    assert _contents(rd) == before, "a test changed the shared digits_records: use copy_of"


def _contents(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def copy_of(records: Path, tmp_path: Path, name: str = "runs") -> Path:
    """A copy of a shared results directory (``digits_records``) for one test to change."""
    out = tmp_path / name
    shutil.copytree(records, out)
    return out


@pytest.fixture(autouse=True, scope="session")
def _real_data_read_once():
    """The image sets in ../shared/data (read-only) are read, checked and hashed once per
    session; each load gets its own copy of the arrays, so a model that writes into its input
    cannot reach the next test. Generated files (anywhere else) are read every time."""
    from aebench.data import imagesets

    read = imagesets.load_image_set
    cache: dict[str, imagesets.ImageArrays] = {}
    shared = os.path.realpath(SHARED_DATA)

    def load_image_set(images, data_dir, download=True):
        if os.path.realpath(data_dir) != shared:
            return read(images, data_dir, download)
        if images.folder not in cache:
            cache[images.folder] = read(images, data_dir, download)
        data = cache[images.folder]
        return imagesets.ImageArrays(
            {k: v.copy() for k, v in data.x.items()},
            {k: v.copy() for k, v in data.y.items()},
            copy.deepcopy(data.provenance),
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(imagesets, "load_image_set", load_image_set)
        yield
