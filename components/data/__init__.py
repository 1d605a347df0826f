"""Parallel-corpus input: reading, validating and downloading."""
