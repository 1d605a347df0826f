"""Benchmarks, each a script that prints a table; run from the project root
with `.venv/bin/python -m benchmarks.<name>` (results: benchmarks/README.md)."""
