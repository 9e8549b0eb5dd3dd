"""The `platform` command line (typer)."""
