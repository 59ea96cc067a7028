"""The baseline: the same functions on a hand-written WSGI app with the standard library.

``gunicorn raw_wsgi:app`` (from this folder).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from funcs import square
from model import predict

JSON_CONTENT_TYPE = "application/json"


def call_square(arguments: dict[str, Any]) -> Any:
    """``square``'s result, ready for :func:`json.dumps`."""
    return square(**arguments)


def call_predict(arguments: dict[str, Any]) -> Any:
    """``predict``'s result as a list, ready for :func:`json.dumps`."""
    return predict(**arguments).tolist()


ROUTES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "/square": call_square,
    "/predict": call_predict,
}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Decode the JSON body, call the function at the path, encode its result."""
    call = ROUTES.get(environ["PATH_INFO"])
    if call is None or environ["REQUEST_METHOD"] != "POST":
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    arguments = json.loads(environ["wsgi.input"].read(length)) if length else {}
    body = json.dumps(call(arguments)).encode()
    start_response(
        "200 OK", [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    )
    return [body]
