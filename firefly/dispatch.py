"""The hot path: function calls answered on WSGI, in front of Flask.

:class:`FunctionDispatcher` looks the request path up in a dict built at
start-up. A function's path goes to its :class:`FunctionEndpoint`, which
reads the body once, checks the arguments, calls the function's ``invoke``
(the call pipeline, :func:`firefly.features.build_invoke`) and encodes the
result once; every other path falls through to Flask. Function calls
therefore skip Flask's request context, ``before_request``/``after_request``
hooks and error handlers (docs/python.rst says which hooks see what).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .encoding import dumps
from .errors import HTTPError, MethodNotAllowedError, RemoteError
from .features import Invoke
from .files import is_file
from .protocol import EXCEPTION_KEY, FUNCTION_KEY, REQUEST_ID_KEY, ArgumentChecker, read_arguments
from .registry import FunctionSpec
from .responses import STATUS_LINES, Headers, error_response, file_response, json_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("firefly")

ALLOWED_METHODS = "POST, OPTIONS"
#: Results that are never files: checked first, as asking an int for ``read`` raises inside.
PLAIN_RESULTS = frozenset({int, float, str, bool, list, dict, tuple, type(None)})


class Endpoint:
    """What every endpoint of the fast path answers alike: other methods, and a failed call."""

    #: What the endpoint calls, for messages and logs: ``function 'square'``.
    what: str

    def _answer_other_method(
        self, environ: WSGIEnvironment, start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        allow = [("Allow", ALLOWED_METHODS)]
        if method == "OPTIONS":
            start_response(STATUS_LINES[204], allow)
            return []
        error = MethodNotAllowedError(f"method {method} is not allowed for {self.what}: use POST")
        response = error_response(environ, start_response, error, allow)
        return [] if method == "HEAD" else response  # HEAD answers carry no body

    def _call_failed(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        error: Exception,
        prefix: str = "",
        headers: Headers | None = None,
    ) -> Iterable[bytes]:
        logger.exception("%s failed (request id %s)", self.what, environ.get(REQUEST_ID_KEY))
        remote_type = environ[EXCEPTION_KEY] = type(error).__name__
        remote_error = RemoteError(f"{prefix}{remote_type}: {error}", type=remote_type)
        return error_response(environ, start_response, remote_error, headers)


class FunctionEndpoint(Endpoint):
    """Answers the requests to one function's path.

    With ``validate`` on, a function with type hints gets its arguments
    checked and coerced by its :class:`~firefly.schema.FunctionSchema`;
    otherwise only their names are checked against the signature. The
    arguments then go to ``invoke``: the function itself, or the features
    switched on for it wrapped around it.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        max_content_length: int,
        validate: bool = True,
        invoke: Invoke | None = None,
        *,
        max_form_parts: int,
    ):
        self.spec = spec
        self.name = spec.name
        self.what = f"function {spec.name!r}"
        self.invoke = invoke or spec.func
        self.max_content_length = max_content_length
        self.max_form_parts = max_form_parts
        if validate and spec.schema.hinted:
            self.validate = spec.schema.validate
        else:
            self.validate = ArgumentChecker.for_signature(spec.name, spec.signature).validate

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[FUNCTION_KEY] = self.name
        method = environ["REQUEST_METHOD"]
        if method != "POST":
            return self._answer_other_method(environ, start_response, method)
        try:
            arguments = self.validate(
                read_arguments(environ, self.max_content_length, self.max_form_parts)
            )
        except HTTPError as error:
            return error_response(environ, start_response, error)
        try:
            result = self.invoke(**arguments)
        except HTTPError as error:  # raised on purpose: its status is the answer
            environ[EXCEPTION_KEY] = type(error).__name__
            return error_response(environ, start_response, error)
        except Exception as error:
            return self._call_failed(environ, start_response, error)
        if type(result) not in PLAIN_RESULTS and is_file(result):
            return file_response(environ, start_response, result)
        try:
            body = dumps(result)
        except TypeError as error:
            return self._call_failed(environ, start_response, error, "cannot encode result: ")
        return json_response(start_response, 200, body)

    def call(self, arguments: dict[str, Any]) -> Any:
        """Call the function as a request would: arguments checked, then invoked (warm-up calls)."""
        return self.invoke(**self.validate(dict(arguments)))

    def run(self, arguments: dict[str, Any]) -> Any:
        """Call the function itself, arguments checked, with none of the features' wrappers
        around it: an execution runs it away from any request (no request timeout, no log)."""
        return self.spec.func(**self.validate(dict(arguments)))


class FunctionDispatcher:
    """Routes a function's (or model method's) path to its endpoint, every other path to
    ``fallback``."""

    def __init__(self, endpoints: dict[str, WSGIApplication], fallback: WSGIApplication):
        self.endpoints = endpoints
        self.fallback = fallback

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[Any]:
        endpoint = self.endpoints.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.fallback(environ, start_response)
        return endpoint(environ, start_response)
