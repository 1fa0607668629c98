"""Command-line options shared by the commands that run models (``run`` and ``tune``)."""

from __future__ import annotations

import argparse

__all__ = ["execution_options"]


def execution_options(p: argparse.ArgumentParser) -> None:
    """Where and how runs execute (shared by ``run`` and ``tune``)."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data files / download cache (default $AEBENCH_DATA or user cache)",
    )
    p.add_argument("--no-download", action="store_true", help="never fetch missing data files")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch (default: torch's choice; recorded in each run)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="run N runs at once, each in a worker process of its own on this machine",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://HOST:8786 (a running scheduler) or local:N "
        "(N local workers); needs `pip install 'aebench[dask]'`",
    )
    p.add_argument(
        "--run-timeout",
        type=float,
        metavar="SECONDS",
        help="stop a run after this long (training + evaluation) and record it as timeout",
    )
