"""``python -m aebench.cli``: the same as the ``aebench`` command."""

import sys

from aebench.cli import main

sys.exit(main())
