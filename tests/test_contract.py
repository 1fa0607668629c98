"""The contract suite over every registered plugin (the same module third parties run)."""

from aebench.testing import *  # noqa: F403
