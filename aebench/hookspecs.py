"""The hook specifications: the only door through which models and data sets arrive, and
through which experiment trackers hear of the runs recorded.

The registration hooks hand the plugin a callable instead of expecting a return value, so a
plugin registers any number of things and the host knows which plugin registered each.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("aebench")


@hookspec
def aebench_register_models(register):
    """Register model plugins.

    :param register: call ``register(name, factory, config=ConfigClass, description=..., tags=...,
        search_space=...)`` once per model; ``factory(spec, code_size, config)`` builds an
        :class:`aebench.Model`. ``config`` is a dataclass whose fields all have defaults, with
        a ``tiny()`` classmethod for the contract suite; the model class declares
        ``capabilities`` and, where they differ from the defaults, ``capabilities_for(config)``
        and ``lr_field`` (see :class:`aebench.Model`). ``search_space`` maps config fields to
        ``aebench.tuning`` ranges (``Float(lo, hi, log=...)``, ``Int(lo, hi)``,
        ``Choice(a, b, ...)``) that ``aebench tune`` searches; without it the model is tuned
        over nothing.
    """


@hookspec
def aebench_register_datasets(register):
    """Register data sets and the protocols they define.

    :param register: call ``register(name, factory, protocols=[Protocol, ...], description=...,
        default=False, from_files=None)`` once per data set; ``factory()`` builds an
        :class:`aebench.Dataset`. Each protocol is checked when it is made and again here: an
        invalid one skips the plugin, named. A data set that reads a user's own files passes
        ``from_files(path, options) -> Protocol``, which ``aebench run -d PATH`` calls to
        derive the protocol (``options``: the ``--data-option KEY=VALUE`` pairs).
    """


@hookspec
def aebench_run_recorded(record, record_path, arrays_path, options):
    """A run's record was written: hand it to an experiment tracker (MLflow, W&B, ...).

    Called by ``aebench run`` once per record it writes, after the record (and its arrays and
    saved weights) are safely on disk, never for a record a resumed suite skips. A plugin that
    raises is reported once per suite as a one-line warning; the record stays as written.
    If the process dies while plugins run, the next ``aebench run`` on that results directory
    calls them again for that record, so a plugin logs idempotently (e.g. it tags what it
    logs with ``record["run_id"]`` and the record file's SHA-256 and skips what it finds).

    :param record: the record as stored (a plain dict: ``run_id``, ``status``, ``protocol``,
        ``model`` with its ``config``, ``seed``, ``metrics``, ``learning`` with the loss and
        validation curves, ...).
    :param record_path: the record's JSON file (a :class:`pathlib.Path`).
    :param arrays_path: its per-example arrays (``.npz``), or None for a run that stored none.
    :param options: what the command line asked of trackers (a dict of str to str, e.g.
        ``{"mlflow": "1", "mlflow_uri": "sqlite:///runs.db"}`` from ``--mlflow-uri``); a plugin
        reads its own keys and otherwise its environment variables.
    """
