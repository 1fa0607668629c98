"""Records -> outputs, in the order a board is made:

- ``board``: the board model (columns, rows, cells) every output formats;
- ``rows``, ``build``, ``families``, ``nll_alignment``, ``captions``, ``tuning``: boards from
  stored records (one per protocol version and data set, and per family); ``gate``: the
  learning gate (rows that did not learn or did not converge: shown, never marked or ranked);
- ``replicates``, ``significance``, ``flags``: a board's bootstrap resamples, intervals and
  marks; ``verdict``: what a board says first (row order, verdict lines, ▲/= marks, the short
  caption); ``compare``: two rows, metric by metric; ``ranking``: ranks across boards;
- ``formats`` (terminal, markdown, LaTeX, CSV), ``frames`` (pandas), ``plots`` (figures),
  ``literature`` (reproduced vs published);
- ``publication`` (the one object every published output renders), ``publish`` (its files)
  and ``site`` (its pages).
"""
