"""Data validation that stops the run on anomalies."""
