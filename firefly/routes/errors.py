"""Errors answered from Flask, in firefly's JSON error format.

:func:`error_response` answers an :class:`~firefly.errors.HTTPError` a view
made (the readiness check, the model routes); :func:`http_error_response`
answers Flask's own HTTP errors (404, 405, 413, ...) the same way.
"""

from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from ..errors import HTTPError, error_for_status
from ..protocol import form_too_large_error
from ..responses import JSON_CONTENT_TYPE, encode_error


def error_response(error: HTTPError) -> flask.Response:
    """``error`` as ``{"error": message, ..., "request_id": ...}`` with its status."""
    body = encode_error(flask.request.environ, error)
    return flask.Response(body, error.status_code, mimetype=JSON_CONTENT_TYPE)


def http_error_response(
    error: HTTPException, max_content_length: int, max_form_parts: int
) -> flask.Response:
    """Flask's HTTP ``error`` as firefly's JSON error, with the headers it carries (``Allow``).

    :param max_content_length: the body limit, named by a 413's message.
    :param max_form_parts: the form parts limit, named by a 413's message.
    """
    request = flask.request
    status = error.code or 500
    if isinstance(error, NotFound):
        firefly_error = error_for_status(status, f"no function or route at {request.path!r}")
    elif isinstance(error, MethodNotAllowed):
        message = f"method {request.method} is not allowed for {request.path!r}"
        firefly_error = error_for_status(status, message)
    elif isinstance(error, RequestEntityTooLarge):
        firefly_error = form_too_large_error(request, max_content_length, max_form_parts)
    else:
        firefly_error = error_for_status(status, error.description or error.name)
    response = error_response(firefly_error)
    for header, value in error.get_headers():
        if header.lower() != "content-type":
            response.headers[header] = value
    return response
