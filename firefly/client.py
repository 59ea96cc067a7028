"""The Python client: call a firefly server's functions and models as methods.

::

    >>> client = Client("http://127.0.0.1:8000/")
    >>> client.square(n=4)
    16
    >>> client.churn.predict({"score_1": 0.5, "score_2": 1.2})
    1
    >>> client.square.submit(n=4).result(timeout=30)
    16

It shares no code with the server but :mod:`firefly.errors`: an error
response raises the exception class of its status code.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .errors import ConnectError, FireflyError, RequestTimeoutError, error_from_body
from .files import is_file
from .remote_execution import EXECUTIONS_PATH, RemoteExecution

DEFAULT_TIMEOUT = 60.0
FILE_CONTENT_TYPE = "application/octet-stream"
JSON_HEADERS = {"Content-Type": "application/json"}
#: Asks the server to queue the call and answer ``202`` with its execution (RFC 7240).
ASYNC_HEADERS = {**JSON_HEADERS, "Prefer": "respond-async"}
PREDICTION_ID_HEADER = "X-Prediction-ID"
#: ``outcome`` left out of :meth:`Client.feedback` (None is an outcome: JSON's null).
NO_OUTCOME: Any = object()
#: The methods a served model may have: ``client.<model>.<method>(records)`` calls them.
MODEL_METHODS = ("predict", "predict_proba", "decision_function", "transform")


class Client:
    """A connection to a firefly server; its functions are this object's methods.

    :param server_url: the server's base URL, e.g. ``http://127.0.0.1:8000/``.
    :param auth_token: the server's token, sent as ``Authorization: Token <token>``.
    :param timeout: seconds to wait for the server (connect and each read).
    :param session: a :class:`requests.Session` to send requests with (one is made if omitted).
    """

    def __init__(
        self,
        server_url: str,
        auth_token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ):
        self.server_url = server_url.rstrip("/")
        self.auth_token = auth_token
        self.timeout = timeout
        self.session = session or requests.Session()
        self._metadata: dict[str, Any] | None = None
        self._last = threading.local()  # each thread's last answer, for last_prediction_id

    def __getattr__(self, name: str) -> RemoteFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteFunction(self, name)

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        with contextlib.suppress(FireflyError):  # dir() must work while the server is down
            names.update(self.functions())
            names.update(self.metadata().get("models", {}))
        return sorted(names)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<firefly.Client {self.server_url!r}>"

    def close(self) -> None:
        """Close the underlying session's connections."""
        self.session.close()

    def metadata(self) -> dict[str, Any]:
        """The server's ``GET /`` answer, fetched once and kept."""
        if self._metadata is None:
            self._metadata = self._handle(self._send("GET", "/"))
        return self._metadata

    def functions(self) -> dict[str, Any]:
        """The functions the server lists, by name: ``{"path", "doc", "parameters"}``."""
        return dict(self.metadata().get("functions", {}))

    def model(self, name: str, version: str | None = None) -> RemoteModel:
        """The served model ``name``, at ``version`` (the server's default version if None)."""
        return RemoteModel(self, name, version)

    def call(self, name: str, /, **arguments: Any) -> Any:
        """Call the remote function ``name`` with named ``arguments``; return its result.

        Open files among the arguments are uploaded (multipart/form-data). A
        function that returns a file gives back a file-like object to read.
        """
        path = self._path(name)
        files = {key: value for key, value in arguments.items() if is_file(value)}
        if files:
            fields = {
                key: _form_value(value) for key, value in arguments.items() if key not in files
            }
            response = self._send("POST", path, data=fields, files=files)
        else:
            body = json.dumps(arguments, default=_plain)
            response = self._send("POST", path, data=body, headers=JSON_HEADERS)
        return self._handle(response)

    def submit(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        /,
        *,
        idempotency_key: str | None = None,
    ) -> RemoteExecution:
        """Run the remote function ``name`` in the background; return its execution at once.

        ``client.submit("square", {"n": 4})`` is ``client.square.submit(n=4)``; the
        arguments travel as one dict, so that no name of theirs clashes with
        ``idempotency_key``: a second submit with the same key returns the first execution
        instead of queueing another.

        :raises ServiceUnavailableError: the server's queue is full (``Retry-After``).
        """
        arguments = dict(arguments or {})
        if any(is_file(value) for value in arguments.values()):
            raise FireflyError(f"{name}: an asynchronous call takes JSON arguments, not files")
        headers = dict(ASYNC_HEADERS)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body = json.dumps(arguments, default=_plain)
        response = self._send("POST", self._path(name), data=body, headers=headers)
        if response.status_code == 202:
            return RemoteExecution(self, response.json())
        if response.status_code == 200:  # the call has run: the server keeps no executions
            raise FireflyError(
                f"{self.server_url} ran {name!r} at once instead of queueing it:"
                " its executions are off"
            )
        raise _error_from(response)

    def execution(self, execution_id: str) -> RemoteExecution:
        """The execution ``execution_id``, read from the server.

        :raises NotFoundError: the server knows no such execution (or has purged it).
        """
        return RemoteExecution(self, self.request_json("GET", f"{EXECUTIONS_PATH}/{execution_id}"))

    def executions(
        self, function: str | None = None, status: str | None = None, *, page_size: int = 100
    ) -> Iterator[RemoteExecution]:
        """The server's executions, newest first, of one ``function`` and ``status`` if given;
        read a page of ``page_size`` at a time as the iteration goes."""
        params: dict[str, Any] = {"function": function, "status": status, "limit": page_size}
        params = {key: value for key, value in params.items() if value is not None}
        while True:
            page = self.request_json("GET", EXECUTIONS_PATH, params)
            for info in page["executions"]:
                yield RemoteExecution(self, info)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    @property
    def last_prediction_id(self) -> str | None:
        """The ``X-Prediction-ID`` of this thread's last call: its row in the prediction log
        (None when that call was not logged)."""
        return getattr(self._last, "prediction_id", None)

    def feedback(
        self,
        prediction_id: str | Sequence[Mapping[str, Any]] | None = None,
        outcome: Any = NO_OUTCOME,
        *,
        function: str | None = None,
        observation_id: str | int | None = None,
    ) -> dict[str, Any]:
        """Record what really happened to logged calls (``POST /-/feedback``).

        ``client.feedback(prediction_id, outcome)`` or
        ``client.feedback(function="churn", observation_id=42, outcome=1)`` returns
        the updated row and raises :class:`~firefly.NotFoundError` for an unknown
        call; ``client.feedback([{"id": ..., "outcome": ...}, ...])`` returns the
        counts and a result per item (``updated``, ``not_found`` or ``invalid``).
        """
        if prediction_id is not None and not isinstance(prediction_id, str):
            if outcome is not NO_OUTCOME or function is not None or observation_id is not None:
                raise TypeError("feedback(items) takes the list of items alone")
            return self.post_json("/-/feedback", list(prediction_id))
        if outcome is NO_OUTCOME:
            raise TypeError("feedback() needs the outcome")
        if prediction_id is not None:
            if function is not None or observation_id is not None:
                raise TypeError("feedback() takes a prediction id, or function and observation_id")
            return self.post_json("/-/feedback", {"id": prediction_id, "outcome": outcome})
        if function is None or observation_id is None:
            raise TypeError("feedback() needs a prediction id, or function and observation_id")
        item = {"function": function, "observation_id": observation_id, "outcome": outcome}
        return self.post_json("/-/feedback", item)

    def post_json(self, path: str, body: Any) -> Any:
        """POST ``body`` as JSON to ``path``; return the decoded answer (errors raise)."""
        data = json.dumps(body, default=_plain)
        return self._handle(self._send("POST", path, data=data, headers=JSON_HEADERS))

    def request_json(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        wait: float = 0.0,
    ) -> Any:
        """Send ``method`` to ``path`` with the query ``params``; return the decoded answer
        (errors raise). ``wait``: seconds the server is asked to hold the answer, which the
        read timeout allows for."""
        return self._handle(self._send(method, path, params=params, wait=wait))

    def _path(self, name: str) -> str:
        return str(self.functions().get(name, {}).get("path", f"/{name}"))

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        wait: float = 0.0,
        **kwargs: Any,
    ) -> requests.Response:
        url = self.server_url + path
        headers = dict(headers or {})
        if self.auth_token:
            headers["Authorization"] = f"Token {self.auth_token}"
        timeout = None if self.timeout is None else self.timeout + wait
        try:
            return self.session.request(
                method, url, headers=headers, timeout=timeout, stream=True, **kwargs
            )
        except requests.Timeout as err:
            raise RequestTimeoutError(f"{url} did not answer within {timeout} seconds") from err
        except requests.ConnectionError as err:
            raise ConnectError(f"could not connect to {self.server_url}: {err}") from err

    def _handle(self, response: requests.Response) -> Any:
        self._last.prediction_id = response.headers.get(PREDICTION_ID_HEADER)
        if response.status_code == 200:
            if response.headers.get("Content-Type") == FILE_CONTENT_TYPE:
                response.raw.decode_content = True
                return response.raw
            return response.json()
        raise _error_from(response)


