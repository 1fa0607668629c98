"""Statistics on numbers only (no records, no boards): intervals over seeds, the hierarchical
paired bootstrap, the expected best of n trials."""
