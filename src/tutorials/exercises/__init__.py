"""Self-checks for chapter exercises: call them on your own answers."""
