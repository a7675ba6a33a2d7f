"""Lab scripts: percent-format Python files rendered as pages and run from the command line."""
