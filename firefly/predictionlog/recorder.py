"""What a logged call does on the request path: build its row and put it on the writer's queue.

Two wrappers work together (both are chosen once, when the app is assembled):

- :class:`LoggedEndpoint` wraps the WSGI endpoint. It gives the call its
  prediction id (answered as ``X-Prediction-ID``), reads ``X-Observation-ID``,
  times the call and reads the status answered, then queues the row;
- :func:`logged_invoke` wraps the call pipeline's ``invoke``. It sees the
  arguments once they are checked, the result or the exception, and refuses
  (409) an observation id this function has logged before.

They meet in a thread-local :class:`Call`, as a WSGI server answers a request
on one thread. Encoding the arguments and result as JSON is left to the
writer's thread.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError
from ..features import Invoke
from ..protocol import RECORDS_KEY, REQUEST_ID_KEY
from ..registry import CallSpec, FunctionSpec

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PREDICTION_ID_HEADER = "X-Prediction-ID"
OBSERVATION_ID_ENVIRON = "HTTP_X_OBSERVATION_ID"
#: The longest observation id kept (the column's size).
MAX_OBSERVATION_ID = 200


class Call:
    """What the two wrappers learn of one logged call."""

    __slots__ = ("arguments", "error", "observation_id", "refused", "result", "spec", "status")

    def __init__(self, observation_id: str | None):
        self.observation_id = observation_id
        self.spec: CallSpec | None = None
        self.arguments: dict[str, Any] | None = None
        self.result: Any = None
        self.error: str | None = None
        self.status = 0
        self.refused = False  # a repeated observation id: answered 409, not logged


_current = threading.local()


def current_call() -> Call | None:
    """The logged call this thread is answering, if any."""
    return getattr(_current, "call", None)


def logged_name(spec: CallSpec) -> tuple[str, str | None]:
    """The ``function`` and ``version`` columns of ``spec``'s calls: a model's are
    ``<model>/<method>`` and its version."""
    if isinstance(spec, FunctionSpec):
        return spec.name, None
    return f"{spec.model}/{spec.method}", spec.version


class PredictionIds:
    """Prediction ids unique across processes: a random prefix per process and a counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        """A new prefix: a forked worker must not repeat its parent's ids."""
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def new(self) -> str:
        """The next id: 16 hex digits of prefix, then the counter in hex."""
        return f"{self._prefix}{next(self._counter):08x}"


class LoggedEndpoint:
    """A fast-path endpoint whose calls are logged: one row per POST, sampled.

    :param endpoint: the endpoint answering the calls.
    :param spec: what the endpoint calls, for rows of calls that failed before the
        call itself (a 422); the call's own spec wins when it ran.
    :param put: queues a row (:meth:`~firefly.predictionlog.writer.Writer.put`).
    :param ids: makes the prediction ids.
    :param sample: the fraction of calls logged.
    """

    def __init__(
        self,
        endpoint: WSGIApplication,
        spec: CallSpec,
        put: Callable[[dict[str, Any]], bool],
        ids: PredictionIds,
        sample: float = 1.0,
    ):
        self.endpoint = endpoint
        self.spec = spec
        self.put = put
        self.ids = ids
        self.sample = sample

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST" or (
            self.sample < 1.0 and random.random() >= self.sample
        ):
            return self.endpoint(environ, start_response)
        prediction_id = self.ids.new()
        observation_id = environ.get(OBSERVATION_ID_ENVIRON)
        call = Call(observation_id[:MAX_OBSERVATION_ID] if observation_id else None)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            call.status = int(status[:3])
            if call.status == 202:  # queued to run in the background: not a prediction yet
                call.refused = True
            if not call.refused:
                headers.append((PREDICTION_ID_HEADER, prediction_id))
            return start_response(status, headers, exc_info)

        started = time.time()
        clock = time.perf_counter()
        _current.call = call
        try:
            body = self.endpoint(environ, start)
        finally:
            _current.call = None
        if not call.refused:
            self._queue(call, prediction_id, environ, started, time.perf_counter() - clock, body)
        return body

    def _queue(
        self,
        call: Call,
        prediction_id: str,
        environ: WSGIEnvironment,
        started: float,
        duration: float,
        body: Iterable[bytes],
    ) -> None:
        function, version = logged_name(call.spec or self.spec)
        arguments = call.arguments
        if arguments is not None and RECORDS_KEY in environ:  # a model's records, as sent:
            arguments = environ[RECORDS_KEY]  # no DataFrame to turn back into JSON
        error: Any = call.error
        if error is None and call.status >= 400:
            error = body  # the error answer: the writer reads its message
        self.put(
            {
                "prediction_id": prediction_id,
                "request_id": environ.get(REQUEST_ID_KEY),
                "observation_id": call.observation_id,
                "function": function,
                "version": version,
                "arguments": arguments,
                "result": call.result,
                "error": error,
                "status": call.status,
                "duration": duration,
                "created_at": started,
            }
        )


def logged_invoke(
    spec: CallSpec,
    invoke: Invoke,
    logged_before: Callable[[str, str], bool],
    observation_argument: str | None = None,
) -> Invoke:
    """``invoke`` telling the logged call its arguments, result or error.

    :param logged_before: whether ``(function, observation_id)`` is in the log or its queue.
    :param observation_argument: the argument whose value is the observation id when
        the caller sent no ``X-Observation-ID``.
    """
    function, _version = logged_name(spec)
    model_call = not isinstance(spec, FunctionSpec)

    def logged(**arguments: Any) -> Any:
        call: Call | None = getattr(_current, "call", None)
        if call is None:  # not a logged request: a warm-up call, or sampled out
            return invoke(**arguments)
        call.spec = spec
        call.arguments = arguments["frame"] if model_call else arguments
        if call.observation_id is None and observation_argument is not None:
            value = arguments.get(observation_argument)
            if value is not None:
                call.observation_id = str(value)[:MAX_OBSERVATION_ID]
        if call.observation_id is not None and logged_before(function, call.observation_id):
            call.refused = True
            raise ConflictError(
                f"observation id {call.observation_id!r} of {function} is in the prediction log"
                " already: send each observation once, or give it another id",
                observation_id=call.observation_id,
            )
        try:
            result = invoke(**arguments)
        except Exception as error:
            call.error = f"{type(error).__name__}: {error}"
            raise
        call.result = result
        return result

    logged.__name__ = getattr(invoke, "__name__", "logged")
    return logged
