"""A function call that asked to run in the background: checked, queued, answered ``202``.

``Prefer: respond-async`` (RFC 7240) or ``?async=true`` asks for it; a
function configured ``async_only`` runs so whatever the request says. The
call gets the same token check (the middleware, before this) and argument
validation as a sync call, so a call that cannot run is a ``401`` or ``422``
at once, never a ``202``. The arguments are stored as the caller sent them
and checked again when the execution runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from ..dispatch import FunctionEndpoint
from ..encoding import dumps
from ..errors import BadRequestError, HTTPError, ServiceUnavailableError
from ..files import is_file
from ..protocol import EXECUTION_KEY, FUNCTION_KEY, read_arguments
from ..responses import error_response, json_response
from .model import Backend, QueueFullError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

EXECUTIONS_PATH = "/-/executions"
#: Seconds a caller refused for a full queue is asked to wait (``Retry-After``).
RETRY_AFTER = "1"
TRUE = ("1", "true", "yes")


def unavailable(error: Exception) -> ServiceUnavailableError:
    """The 503 of a backend whose database or Redis cannot be reached."""
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ServiceUnavailableError(f"the executions' backend is unavailable: {cause}")


def wants_async(environ: WSGIEnvironment) -> bool:
    """Whether the request prefers ``respond-async`` or says ``?async=true``."""
    prefer = environ.get("HTTP_PREFER")
    if prefer and "respond-async" in (token.strip().lower() for token in prefer.split(",")):
        return True
    query = environ.get("QUERY_STRING")
    return bool(query) and parse_qs(query).get("async", [""])[-1].lower() in TRUE


class AsyncEndpoint:
    """A function's endpoint that queues the calls asking to run in the background.

    :param endpoint: the function's endpoint, which answers the sync calls.
    :param backend: gives the backend once the worker has started.
    :param async_only: queue every call, whatever it asks.
    """

    def __init__(
        self,
        endpoint: FunctionEndpoint,
        backend: Callable[[], Backend],
        async_only: bool,
    ):
        self.endpoint = endpoint
        self.backend = backend
        self.async_only = async_only
        self.name = endpoint.spec.name

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self.async_only and (
            # most calls carry neither, and are answered with no further look
            not (environ.get("HTTP_PREFER") or environ.get("QUERY_STRING"))
            or not wants_async(environ)
        ):
            return self.endpoint(environ, start_response)
        if environ["REQUEST_METHOD"] != "POST":
            return self.endpoint(environ, start_response)
        environ[FUNCTION_KEY] = self.name
        endpoint = self.endpoint
        try:
            arguments = read_arguments(
                environ, endpoint.max_content_length, endpoint.max_form_parts
            )
            if any(is_file(value) for value in arguments.values()):
                raise BadRequestError(
                    f"an asynchronous call of {self.name!r} takes JSON arguments, not files"
                )
            endpoint.validate(dict(arguments))
            key = environ.get("HTTP_IDEMPOTENCY_KEY") or None
            backend = self.backend()
            try:
                execution = backend.submit(self.name, arguments, key)
            except backend.unavailable as error:
                raise unavailable(error) from error
        except HTTPError as error:
            headers = [("Retry-After", RETRY_AFTER)] if error.status_code == 503 else None
            return error_response(environ, start_response, error, headers)
        except QueueFullError as error:
            refused = ServiceUnavailableError(
                f"cannot queue {self.name!r}: the execution queue is full ({error}); retry later"
            )
            return error_response(environ, start_response, refused, [("Retry-After", RETRY_AFTER)])
        environ[EXECUTION_KEY] = execution.id
        headers = [
            ("Location", f"{EXECUTIONS_PATH}/{execution.id}"),
            ("Preference-Applied", "respond-async"),
        ]
        body = dumps({"id": execution.id, "status": execution.status})
        return json_response(start_response, 202, body, headers)
