"""The OpenAPI operations of the V2 routes (tag ``v2``), and the schemas they refer to.

The binary tensor data extension cannot be described as a JSON Schema (a
JSON header and raw bytes in one body): the infer operations describe the
JSON form and say so.
"""

from __future__ import annotations

from typing import Any

from ..routes.openapi import error_refs, json_content, schema_ref
from .openapi import MODEL_ERROR_STATUSES, VERSION_HEADER_SCHEMA
from .served import LoadedVersion
from .v2tensors import DATATYPES

V2_TAG = "v2"

_PARAMETERS = {"type": "object", "description": "Extra parameters; most are ignored."}
_SHAPE = {"type": "array", "items": {"type": "integer"}}
_DATATYPE = {"type": "string", "enum": list(DATATYPES)}

TENSOR_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "datatype": _DATATYPE,
        "shape": {**_SHAPE, "description": "-1 for any size."},
        "parameters": _PARAMETERS,
    },
    "required": ["name", "datatype", "shape"],
}

TENSOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A tensor: its data flat or nested, in row-major order.",
    "properties": {
        "name": {"type": "string"},
        "shape": _SHAPE,
        "datatype": _DATATYPE,
        "parameters": _PARAMETERS,
        "data": {"type": "array"},
    },
    "required": ["name", "shape", "datatype"],
}

V2_SCHEMAS: dict[str, dict[str, Any]] = {
    "V2ServerMetadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "version", "extensions"],
    },
    "V2ModelMetadata": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": schema_ref("V2TensorMetadata")},
            "outputs": {"type": "array", "items": schema_ref("V2TensorMetadata")},
        },
        "required": ["name", "platform", "inputs", "outputs"],
    },
    "V2TensorMetadata": TENSOR_METADATA_SCHEMA,
    "V2Tensor": TENSOR_SCHEMA,
    "V2InferenceRequest": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "inputs": {"type": "array", "items": schema_ref("V2Tensor"), "minItems": 1},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS},
                    "required": ["name"],
                },
            },
        },
        "required": ["inputs"],
    },
    "V2InferenceResponse": {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": schema_ref("V2Tensor")},
        },
        "required": ["model_name", "model_version", "outputs"],
    },
    "V2Health": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "V2ModelReady": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "ready": {"type": "boolean"},
        },
        "required": ["name", "version", "ready"],
    },
}


def _operation(operation_id: str, summary: str, schema: str, **responses: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [V2_TAG],
        "summary": summary,
        "responses": {
            "200": {"description": summary, "content": json_content(schema)},
            **responses,
        },
    }


def server_operation() -> dict[str, Any]:
    """``GET /v2``."""
    return _operation(
        "v2.server_metadata", "The server's name, version and extensions", "V2ServerMetadata"
    )


def health_operation(check: str, summary: str) -> dict[str, Any]:
    """``GET /v2/health/live`` and ``GET /v2/health/ready``."""
    responses = error_refs((503,)) if check == "ready" else {}
    return _operation(f"v2.{check}", summary, "V2Health", **responses)


def metadata_operation(name: str) -> dict[str, Any]:
    """``GET /v2/models/<name>``."""
    return _operation(
        f"v2.{name}.metadata", f"Model {name}: versions, inputs and outputs", "V2ModelMetadata"
    )


def ready_operation(name: str) -> dict[str, Any]:
    """``GET /v2/models/<name>/ready``."""
    return _operation(
        f"v2.{name}.ready", f"Whether model {name} is ready", "V2ModelReady", **error_refs((503,))
    )


def infer_operation(version: LoadedVersion, default: bool) -> dict[str, Any]:
    """``POST /v2/models/<name>[/versions/<version>]/infer``."""
    where = "the default version" if default else f"version {version.version}"
    suffix = "" if default else f".{version.version}"
    return {
        "operationId": f"v2.{version.name}{suffix}.infer",
        "tags": [V2_TAG],
        "summary": f"Inference with model {version.name} ({where})",
        "description": (
            "One input per feature (named as the feature, shape [n]) or one input of shape"
            f" [n, {len(version.schema.names)}] (features: {', '.join(version.schema.names)});"
            f" outputs: {', '.join(version.methods)}. With the binary tensor data extension"
            " (an Inference-Header-Content-Length header), the JSON header is followed by the"
            " tensors' bytes, in the request and, when asked, in the response."
        ),
        "requestBody": {"required": True, "content": json_content("V2InferenceRequest")},
        "responses": {
            "200": {
                "description": "The outputs asked for (predict by default).",
                "headers": {"X-Model-Version": VERSION_HEADER_SCHEMA},
                "content": json_content("V2InferenceResponse"),
            },
            **error_refs(MODEL_ERROR_STATUSES),
        },
    }
