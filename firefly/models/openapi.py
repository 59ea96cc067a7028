"""The OpenAPI operations of the model endpoints: request schemas from features and dtypes."""

from __future__ import annotations

from typing import Any

from ..routes.openapi import error_refs, schema_ref
from .served import LoadedVersion

MODELS_TAG = "models"
#: The errors a model method may answer, besides the token's.
MODEL_ERROR_STATUSES = (400, 413, 422, 500)

_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_JSON_SCHEMAS: dict[str, dict[str, Any]] = {
    "number": {"type": ["number", "null"]},
    "bool": {"type": ["boolean", "null"]},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
    "category": {"type": ["string", "number", "boolean", "null"]},
    "object": _SCALAR,
    "any": _SCALAR,
}

VERSION_HEADER_SCHEMA = {
    "description": "The model version that answered.",
    "schema": {"type": "string"},
}

MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A model: its versions, the default one, and what the default serves.",
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "default_version": {"type": "string"},
        "methods": {"type": "array", "items": {"type": "string"}},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
        "meta": {"type": "object"},
    },
    "required": ["name", "versions", "default_version", "methods", "features"],
}

FEATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "dtype": {"type": ["string", "null"]}},
    "required": ["name", "dtype"],
}

MODEL_VERSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A model version: what it serves, from which file, since when.",
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "methods": {"type": "array", "items": {"type": "string"}},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}},
        "classes": {"type": ["array", "null"]},
        "file": {"type": "string"},
        "format": {"type": "string", "enum": ["joblib", "pkl", "skops", "onnx"]},
        "sha256": {"type": "string"},
        "loaded_at": {"type": "string", "format": "date-time"},
        "meta": {"type": "object"},
        "training": {"type": "object"},
    },
    "required": ["name", "version", "methods", "features", "file", "format", "sha256"],
}

SCHEMAS = {"Model": MODEL_SCHEMA, "ModelVersion": MODEL_VERSION_SCHEMA, "Feature": FEATURE_SCHEMA}


def record_schema(version: LoadedVersion) -> dict[str, Any]:
    """One record of ``version``'s features, as JSON Schema."""
    schema = version.schema
    return {
        "type": "object",
        "properties": {name: dict(_JSON_SCHEMAS[schema.dtypes[name]]) for name in schema.names},
        "required": list(schema.names),
        "additionalProperties": not schema.forbid_extra,
    }


def method_operation(version: LoadedVersion, method: str, default: bool) -> dict[str, Any]:
    """The ``POST`` operation of one method of one version (or of the model's default one)."""
    record = record_schema(version)
    result = _result_schema(version, method)
    where = "the default version" if default else f"version {version.version}"
    operation_id = (
        f"{version.name}.{method}" if default else f"{version.name}.{version.version}.{method}"
    )
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "items": {"type": "array"}},
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }
    return {
        "operationId": operation_id,
        "tags": [MODELS_TAG],
        "summary": f"{method} of model {version.name} ({where})",
        "description": (
            "One record answers one bare result; an array of records, or columns and data,"
            " a list of results."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [record, {"type": "array", "items": record}, split]}
                }
            },
        },
        "responses": {
            "200": {
                "description": f"The model's {method}.",
                "headers": {"X-Model-Version": VERSION_HEADER_SCHEMA},
                "content": {
                    "application/json": {
                        "schema": {"oneOf": [result, {"type": "array", "items": result}]}
                    }
                },
            },
            **error_refs(MODEL_ERROR_STATUSES),
        },
    }


def describe_operation(operation_id: str, schema_name: str, summary: str) -> dict[str, Any]:
    """The ``GET`` operation describing a model or a version."""
    return {
        "operationId": operation_id,
        "tags": [MODELS_TAG],
        "summary": summary,
        "responses": {
            "200": {
                "description": summary,
                "content": {"application/json": {"schema": schema_ref(schema_name)}},
            },
            "404": {
                "description": "No model, or no version, of that name.",
                "content": {"application/json": {"schema": schema_ref("Error")}},
            },
        },
    }


def _result_schema(version: LoadedVersion, method: str) -> dict[str, Any]:
    if method == "predict_proba":
        labels = [str(label) for label in version.classes or ()]
        return {
            "type": "object",
            "description": "The probability of each class.",
            "properties": {label: {"type": "number"} for label in labels},
        }
    return {"description": f"The {method} of one record."}
