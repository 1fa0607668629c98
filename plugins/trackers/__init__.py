"""Built-in experiment-tracker plugins: each one implements ``aebench_run_recorded``."""
