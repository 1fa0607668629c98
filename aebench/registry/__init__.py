"""Plugin loading and the registry: entry points in the ``aebench`` group (allow and deny
lists, name clashes) and the models, data sets and protocols they register."""

from aebench.registry.entries import Clash, DatasetEntry, ModelEntry, Origin, Registry
from aebench.registry.loading import allowed_from_env, disabled_from_env, load_registry

__all__ = [
    "Clash",
    "DatasetEntry",
    "ModelEntry",
    "Origin",
    "Registry",
    "allowed_from_env",
    "disabled_from_env",
    "load_registry",
]
