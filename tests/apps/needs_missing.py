"""A module whose import needs a package that is not installed."""

import not_installed_package  # noqa: F401


def f():
    return 1
