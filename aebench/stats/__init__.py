"""Statistics on numbers only (no records, no boards): intervals over seeds (``intervals``), the
hierarchical paired bootstrap (``bootstrap``; a board's replicates from its records are built in
:mod:`aebench.report.replicates`), the expected best of n trials (``expected``)."""
