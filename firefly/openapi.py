"""The OpenAPI 3.1 document of an app, served at ``GET /openapi.json``.

:func:`openapi_document` describes every function as a ``POST`` operation
(its arguments and result as JSON Schema, from :class:`~firefly.schema.FunctionSchema`),
the error responses of the protocol, the token as a security scheme, and the
service routes (index, health checks, metrics) the app has. The JSON Schemas
pydantic makes keep their shared definitions in ``$defs``; here they move to
``components/schemas``, renamed when two functions define one name differently.
"""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .protocol import FILE_CONTENT_TYPE, JSON_CONTENT_TYPE
from .registry import FunctionSpec
from .requestid import HEADER as REQUEST_ID_HEADER

if TYPE_CHECKING:
    from .app import Firefly

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "token"
FUNCTIONS_TAG = "functions"
SERVICE_TAG = "service"
MULTIPART_CONTENT_TYPE = "multipart/form-data"
METRICS_CONTENT_TYPE = "text/plain"

Schema = dict[str, Any]

_DEFS_REF = "#/$defs/"
_COMPONENT_REF = "#/components/schemas/"
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")  # OpenAPI component key pattern


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


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
    },
}

INDEX_SCHEMA: Schema = {
    "type": "object",
    "description": "The app and its functions, as firefly.Client reads them.",
    "properties": {
        "app": {"type": "string"},
        "version": {"type": "string", "description": "The firefly version."},
        "functions": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "doc": {"type": "string"},
                    "parameters": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "kind": {"type": "string"},
                                "default": {},
                            },
                            "required": ["name", "kind"],
                        },
                    },
                },
                "required": ["path", "doc", "parameters"],
            },
        },
    },
    "required": ["app", "version", "functions"],
}

HEALTH_SCHEMA: Schema = {
    "type": "object",
    "description": "The state of the worker that answered, and what it serves.",
    "properties": {
        "status": {"type": "string", "enum": ["alive", "starting", "ready", "stopping"]},
        "app": {"type": "string", "description": "The API title."},
        "version": {"type": "string", "description": "The API version."},
        "firefly_version": {"type": "string"},
        "functions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["status", "app", "version", "functions"],
}

NOT_READY_SCHEMA: Schema = {
    "description": "503 of the readiness check: an error that also tells the worker's state.",
    "allOf": [_ref("schemas", "Error"), _ref("schemas", "Health")],
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


def openapi_document(app: Firefly) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``app``: build it once, after every function is added.

    :param app: the app; its ``title``, ``api_version`` and ``description`` fill ``info``.
    """
    components = Components()
    paths: dict[str, Any] = {}
    for spec in app.registry:
        paths[spec.path] = {"post": function_operation(spec, components)}
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for path, operation in service_operations():
        if path in routes:
            paths[path] = {"get": operation}
    secured = bool(app.auth_token)
    if secured:
        _mark_security(paths, app.public_paths)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": _info(app),
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


def _mark_security(paths: dict[str, Any], public_paths: frozenset[str]) -> None:
    """Public paths need no token; the others may answer 401 and 403."""
    for path, path_item in paths.items():
        for operation in path_item.values():
            if path in public_paths:
                operation["security"] = []
            else:
                operation["responses"].update(_error_refs(AUTH_STATUSES))


def _info(app: Firefly) -> dict[str, Any]:
    info = {"title": app.title, "version": app.api_version}
    if app.description:
        info["description"] = app.description
    return info


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
        **_error_refs(FUNCTION_ERROR_STATUSES),
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


def service_operations() -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``GET`` operations of the routes an app may have besides its functions."""
    yield "/", _service_operation("index", "List the functions", _json("Index"))
    yield "/-/alive", _service_operation("alive", "Whether the process serves", _json("Health"))
    ready = _service_operation("ready", "Whether this worker takes requests", _json("Health"))
    ready["responses"].update(_error_refs((503,)))
    yield "/-/ready", ready
    metrics = {METRICS_CONTENT_TYPE: {"schema": {"type": "string"}}}
    yield "/-/metrics", _service_operation("metrics", "Prometheus metrics", metrics)


def _json(schema_name: str) -> dict[str, Any]:
    return {JSON_CONTENT_TYPE: {"schema": _ref("schemas", schema_name)}}


def _service_operation(operation_id: str, summary: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [SERVICE_TAG],
        "summary": summary,
        "responses": {"200": {"description": summary, "headers": _headers(), "content": content}},
    }


def _headers() -> dict[str, Any]:
    return {REQUEST_ID_HEADER: _ref("headers", "RequestId")}


def _error_refs(statuses: tuple[int, ...]) -> dict[str, Any]:
    return {str(status): _ref("responses", RESPONSE_NAMES[status]) for status in statuses}


class Components:
    """``components`` of the document: shared schemas, responses, headers and security."""

    def __init__(self) -> None:
        shared = {
            "Error": ERROR_SCHEMA,
            "ValidationError": VALIDATION_ERROR_SCHEMA,
            "Index": INDEX_SCHEMA,
            "Health": HEALTH_SCHEMA,
            "NotReady": NOT_READY_SCHEMA,
        }
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
                    "content": _json(schema),
                }
                for status, name, description, schema in ERROR_RESPONSES
                if secured or status not in AUTH_STATUSES
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
