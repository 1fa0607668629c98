"""Image data sets for plugins (the documented import path; the code is in
:mod:`aebench.data.imagesets`)."""

from aebench.data.imagesets import *  # noqa: F403
from aebench.data.imagesets import __all__  # noqa: F401
