"""A module that fails on import, for the loader's error messages."""

1 / 0
