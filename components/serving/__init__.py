"""The TF Serving model directory and the push into it."""
