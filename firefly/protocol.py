"""The request side of a function call: read the body once, decode it, check the arguments.

Everything here works on the WSGI environ directly, so a function call costs
no more than it must (see docs/performance.rst); :mod:`firefly.responses` is
the other side.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from .encoding import JSONDecodeError, loads
from .errors import BadRequestError, PayloadTooLargeError, ValidationError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

REQUEST_ID_KEY = "firefly.request_id"
FUNCTION_KEY = "firefly.function"  # environ key: name of the function a request calls
EXCEPTION_KEY = "firefly.exception"  # environ key: class name of the exception it raised
SERVER_ERROR_KEY = "firefly.server_error"  # environ key: (error, headers) a worker answers
ABANDONED_KEY = "firefly.abandoned"  # environ key: set on a call the worker answered 504
STARTED_KEY = "firefly.started"  # environ key: perf_counter() when a request began to arrive


def read_arguments(environ: WSGIEnvironment, max_content_length: int) -> dict[str, Any]:
    """The keyword arguments a request carries: its JSON object body, or its form parts."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data"):
        return _read_form(environ, max_content_length)
    return decode_json_arguments(read_body(environ, max_content_length))


def read_body(environ: WSGIEnvironment, max_content_length: int) -> bytes:
    """Read the whole request body once, refusing more than ``max_content_length`` bytes."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        try:
            size = int(length)
        except ValueError:
            raise BadRequestError(f"invalid Content-Length header {length!r}") from None
        if size > max_content_length:
            raise too_large_error(max_content_length)
        return stream.read(size) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):  # chunked: read up to one byte past the limit
        body = stream.read(max_content_length + 1)
        if len(body) > max_content_length:
            raise too_large_error(max_content_length)
        return body
    return b""


def decode_json_arguments(body: bytes) -> dict[str, Any]:
    """Decode a JSON object body into keyword arguments; an empty body means none."""
    if not body.strip():
        return {}
    try:
        arguments = loads(body)
    except JSONDecodeError as err:
        raise BadRequestError(f"request body is not valid JSON: {err}") from None
    if not isinstance(arguments, dict):
        raise BadRequestError(
            "request body must be a JSON object of named arguments, "
            f"got a JSON {_json_type_name(arguments)}"
        )
    return arguments


def _read_form(environ: WSGIEnvironment, max_content_length: int) -> dict[str, Any]:
    if "boundary=" not in environ.get("CONTENT_TYPE", ""):
        raise BadRequestError("multipart/form-data request has no boundary in its Content-Type")
    request = Request(environ)
    request.max_content_length = max_content_length
    try:
        arguments: dict[str, Any] = request.form.to_dict()
        arguments.update(request.files.to_dict())
    except RequestEntityTooLarge:
        raise too_large_error(max_content_length) from None
    except ValueError as err:
        raise BadRequestError(f"malformed multipart/form-data body: {err}") from None
    return arguments


def too_large_error(limit: int) -> PayloadTooLargeError:
    """The 413 error for a body over ``limit`` bytes."""
    return PayloadTooLargeError(
        f"request body is larger than the limit of {limit} bytes (max_content_length)"
    )


def _json_type_name(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class ArgumentChecker:
    """Checks keyword arguments against a signature, computed once at start-up."""

    function_name: str
    accepted: frozenset[str]
    required: frozenset[str]
    takes_any_keyword: bool

    @classmethod
    def for_signature(cls, function_name: str, signature: inspect.Signature) -> ArgumentChecker:
        """Build the checker (positional-only parameters with defaults are left to them)."""
        accepted, required = set(), set()
        takes_any_keyword = False
        for parameter in signature.parameters.values():
            kind = parameter.kind
            if kind is parameter.VAR_KEYWORD:
                takes_any_keyword = True
            elif kind not in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
                accepted.add(parameter.name)
                if parameter.default is parameter.empty:
                    required.add(parameter.name)
        return cls(function_name, frozenset(accepted), frozenset(required), takes_any_keyword)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """``arguments`` unchanged; raises ValidationError naming each missing or unexpected one."""
        names = arguments.keys()
        if self.required <= names and (self.takes_any_keyword or names <= self.accepted):
            return arguments
        errors = [
            argument_error(name, "missing required argument", "missing")
            for name in sorted(self.required - names)
        ]
        if not self.takes_any_keyword:
            errors += [
                argument_error(name, "unexpected argument", "extra_forbidden")
                for name in sorted(names - self.accepted)
            ]
        message = "; ".join(f"{error['message']} {error['argument']!r}" for error in errors)
        raise ValidationError(f"{self.function_name}(): {message}", errors=errors)


def argument_error(
    argument: str | None, message: str, kind: str, location: Iterable[str | int] = ()
) -> dict[str, Any]:
    """One entry of a 422 body's ``errors``: the argument, where inside it, and what is wrong."""
    return {"argument": argument, "location": list(location), "message": message, "type": kind}
