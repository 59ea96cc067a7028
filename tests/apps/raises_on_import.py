"""A module whose import raises: serving it must fail with one line, not a traceback."""

raise RuntimeError("this module fails on import")
