"""A module that fails on import, for the loader's error messages."""

VALUE = 1 / 0
