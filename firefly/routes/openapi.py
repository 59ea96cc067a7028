"""The OpenAPI 3.1 document of an app, served at ``GET /openapi.json`` by the docs feature.

:func:`openapi_document` describes every function as a ``POST`` operation
(its arguments and result as JSON Schema, from :class:`~firefly.schema.FunctionSchema`),
the error responses of the protocol, the token as a security scheme, and the
routes the features declare with an operation (index, health checks,
metrics); it is given these as data, not the app. The helpers
:func:`service_operation`, :func:`json_content` and :func:`error_refs` build
the features' operations. The JSON Schemas
pydantic makes keep their shared definitions in ``$defs``; here they move to
``components/schemas``, renamed when two functions define one name differently.
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from ..features import FastRoute, Route
from ..middleware.requestid import HEADER as REQUEST_ID_HEADER
from ..registry import FunctionSpec
from ..responses import FILE_CONTENT_TYPE, JSON_CONTENT_TYPE

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "token"
FUNCTIONS_TAG = "functions"
SERVICE_TAG = "service"
MULTIPART_CONTENT_TYPE = "multipart/form-data"

Schema = dict[str, Any]

_DEFS_REF = "#/$defs/"
_COMPONENT_REF = "#/components/schemas/"
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")  # OpenAPI component key pattern


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return _ref("schemas", name)


ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "Every error response: what went wrong, and the request's id.",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person to read."},
        "request_id": {
            "type": "string",
            "description": f"The request's id, also in the {REQUEST_ID_HEADER} header.",
        },
        "type": {
            "type": "string",
            "description": "500 only: the class of the exception the function raised.",
        },
    },
    "required": ["error", "request_id"],
}

VALIDATION_ERROR_SCHEMA: Schema = {
    "description": "422: arguments that do not fit the function, each problem in ``errors``.",
    "allOf": [_ref("schemas", "Error")],
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "argument": {
                        "type": ["string", "null"],
                        "description": "The argument's name; null when the problem is the"
                        " whole body.",
                    },
                    "location": {
                        "type": "array",
                        "items": {"type": ["string", "integer"]},
                        "description": "Where inside the argument (keys and list indexes);"
                        " empty for the argument itself.",
                    },
                    "message": {"type": "string", "description": "What is wrong with it."},
                    "type": {"type": "string", "description": "The kind of problem."},
                },
                "required": ["argument", "location", "message", "type"],
            },
        },
        "more": {
            "type": "integer",
            "minimum": 1,
            "description": "How many problems ``errors`` leaves out: it lists twenty at most."
            " Absent when it lists them all.",
        },
    },
}

# (status, component name, description, error schema): the error responses of the protocol.
ERROR_RESPONSES = (
    (400, "BadRequest", "The body is not a JSON object or valid form data.", "Error"),
    (401, "Unauthorized", "The request carries no token.", "Error"),
    (403, "Forbidden", "The request carries a wrong token.", "Error"),
    (413, "PayloadTooLarge", "The body is larger than the server accepts.", "Error"),
    (422, "InvalidArguments", "The arguments do not fit the function.", "ValidationError"),
    (500, "FunctionFailed", "The function raised an exception.", "Error"),
    (503, "NotReady", "The worker is starting or shutting down.", "NotReady"),
)
RESPONSE_NAMES = {status: name for status, name, _, _ in ERROR_RESPONSES}
AUTH_STATUSES = (401, 403)
FUNCTION_ERROR_STATUSES = (400, 413, 422, 500)


def openapi_document(
    functions: Iterable[FunctionSpec],
    routes: Iterable[Route],
    schemas: Mapping[str, Schema],
    info: dict[str, str],
    secured: bool,
    fast_routes: Iterable[FastRoute] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an app: build it once, after every function is added.

    :param functions: the functions served, each a ``POST`` operation.
    :param routes: the features' routes; those with an operation are listed as ``GET``.
    :param schemas: the component schemas the routes' operations refer to.
    :param info: ``title``, ``version`` and (if any) ``description``.
    :param secured: whether a token is set; the public routes are marked as needing none.
    :param fast_routes: the features' fast-path endpoints (model methods), each a ``POST``.
    """
    components = Components(schemas)
    paths: dict[str, Any] = {}
    for spec in functions:
        paths[spec.path] = {"post": function_operation(spec, components)}
    for fast_route in fast_routes:
        if fast_route.operation is not None:
            paths[fast_route.path] = {"post": copy.deepcopy(fast_route.operation)}
    public = set()
    for route in routes:
        if route.operation is not None:
            path = openapi_path(route.rule)
            paths[path] = {route.methods[0].lower(): copy.deepcopy(route.operation)}
            if route.public:
                public.add(path)
    if secured:
        _mark_security(paths, public)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": dict(info),
        "tags": [
            {"name": FUNCTIONS_TAG, "description": "The functions this app serves."},
            {"name": SERVICE_TAG, "description": "The function index and health checks."},
        ],
        "paths": paths,
        "components": components.as_dict(secured),
    }
    if secured:
        document["security"] = [{SECURITY_SCHEME: []}]
    return document


