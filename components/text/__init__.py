"""Text processing shared by Transform, training and the served graph."""
