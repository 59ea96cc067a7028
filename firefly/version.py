"""The version of firefly, read by setup.py and reported by ``GET /``."""

__version__ = "1.0.0"