def _mark_security(paths: dict[str, Any], public_paths: set[str]) -> None:
    """Public paths need no token; the others may answer 401 and 403."""
    for path, path_item in paths.items():
        for operation in path_item.values():
            if path in public_paths:
                operation["security"] = []
            else:
                operation["responses"].update(error_refs(AUTH_STATUSES))


def openapi_path(rule: str) -> str:
    """A Flask URL rule as an OpenAPI path: ``/-/executions/<execution_id>`` is
    ``/-/executions/{execution_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def function_operation(spec: FunctionSpec, components: Components) -> dict[str, Any]:
    """The ``POST`` operation calling ``spec``'s function."""
    operation: dict[str, Any] = {
        "operationId": spec.name,
        "tags": [FUNCTIONS_TAG],
        "summary": spec.schema.summary or spec.name,
    }
    if spec.schema.description:
        operation["description"] = spec.schema.description
    arguments = components.adopt(spec.schema.arguments_json_schema(), spec.name)
    operation["requestBody"] = {
        "required": bool(arguments.get("required")),
        "content": _request_content(arguments, spec.schema.files),
    }
    result_schema = components.adopt(spec.schema.result_json_schema(), f"{spec.name}.result")
    result_type = FILE_CONTENT_TYPE if spec.schema.returns_file else JSON_CONTENT_TYPE
    operation["responses"] = {
        "200": {
            "description": "The function's result.",
            "headers": _headers(),
            "content": {result_type: {"schema": result_schema}},
        },
        **error_refs(FUNCTION_ERROR_STATUSES),
    }
    return operation


def _request_content(arguments: Schema, files: frozenset[str]) -> dict[str, Any]:
    """The body as JSON; as multipart/form-data instead when the function takes ``files``.

    Files cannot travel in JSON: the JSON body leaves the file arguments out,
    and is not offered at all when one of them is required.
    """
    if not files:
        return {JSON_CONTENT_TYPE: {"schema": arguments}}
    content = {MULTIPART_CONTENT_TYPE: {"schema": arguments}}
    if not files & set(arguments.get("required", ())):
        content[JSON_CONTENT_TYPE] = {"schema": _without_properties(arguments, files)}
    return content


def _without_properties(schema: Schema, names: frozenset[str]) -> Schema:
    schema = dict(schema)
    schema["properties"] = {
        name: value for name, value in schema.get("properties", {}).items() if name not in names
    }
    return schema


def json_content(schema_name: str) -> dict[str, Any]:
    """A JSON response body whose schema is the component ``schema_name``."""
    return {JSON_CONTENT_TYPE: {"schema": _ref("schemas", schema_name)}}


def service_operation(operation_id: str, summary: str, content: dict[str, Any]) -> dict[str, Any]:
    """A ``GET`` operation of a feature's route, answering 200 with ``content``."""
    return {
        "operationId": operation_id,
        "tags": [SERVICE_TAG],
        "summary": summary,
        "responses": {"200": {"description": summary, "headers": _headers(), "content": content}},
    }


