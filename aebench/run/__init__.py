"""One run -> one record: the grid, data preparation, the training run, evaluation, metrics,
thresholds, NLL example selection, determinism, provenance and implementation fingerprints."""
