"""What counts as a file object, for the server (a result to stream) and the client (an upload).

It imports nothing, so that :mod:`firefly.client` may share it without the server's modules.
"""

from __future__ import annotations

from typing import Any


def is_file(value: Any) -> bool:
    """Whether ``value`` is a file object: it has a callable ``read``."""
    return hasattr(value, "read") and callable(value.read)
