"""The request side of a function call: read the body once, decode it, check the arguments.

Everything here works on the WSGI environ directly, so a function call costs
no more than it must (see docs/performance.rst); :mod:`firefly.responses` is
the other side.
"""

from __future__ import annotations

import heapq
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
EXECUTION_KEY = "firefly.execution"  # environ key: id of the execution a request started
RECORDS_KEY = "firefly.records"  # environ key: a model call's records, as the caller sent them
SERVER_ERROR_KEY = "firefly.server_error"  # environ key: (error, headers) a worker answers
ABANDONED_KEY = "firefly.abandoned"  # environ key: set on a call the worker answered 504
STARTED_KEY = "firefly.started"  # environ key: perf_counter() when a request began to arrive


MAX_LISTED_ERRORS = 20
"""Most problems the ``errors`` of a 422 list; its ``more`` counts the others."""
MAX_PROBLEMS_IN_MESSAGE = 10
"""Most problems the ``error`` message of a 422 names before "and N more"."""


def read_arguments(
    environ: WSGIEnvironment, max_content_length: int, max_form_parts: int
) -> dict[str, Any]:
    """The keyword arguments a request carries: its JSON object body, or its form parts."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("multipart/form-data"):
        return _read_form(environ, max_content_length, max_form_parts)
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
    try:  # not decode_json(): one call less on the hot path
        arguments = loads(body)
    except ValueError as err:
        raise json_error(err) from None
    if not isinstance(arguments, dict):
        raise BadRequestError(
            "request body must be a JSON object of named arguments, "
            f"got a JSON {_json_type_name(arguments)}"
        )
    return arguments


def decode_json(body: bytes) -> Any:
    """Decode a JSON body; malformed JSON is a 400 naming the problem."""
    try:
        return loads(body)
    except ValueError as err:
        raise json_error(err) from None


def json_error(error: ValueError) -> BadRequestError:
    """The 400 for a body that cannot be decoded as JSON."""
    if isinstance(error, JSONDecodeError):
        return BadRequestError(f"request body is not valid JSON: {error}")
    # valid JSON, but an integer too long to convert
    return BadRequestError(f"request body cannot be decoded: {error}")


def _read_form(
    environ: WSGIEnvironment, max_content_length: int, max_form_parts: int
) -> dict[str, Any]:
    if "boundary=" not in environ.get("CONTENT_TYPE", ""):
        raise BadRequestError("multipart/form-data request has no boundary in its Content-Type")
    request = Request(environ)
    request.max_content_length = max_content_length
    # A text part may be as large as the body, as a JSON string may: only two limits apply.
    request.max_form_memory_size = max_content_length
    request.max_form_parts = max_form_parts
    try:
        arguments: dict[str, Any] = request.form.to_dict()
        arguments.update(request.files.to_dict())
    except RequestEntityTooLarge:
        raise form_too_large_error(request, max_content_length, max_form_parts) from None
    except ValueError as err:
        raise BadRequestError(f"malformed multipart/form-data body: {err}") from None
    return arguments


def too_large_error(limit: int) -> PayloadTooLargeError:
    """The 413 error for a body over ``limit`` bytes."""
    return PayloadTooLargeError(
        f"request body is larger than the limit of {limit} bytes (max_content_length)"
    )


def form_too_large_error(
    request: Request, max_content_length: int, max_form_parts: int
) -> PayloadTooLargeError:
    """The 413 for a request werkzeug refused: a body over the limit, or a form of too many parts.

    werkzeug raises the same error for both: the body is over the limit when
    its Content-Length says so or, sent chunked, when it was read up to the limit.
    """
    length = request.content_length
    if length is None:
        over_limit = getattr(request.stream, "is_exhausted", True)
    else:
        over_limit = length > max_content_length
    if over_limit or request.mimetype != "multipart/form-data":
        return too_large_error(max_content_length)
    return PayloadTooLargeError(
        "too many parts in the multipart/form-data body:"
        f" more than {max_form_parts} (max_form_parts)"
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
        missing = sorted(self.required - names)
        unexpected = set() if self.takes_any_keyword else names - self.accepted
        errors = [argument_error(name, "missing required argument", "missing") for name in missing]
        errors += [  # the first names without sorting them all: a body may hold a million
            argument_error(name, "unexpected argument", "extra_forbidden")
            for name in heapq.nsmallest(MAX_LISTED_ERRORS - len(errors), unexpected)
        ]
        errors = errors[:MAX_LISTED_ERRORS]
        more = len(missing) + len(unexpected) - len(errors)
        raise arguments_error(self.function_name, errors, more)


def argument_error(
    argument: str | None, message: str, kind: str, location: Iterable[str | int] = ()
) -> dict[str, Any]:
    """One entry of a 422 body's ``errors``: the argument, where inside it, and what is wrong."""
    return {"argument": argument, "location": list(location), "message": message, "type": kind}


def arguments_error(function_name: str, errors: list[dict[str, Any]], more: int) -> ValidationError:
    """The 422 listing ``errors`` and counting ``more`` problems not listed."""
    named = [_problem(error) for error in errors[:MAX_PROBLEMS_IN_MESSAGE]]
    if unnamed := len(errors) - len(named) + more:
        named.append(f"and {unnamed:,} more")
    details: dict[str, Any] = {"errors": errors, "more": more} if more else {"errors": errors}
    return ValidationError(f"{function_name}(): " + "; ".join(named), **details)


def _problem(error: dict[str, Any]) -> str:
    """One entry of ``errors`` as a phrase of the 422 message."""
    argument, kind = error["argument"], error["type"]
    if argument is None:
        return f"invalid arguments: {error['message']}"
    if kind == "missing" and not error["location"]:
        return f"missing required argument {argument!r}"
    if kind == "extra_forbidden" and not error["location"]:
        return f"unexpected argument {argument!r}"
    where = f" at {_path(error['location'])}" if error["location"] else ""
    return f"invalid argument {argument!r}{where}: {error['message']}"


def _path(location: list[Any]) -> str:
    """A location inside an argument as ``key.key[0]``."""
    path = ""
    for step in location:
        path += f"[{step}]" if isinstance(step, int) else f".{step}"
    return path.lstrip(".")
