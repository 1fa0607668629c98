"""The hook specifications: the only door through which models and data sets arrive.

Every hook hands the plugin a callable instead of expecting a return value, so a plugin
registers any number of things and the host knows which plugin registered each.
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
