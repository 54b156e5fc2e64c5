"""What every flow shares before any stage runs: the config loaded once, run names, the
guarded local Prefect server of the CLI."""
