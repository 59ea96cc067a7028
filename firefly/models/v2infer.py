"""``POST /v2/models/<name>[/versions/<version>]/infer``: the V2 inference call, on the fast path.

The request is a JSON object of ``inputs`` (tensors), optionally ``id``,
``parameters`` and the ``outputs`` wanted. A tabular model takes either

- one input per feature column, named as the feature, of shape ``[n]`` or
  ``[n, 1]`` (any order; other inputs are extra keys, ignored or refused as
  ``model.yml`` says), or
- one 2-D input of shape ``[n, number of features]``, of any name, its
  columns the features in order.

The inputs become ``{"columns": [...], "data": [[...]]}`` for
:meth:`~firefly.models.frames.FrameSchema.frame`, so that the checks and
their 422 errors are those of ``POST /<name>/<method>``. Each output asked
for (by default ``predict``) is the model method of its name, called through
its call pipeline (``invoke``), so that the features wrapping model calls
(prediction log, timeouts) see V2 calls as they see the others.

The request is read by :mod:`~firefly.models.v2request`, binary tensor data
included. Outputs asked for with ``parameters.binary_data`` (or all of them,
with the request's ``parameters.binary_data_output``) are answered as bytes
after the JSON header (:mod:`~firefly.models.v2tensors`), with
``Content-Type: application/octet-stream`` and ``Inference-Header-Content-Length``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..dispatch import Endpoint
from ..encoding import dumps
from ..errors import BadRequestError, HTTPError, ValidationError
from ..features import Invoke
from ..protocol import EXCEPTION_KEY, FUNCTION_KEY, read_body
from ..responses import FILE_CONTENT_TYPE, STATUS_LINES, error_response, json_response
from .endpoint import VERSION_HEADER
from .frames import label_key
from .served import LoadedVersion
from .v2metadata import output_metadata
from .v2request import (
    HEADER_LENGTH,
    HEADER_LENGTH_KEY,
    InferRequest,
    Input,
    decompressed,
    read_request,
)
from .v2tensors import OutputTensor, plain

if TYPE_CHECKING:
    import pandas as pd
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class V2InferEndpoint(Endpoint):
    """Answers the inference calls of one model version.

    :param invokes: the call pipeline of each method served, by method name.
    """

    def __init__(
        self, version: LoadedVersion, invokes: Mapping[str, Invoke], max_content_length: int
    ):
        self.version = version
        self.invokes = dict(invokes)
        self.max_content_length = max_content_length
        self.schema = version.schema
        self.label = f"{version.name}/{version.version}/infer"
        self.what = f"model {version.name!r} version {version.version!r} infer"
        self.headers = [(VERSION_HEADER, version.version)]
        self.default_output = "predict" if "predict" in self.invokes else next(iter(self.invokes))
        #: Each output's metadata: its datatype and shape when there are no rows to tell them.
        self.metadata = {method: output_metadata(version, method) for method in self.invokes}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[FUNCTION_KEY] = self.label
        method = environ["REQUEST_METHOD"]
        if method != "POST":
            return self._answer_other_method(environ, start_response, method)
        try:
            limit = self.max_content_length
            body = decompressed(environ, read_body(environ, limit), limit)
            request = read_request(body, environ.get(HEADER_LENGTH_KEY))
            outputs = self._outputs(request)
            frame = self.frame(request.inputs)
        except HTTPError as error:
            return error_response(environ, start_response, error, self.headers)
        answers = []
        try:
            for name, _ in outputs:
                answers.append(self.invokes[name](frame=frame) if len(frame) else [])
        except HTTPError as error:  # raised on purpose (by a processor): its status is the answer
            environ[EXCEPTION_KEY] = type(error).__name__
            return error_response(environ, start_response, error, self.headers)
        except Exception as error:
            return self._call_failed(environ, start_response, error, headers=self.headers)
        try:
            tensors = [
                (self._tensor(name, answer), binary)
                for (name, binary), answer in zip(outputs, answers, strict=True)
            ]
            return self._respond(start_response, request, tensors)
        except (TypeError, ValueError, OverflowError) as error:
            return self._call_failed(
                environ, start_response, error, "cannot encode result: ", self.headers
            )

    def frame(self, inputs: tuple[Input, ...]) -> pd.DataFrame:
        """The DataFrame of the inputs: one per feature column, or one 2-D input of them all."""
        names = self.schema.names
        first = inputs[0]
        if (
            len(inputs) == 1
            and len(first.shape) == 2
            and (first.shape[1] != 1 or first.name not in self.schema.required)
        ):
            rows, width = first.shape
            if width != len(names):
                raise ValidationError(
                    f"input {first.name!r} has {width} columns, but model"
                    f" {self.version.name!r} version {self.version.version!r} has"
                    f" {len(names)} features: {', '.join(names)}",
                    input=first.name,
                )
            values = first.values
            data = [values[row * width : (row + 1) * width] for row in range(rows)]
            return self.schema.frame({"columns": list(names), "data": data})[0]
        for tensor in inputs:
            shape = tensor.shape
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                raise ValidationError(
                    f"input {tensor.name!r} has shape {list(shape)}: a feature column has"
                    " shape [n] or [n, 1]; send all the features as one input of shape"
                    f" [n, {len(names)}], or one input per feature",
                    input=tensor.name,
                )
            if shape[0] != first.shape[0]:
                raise ValidationError(
                    f"input {tensor.name!r} has {shape[0]} rows, input {first.name!r}"
                    f" {first.shape[0]}: every feature column needs one value a row",
                    input=tensor.name,
                )
        data = [list(row) for row in zip(*(tensor.values for tensor in inputs), strict=True)]
        columns = [tensor.name for tensor in inputs]
        return self.schema.frame({"columns": columns, "data": data})[0]

    def _outputs(self, request: InferRequest) -> list[tuple[str, bool]]:
        if not request.outputs:
            return [(self.default_output, request.binary_output)]
        for name, _ in request.outputs:
            if name not in self.invokes:
                raise BadRequestError(
                    f"model {self.version.name!r} version {self.version.version!r} has no"
                    f" output {name!r}; outputs: {', '.join(self.invokes)}",
                    output=name,
                )
        binary: dict[str, bool] = {}
        for name, wanted in request.outputs:  # each once, in the order asked
            binary.setdefault(name, request.binary_output if wanted is None else wanted)
        return list(binary.items())

    def _tensor(self, name: str, answer: list[Any]) -> OutputTensor:
        metadata = self.metadata[name]
        if not answer:  # no rows: the shape and datatype the metadata gives
            shape = [0, *(max(size, 0) for size in metadata["shape"][1:])]
            return OutputTensor(
                name, shape, metadata["datatype"], [], metadata.get("parameters", {})
            )
        if isinstance(answer[0], dict):  # predict_proba: {class label: probability}
            keys = list(answer[0])
            tensor = OutputTensor.of(name, [[row[key] for key in keys] for row in answer])
            labels = {label_key(label): plain(label) for label in self.version.classes or ()}
            tensor.parameters["classes"] = [labels.get(key, key) for key in keys]
            return tensor
        return OutputTensor.of(name, answer)

    def _respond(
        self,
        start_response: StartResponse,
        request: InferRequest,
        tensors: list[tuple[OutputTensor, bool]],
    ) -> list[bytes]:
        outputs, chunks = [], []
        for tensor, binary in tensors:
            if binary:
                header, data = tensor.binary()
                outputs.append(header)
                chunks.append(data)
            else:
                outputs.append(tensor.json())
        response: dict[str, Any] = {
            "model_name": self.version.name,
            "model_version": self.version.version,
        }
        if request.id is not None:
            response["id"] = request.id
        response["outputs"] = outputs
        body = dumps(response)
        if not chunks:
            return json_response(start_response, 200, body, self.headers)
        length = len(body) + sum(map(len, chunks))
        headers = [
            ("Content-Type", FILE_CONTENT_TYPE),
            ("Content-Length", str(length)),
            (HEADER_LENGTH, str(len(body))),
            *self.headers,
        ]
        start_response(STATUS_LINES[200], headers)
        return [body, *chunks]