def _headers() -> dict[str, Any]:
    return {REQUEST_ID_HEADER: _ref("headers", "RequestId")}


def error_refs(statuses: tuple[int, ...]) -> dict[str, Any]:
    """References to the error responses of ``statuses``, by status."""
    return {str(status): _ref("responses", RESPONSE_NAMES[status]) for status in statuses}


class Components:
    """``components`` of the document: shared schemas, responses, headers and security."""

    def __init__(self, schemas: Mapping[str, Schema] = {}) -> None:
        shared = {"Error": ERROR_SCHEMA, "ValidationError": VALIDATION_ERROR_SCHEMA, **schemas}
        # copies: a document is the caller's to change, the constants are not
        self.schemas: dict[str, Schema] = copy.deepcopy(shared)

    def adopt(self, schema: Schema, owner: str) -> Schema:
        """``schema`` with its ``$defs`` moved to the components and its ``$ref``\\ s rewritten.

        The definitions keep their names unless one of them clashes with a
        different schema of that name; then all of them are prefixed with
        ``owner`` (a function's name), so that their references stay consistent.
        """
        schema = dict(schema)
        definitions: dict[str, Schema] = schema.pop("$defs", {})
        if not definitions:
            return schema
        names = self._names_for(definitions, owner)
        for name, definition in definitions.items():
            self.schemas[names[name]] = _rewrite_refs(definition, names)
        return typing.cast(Schema, _rewrite_refs(schema, names))

    def _names_for(self, definitions: dict[str, Schema], owner: str) -> dict[str, str]:
        names = {name: _component_name(name) for name in definitions}
        if self._fit(definitions, names):
            return names
        prefix = stem = _component_name(owner)
        attempt = 1
        while True:
            names = {name: f"{stem}.{_component_name(name)}" for name in definitions}
            if not names.values() & self.schemas.keys():
                return names
            attempt += 1
            stem = f"{prefix}_{attempt}"

    def _fit(self, definitions: dict[str, Schema], names: dict[str, str]) -> bool:
        """Whether every definition is new or equal to the component already of its name."""
        if len(set(names.values())) != len(names):
            return False
        return all(
            names[name] not in self.schemas
            or self.schemas[names[name]] == _rewrite_refs(definition, names)
            for name, definition in definitions.items()
        )

    def as_dict(self, secured: bool) -> dict[str, Any]:
        """The ``components`` object; with the security scheme when a token is ``secured``."""
        components: dict[str, Any] = {
            "schemas": self.schemas,
            "responses": {
                name: {
                    "description": description,
                    "headers": _headers(),
                    "content": json_content(schema),
                }
                for status, name, description, schema in ERROR_RESPONSES
                if (secured or status not in AUTH_STATUSES) and schema in self.schemas
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id: the caller's X-Request-ID when it is safe,"
                    " else a new one.",
                    "schema": {"type": "string"},
                }
            },
        }
        if secured:
            components["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"] = {
                "description": "The scheme to authenticate with.",
                "schema": {"type": "string"},
            }
            components["securitySchemes"] = {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The app's token, sent as ``Authorization: Bearer <token>``"
                    " (``Authorization: Token <token>`` works too).",
                }
            }
        return components


def _component_name(name: str) -> str:
    return _UNSAFE_NAME_CHARACTERS.sub("_", name) or "_"


def _rewrite_refs(value: Any, names: dict[str, str]) -> Any:
    """A copy of ``value`` whose ``#/$defs/X`` references point to ``components/schemas``."""
    if isinstance(value, dict):
        rewritten = {key: _rewrite_refs(item, names) for key, item in value.items()}
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS_REF):
            rewritten["$ref"] = _COMPONENT_REF + names[ref[len(_DEFS_REF) :]]
        return rewritten
    if isinstance(value, list):
        return [_rewrite_refs(item, names) for item in value]
    return value