class RemoteFunction:
    """A function of the server, called with named arguments only."""

    def __init__(self, client: Client, name: str):
        self.client = client
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **arguments: Any) -> Any:
        if args:
            raise FireflyError(
                f"{self.__name__}() takes named arguments only, e.g. {self._example(args)}"
            )
        return self.client.call(self.__name__, **arguments)

    def submit(self, *args: Any, **arguments: Any) -> RemoteExecution:
        """Run the function in the background: ``client.square.submit(n=4)`` returns its
        :class:`~firefly.RemoteExecution` at once. Every keyword is an argument of the
        function; for an idempotency key, use :meth:`Client.submit`."""
        if args:
            raise FireflyError(
                f"{self.__name__}.submit() takes named arguments only,"
                f" e.g. {self._example(args).replace('(', '.submit(', 1)}"
            )
        return self.client.submit(self.__name__, arguments)

    def __repr__(self) -> str:
        return f"<RemoteFunction {self.__name__!r} of {self.client!r}>"

    def __getattr__(self, name: str) -> RemoteMethod:
        """``client.churn.predict``: a model's method (see :class:`RemoteModel`)."""
        if name not in MODEL_METHODS:
            raise AttributeError(name)
        return RemoteMethod(self.client.model(self.__name__), name)

    def _example(self, args: tuple[Any, ...]) -> str:
        """The call with ``args`` given by name, from the parameters the server lists (cached)."""
        try:
            parameters = self.client.functions().get(self.__name__, {}).get("parameters", [])
        except FireflyError:  # the hint must not hide the mistake behind a network error
            parameters = []
        names = [parameter["name"] for parameter in parameters]
        if len(names) < len(args):
            names += [f"name{index}" for index in range(len(names) + 1, len(args) + 1)]
        given = ", ".join(f"{name}={value!r}" for name, value in zip(names, args, strict=False))
        return f"{self.__name__}({given})"

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return str(self.client.functions().get(self.__name__, {}).get("doc") or "")


