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

The binary tensor data extension (:mod:`~firefly.models.v2tensors`) is read
and answered: an ``Inference-Header-Content-Length`` header gives the size of
the JSON header, the inputs' bytes follow it; outputs asked for with
``parameters.binary_data`` (or all of them with the request's
``parameters.binary_data_output``) are answered as bytes after the JSON
header, with ``Content-Type: application/octet-stream``. A body compressed
with ``Content-Encoding: gzip`` or ``deflate`` (tritonclient's
``request_compression_algorithm``) is read too.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..dispatch import Endpoint
from ..encoding import dumps
from ..errors import BadRequestError, HTTPError, ValidationError
from ..features import Invoke
from ..protocol import EXCEPTION_KEY, FUNCTION_KEY, decode_json, read_body, too_large_error
from ..responses import FILE_CONTENT_TYPE, STATUS_LINES, error_response, json_response
from .endpoint import VERSION_HEADER
from .frames import _label
from .served import LoadedVersion
from .v2tensors import DATATYPES, OutputTensor, binary_values, check_shape, json_values, plain

if TYPE_CHECKING:
    import pandas as pd
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

HEADER_LENGTH = "Inference-Header-Content-Length"
HEADER_LENGTH_KEY = "HTTP_INFERENCE_HEADER_CONTENT_LENGTH"
#: zlib's ``wbits`` for each ``Content-Encoding`` a body may come in.
ENCODINGS = {"gzip": 31, "deflate": 15}


@dataclass(frozen=True)
class Input:
    """An input tensor: its name, shape and elements (flat, row-major, plain values)."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]


@dataclass(frozen=True)
class InferRequest:
    """An inference request, read and checked."""

    id: str | None
    inputs: tuple[Input, ...]
    #: The outputs asked for, each with whether it is wanted as binary data (None: not said);
    #: empty for the default output.
    outputs: tuple[tuple[str, bool | None], ...]
    #: Whether outputs not asked for by name come as binary data (``binary_data_output``).
    binary_output: bool


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
        if answer and isinstance(answer[0], dict):  # predict_proba: {class label: probability}
            keys = list(answer[0])
            tensor = OutputTensor.of(name, [[row[key] for key in keys] for row in answer])
            labels = {_label(label): plain(label) for label in self.version.classes or ()}
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


def decompressed(environ: WSGIEnvironment, body: bytes, limit: int) -> bytes:
    """The body, uncompressed when its ``Content-Encoding`` is gzip or deflate (413 beyond
    ``limit`` bytes uncompressed)."""
    encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ENCODINGS:
        raise BadRequestError(
            f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none"
        )
    decompressor = zlib.decompressobj(ENCODINGS[encoding])
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as err:
        raise BadRequestError(f"the body is not valid {encoding} data: {err}") from None
    if len(data) > limit:
        raise too_large_error(limit)
    return data


def read_request(body: bytes, header_length: str | None) -> InferRequest:
    """The inference request of a body: its JSON header, then the inputs' binary data."""
    view = memoryview(body)
    if header_length is None:
        header, binary = body, view[len(body) :]
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise BadRequestError(f"invalid {HEADER_LENGTH} header {header_length!r}") from None
        if not 0 < length <= len(body):
            raise BadRequestError(
                f"{HEADER_LENGTH} {length} is not within the body of {len(body)} bytes"
            )
        header, binary = body[:length], view[length:]
    payload = _decode(header)
    if not isinstance(payload, dict):
        raise BadRequestError('the inference request must be a JSON object with "inputs"')
    inputs, used = _inputs(payload.get("inputs"), binary)
    if used != len(binary):
        raise BadRequestError(
            f"the body holds {len(binary) - used} bytes more than its inputs' binary_data_size"
        )
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequestError(f'"id" must be a string, got {request_id!r}')
    parameters = _parameters(payload, '"parameters"')
    return InferRequest(
        request_id,
        inputs,
        _requested_outputs(payload.get("outputs")),
        parameters.get("binary_data_output") is True,
    )


def _decode(header: bytes) -> Any:
    """The JSON header; NaN and Infinity are numbers in it, as tritonclient writes them."""
    try:
        return decode_json(header)
    except BadRequestError:
        if b"NaN" not in header and b"Infinity" not in header:
            raise
        try:
            return json.loads(header)  # the standard library reads them; orjson does not
        except ValueError:
            pass
        raise


def _inputs(inputs: Any, binary: memoryview) -> tuple[tuple[Input, ...], int]:
    if not isinstance(inputs, list) or not inputs:
        raise BadRequestError('"inputs" must be a non-empty array of tensors')
    parsed: list[Input] = []
    offset = 0
    for index, tensor in enumerate(inputs):
        where = f"inputs[{index}]"
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequestError(f'{where} must be a tensor: an object with a "name" string')
        name = tensor["name"]
        if any(existing.name == name for existing in parsed):
            raise BadRequestError(f"input {name!r} is given twice")
        shape = check_shape(tensor.get("shape"), f"input {name!r}")
        datatype = tensor.get("datatype")
        if datatype not in DATATYPES:
            raise BadRequestError(
                f"input {name!r}: datatype {datatype!r} is not supported; use one of"
                f" {', '.join(DATATYPES)}"
            )
        parameters = _parameters(tensor, f"input {name!r}: parameters")
        if "shared_memory_region" in parameters:
            raise BadRequestError(
                f"input {name!r}: shared memory is not supported: send its data in the body"
            )
        size = parameters.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise BadRequestError(
                    f"input {name!r}: binary_data_size {size!r} does not fit the"
                    f" {len(binary) - offset} bytes left after the JSON header"
                )
            values = binary_values(name, datatype, binary[offset : offset + size], shape)
            offset += size
        elif "data" in tensor:
            values = json_values(name, tensor["data"], shape)
        else:
            raise BadRequestError(f'input {name!r} has no "data" (nor binary_data_size)')
        parsed.append(Input(name, shape, datatype, values))
    return tuple(parsed), offset


def _requested_outputs(outputs: Any) -> tuple[tuple[str, bool | None], ...]:
    if outputs is None:
        return ()
    if not isinstance(outputs, list):
        raise BadRequestError('"outputs" must be an array of {"name": ...} objects')
    requested = []
    for index, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise BadRequestError(f'outputs[{index}] must be an object with a "name" string')
        parameters = _parameters(output, f"output {output['name']!r}: parameters")
        for unsupported in ("classification", "shared_memory_region"):
            if parameters.get(unsupported):
                raise BadRequestError(
                    f"output {output['name']!r}: {unsupported} is not supported;"
                    " ask for predict_proba for the probability of every class"
                )
        binary = parameters.get("binary_data")
        requested.append((output["name"], None if binary is None else binary is True))
    return tuple(requested)


def _parameters(tensor: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = tensor.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequestError(f"{where} must be a JSON object, got {parameters!r}")
    return parameters
