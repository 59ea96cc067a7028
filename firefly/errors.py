"""The exceptions of firefly, shared by the server and the client.

::

    FireflyError
     ├── ConfigError                 bad command line, environment, config file or model file
     │    └── OnnxMismatchError      an ONNX copy answers unlike its model (models.onnx)
     ├── TrainingError               firefly train cannot write the version (models.training)
     │    └── TrainingFunctionError  the training function raised
     ├── LoadError                   a MODULE.FUNCTION that cannot be imported
     ├── ConnectError                (also ConnectionError) the server is unreachable
     ├── RequestTimeoutError         (also TimeoutError) the server did not answer in time
     ├── ExecutionCancelledError     the result of an execution that was cancelled
     └── HTTPError                   an error of the HTTP protocol; has ``status_code``
          ├── BadRequestError        400 (also ValueError) malformed body
          ├── AuthenticationError    401 missing token
          ├── ForbiddenError         403 wrong token
          ├── NotFoundError          404 unknown path
          ├── MethodNotAllowedError  405 wrong method
          ├── PayloadTooLargeError   413 body over the limit
          ├── ValidationError        422 arguments that don't fit the function
          ├── RemoteError            500 the function raised; has ``remote_type``
          ├── ServiceUnavailableError 503 not ready, or too busy (``Retry-After``)
          └── CallTimeoutError       504 the call ran past the server's timeout

The server raises the ``HTTPError`` subclasses while handling a request and
turns them into ``{"error": message}`` responses; the client turns such a
response back into the same class through :data:`ERRORS_BY_STATUS`.
"""

from __future__ import annotations

from typing import Any


class FireflyError(Exception):
    """The root of every error firefly raises."""


class ConfigError(FireflyError):
    """The command line, environment or config file is invalid."""


class LoadError(FireflyError):
    """A ``MODULE.FUNCTION`` name could not be imported."""


class ConnectError(FireflyError, ConnectionError):
    """The client could not connect to the server."""


class RequestTimeoutError(FireflyError, TimeoutError):
    """The server did not answer within the client's timeout."""


class ExecutionCancelledError(FireflyError):
    """The result of an asynchronous execution was asked for, and it was cancelled."""


class HTTPError(FireflyError):
    """An error response of the firefly HTTP protocol."""

    status_code: int = 500

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        **details: Any,
    ):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.request_id = request_id
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.message, **self.details}


class BadRequestError(HTTPError, ValueError):
    """400: the request body is not a JSON object or valid form data."""

    status_code = 400


class AuthenticationError(HTTPError):
    """401: the request carries no token and the server requires one."""

    status_code = 401


class ForbiddenError(HTTPError):
    """403: the request carries a token that the server does not accept."""

    status_code = 403


class NotFoundError(HTTPError):
    """404: no function or route at that path."""

    status_code = 404


class MethodNotAllowedError(HTTPError):
    """405: the path exists but not for that method."""

    status_code = 405


class ConflictError(HTTPError):
    """409: the request conflicts with what is stored (an observation id logged before)."""

    status_code = 409


class PayloadTooLargeError(HTTPError):
    """413: the request body is larger than the server accepts."""

    status_code = 413


class ValidationError(HTTPError):
    """422: the arguments do not fit the function's signature."""

    status_code = 422


class RemoteError(HTTPError):
    """500: the remote function raised; ``remote_type`` names its exception."""

    status_code = 500

    @property
    def remote_type(self) -> str | None:
        """The class name of the exception the remote function raised."""
        return self.details.get("type")


class ServiceUnavailableError(HTTPError):
    """503: the server is not ready to serve."""

    status_code = 503


class CallTimeoutError(HTTPError):
    """504: the call ran past the server's timeout; its answer, if any, was dropped."""

    status_code = 504

    @classmethod
    def for_call(cls, name: str, seconds: float) -> CallTimeoutError:
        """The error for a call to ``name`` (a function, or a method and path) past ``seconds``."""
        return cls(f"{name} ran past the {seconds:g} s timeout", timeout=seconds)


ERRORS_BY_STATUS: dict[int, type[HTTPError]] = {
    cls.status_code: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        PayloadTooLargeError,
        ValidationError,
        RemoteError,
        ServiceUnavailableError,
        CallTimeoutError,
    )
}


def error_for_status(status_code: int, message: str, **details: Any) -> HTTPError:
    """The exception for an error response, :class:`HTTPError` for unlisted codes."""
    cls = ERRORS_BY_STATUS.get(status_code, HTTPError)
    return cls(message, status_code=status_code, **details)


def error_from_body(
    status_code: int, body: dict[str, Any], request_id: str | None = None
) -> HTTPError:
    """The exception for an error body ``{"error": message, ...}``: its other keys are the
    details (``type`` for a :class:`RemoteError`)."""
    details = {key: value for key, value in body.items() if key not in ("error", "request_id")}
    return error_for_status(status_code, str(body["error"]), request_id=request_id, **details)
