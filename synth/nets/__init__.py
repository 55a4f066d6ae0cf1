"""Network definitions (no I/O)."""
