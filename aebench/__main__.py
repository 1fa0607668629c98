"""``python -m aebench``: the same as the ``aebench`` command."""

import sys

from aebench.cli import main

sys.exit(main())
