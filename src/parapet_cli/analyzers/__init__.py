"""Static analyzers of the host's Python code that report through the doctor framework."""
