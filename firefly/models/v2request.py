"""The request side of a V2 inference: the body (uncompressed), its JSON header, its tensors.

A body is JSON whatever its Content-Type says (tritonclient sends none). With
an ``Inference-Header-Content-Length`` header, the JSON header is that many
bytes and the inputs' binary data follows it, in the order of the inputs
that have ``parameters.binary_data_size`` (:mod:`~firefly.models.v2tensors`).
A body compressed with ``Content-Encoding: gzip`` or ``deflate`` (tritonclient's
``request_compression_algorithm``) is uncompressed first. Problems are 400s
naming the input.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadRequestError
from ..protocol import decode_json, too_large_error
from .v2tensors import DATATYPES, binary_values, check_shape, json_values

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

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
    if not decompressor.eof:
        raise BadRequestError(f"the body is not valid {encoding} data: it ends too soon")
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
        if parameters.get("classification"):
            raise BadRequestError(
                f"output {output['name']!r}: classification is not supported;"
                " ask for predict_proba for the probability of every class"
            )
        if "shared_memory_region" in parameters:
            raise BadRequestError(
                f"output {output['name']!r}: shared memory is not supported: its data comes"
                " in the answer"
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
