"""Many runs: the suite, its executors (processes, Dask), run hosts, and reproduce."""