class RemoteModel:
    """A model the server serves: its methods take records and return their results.

    ``model.predict(record)`` (a dict) returns one result; a list of records, or
    a pandas DataFrame, returns a list of results.
    """

    def __init__(self, client: Client, name: str, version: str | None = None):
        self.client = client
        self.name = name
        self.version = version
        self.path = f"/{name}" if version is None else f"/{name}/{version}"

    def __getattr__(self, name: str) -> RemoteMethod:
        if name not in MODEL_METHODS:
            raise AttributeError(name)
        return RemoteMethod(self, name)

    def __repr__(self) -> str:
        version = f" version {self.version!r}" if self.version else ""
        return f"<RemoteModel {self.name!r}{version} of {self.client!r}>"

    def describe(self) -> dict[str, Any]:
        """The server's description of the model (``GET /<name>[/<version>]``)."""
        return self.client._handle(self.client._send("GET", self.path))


class RemoteMethod:
    """One method of a :class:`RemoteModel`, e.g. ``predict_proba``."""

    def __init__(self, model: RemoteModel, method: str):
        self.model = model
        self.__name__ = self.__qualname__ = method

    def __call__(self, records: Any) -> Any:
        if hasattr(records, "to_dict") and hasattr(records, "columns"):  # a pandas DataFrame
            # missing values (NaN, NaT) become null: JSON has no NaN
            records = records.astype(object).where(records.notna(), None).to_dict("records")
        else:
            records = _nan_to_null(records)  # df.to_dict("records") has NaN for missing values
        return self.model.client.post_json(f"{self.model.path}/{self.__name__}", records)

    def __repr__(self) -> str:
        return f"<RemoteMethod {self.__name__!r} of {self.model!r}>"


def _nan_to_null(value: Any) -> Any:
    """``value`` with every float NaN in its lists and dicts as None (JSON's null)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {key: _nan_to_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_null(item) for item in value]
    return value


def _form_value(value: Any) -> str:
    """A form field: a string as it is, anything else as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, default=_plain)


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars, pandas series: their plain Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot send an argument of type {type(value).__name__} as JSON")


def _error_from(response: requests.Response) -> FireflyError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and "error" in body):
        body = {"error": response.text.strip() or response.reason}
    request_id = response.headers.get("X-Request-ID")
    return error_from_body(response.status_code, body, request_id)
