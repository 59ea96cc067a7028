"""``POST /<name>/<method>`` and ``POST /<name>/<version>/<method>``, on the fast path.

A model endpoint reads the body once, builds the DataFrame of its records
(:mod:`~firefly.models.frames`), calls the model method through its call
pipeline (``invoke``: the method with the features switched on for it
around it) and answers the results as JSON, with ``X-Model-Version``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..dispatch import Endpoint
from ..encoding import dumps
from ..errors import HTTPError
from ..features import Invoke
from ..protocol import EXCEPTION_KEY, FUNCTION_KEY, RECORDS_KEY, decode_json, read_body
from ..responses import error_response, json_response
from .served import LoadedVersion

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

VERSION_HEADER = "X-Model-Version"


class ModelEndpoint(Endpoint):
    """Answers the calls of one method of one model version."""

    def __init__(
        self, version: LoadedVersion, method: str, invoke: Invoke, max_content_length: int
    ):
        self.version = version
        self.method = method
        self.invoke = invoke
        self.max_content_length = max_content_length
        self.label = f"{version.name}/{version.version}/{method}"
        self.what = f"model {version.name!r} version {version.version!r} {method}"
        self.headers = [(VERSION_HEADER, version.version)]
        self.schema = version.schema

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[FUNCTION_KEY] = self.label
        method = environ["REQUEST_METHOD"]
        if method != "POST":
            return self._answer_other_method(environ, start_response, method)
        try:
            records = environ[RECORDS_KEY] = decode_json(
                read_body(environ, self.max_content_length)
            )
            frame, single = self.schema.frame(records)
        except HTTPError as error:
            return error_response(environ, start_response, error, self.headers)
        try:
            answer = self.invoke(frame=frame) if len(frame) else []
            if single:
                answer = answer[0]
        except HTTPError as error:  # raised on purpose (by a processor): its status is the answer
            environ[EXCEPTION_KEY] = type(error).__name__
            return error_response(environ, start_response, error, self.headers)
        except Exception as error:
            return self._call_failed(environ, start_response, error, headers=self.headers)
        try:
            body = dumps(answer)
        except TypeError as error:
            return self._call_failed(
                environ, start_response, error, "cannot encode result: ", self.headers
            )
        return json_response(start_response, 200, body, self.headers)
