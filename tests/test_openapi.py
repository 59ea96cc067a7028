"""The OpenAPI 3.1 document: valid, complete, and true to what the server answers."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import FileStorage

from firefly import Firefly
from firefly.cli import serve_command
from firefly.routes.docs import DocsFeature

from .test_docs import CODE_DIRECTIVE, DOCS, directive_blocks, read

TOKEN = "abcd1234"
DOCUMENT_URI = "urn:firefly:openapi"


@dataclasses.dataclass
class Point:
    x: float
    y: float


def shape(field: str) -> type:
    """A dataclass named Shape: two of them differ and clash by name."""
    return dataclasses.make_dataclass("Shape", [(field, float)])


CircleShape = shape("radius")
SquareShape = shape("side")
TallShape = shape("height")


def openapi_document(app: Firefly) -> dict[str, Any]:
    """The document the app's docs feature serves, built from what the app serves."""
    app.prepare()
    docs = next(feature for feature in app.features if isinstance(feature, DocsFeature))
    return docs.document()


def build_app(**settings: Any) -> Firefly:
    app = Firefly(**settings)

    @app.function
    def square(n: float) -> float:
        """Return the square of a number.

        Works for floats too.
        """
        return n**2

    @app.function
    def add(a: int, b: int = 0) -> int:
        return a + b

    @app.function
    def now() -> str:
        """The time: takes no argument."""
        return "noon"

    @app.function
    def legacy(x, y=1):
        return [x, y]

    @app.function
    def distance(p: Point, q: Point) -> float:
        return ((p.x - q.x) ** 2 + (p.y - q.y) ** 2) ** 0.5

    @app.function
    def circle_area(shape: CircleShape) -> float:  # type: ignore[valid-type]
        return 3.0 * shape.radius**2

    @app.function
    def square_area(shape: SquareShape) -> float:  # type: ignore[valid-type]
        return shape.side**2

    @app.function
    def repeat(text: str, times: int = 2) -> BinaryIO:
        return io.BytesIO((text * times).encode())

    @app.function
    def word_count(file: IO[bytes], sep: str = " ") -> int:
        return len(file.read().split(sep.encode()))

    @app.function
    def describe(text: str = "", attachment: FileStorage | None = None) -> dict[str, int]:
        return {"text": len(text), "attachment": len(attachment.read()) if attachment else 0}

    return app


@pytest.fixture
def app() -> Firefly:
    return build_app(title="Geometry", api_version="2.1", description="Shapes and numbers.")


@pytest.fixture
def document(app: Firefly) -> dict[str, Any]:
    return openapi_document(app)


@pytest.fixture
def secured() -> dict[str, Any]:
    return openapi_document(build_app(token=TOKEN))


def operation(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    return document["paths"][path][method]


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for item in value.values():
            yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def conforms(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """The errors of ``instance`` against ``schema``, whose refs point into ``document``."""
    registry = Registry().with_resource(DOCUMENT_URI, Resource(document, DRAFT202012))
    rooted = json.loads(
        json.dumps(schema).replace('"#/components/', f'"{DOCUMENT_URI}#/components/')
    )
    validator = Draft202012Validator(rooted, registry=registry)
    return [error.message for error in validator.iter_errors(instance)]


# The document as a whole


@pytest.mark.parametrize(
    "settings", [{}, {"token": TOKEN}, {"metrics": False}, {"description": ""}]
)
def test_the_document_is_valid_openapi_3_1(settings):
    document = openapi_document(build_app(**settings))
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"] == "3.1.0"


def test_every_reference_resolves(document, secured):
    for doc in (document, secured):
        found = list(refs(doc))
        assert any(ref.startswith("#/components/schemas/") for ref in found)
        for ref in found:
            assert resolve(doc, ref) is not None


def test_info_comes_from_the_settings(document):
    assert document["info"] == {
        "title": "Geometry",
        "version": "2.1",
        "description": "Shapes and numbers.",
    }


def test_an_empty_description_is_left_out():
    info = openapi_document(build_app(description=""))["info"]
    assert "description" not in info
    assert info["title"] and info["version"]


# Functions


def test_every_function_is_a_post_operation_named_after_it(app, document):
    names = [spec.name for spec in app.registry]
    assert len(names) == 10
    for spec in app.registry:
        assert list(document["paths"][spec.path]) == ["post"]
        assert operation(document, spec.path)["operationId"] == spec.name
        assert operation(document, spec.path)["tags"] == ["functions"]


def test_the_docstring_gives_summary_and_description(document):
    square = operation(document, "/square")
    assert square["summary"] == "Return the square of a number."
    assert square["description"] == "Works for floats too."
    assert "description" not in operation(document, "/add")
    assert operation(document, "/add")["summary"] == "add"


def test_the_request_body_is_the_arguments_schema(document):
    body = operation(document, "/add")["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["application/json"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["a"]["type"] == "integer"
    assert schema["properties"]["b"]["default"] == 0
    assert schema["required"] == ["a"]


@pytest.mark.parametrize(("path", "required"), [("/now", False), ("/legacy", True)])
def test_the_body_is_required_only_with_required_arguments(document, path, required):
    assert operation(document, path)["requestBody"]["required"] is required


def test_the_result_schema_comes_from_the_return_annotation(document):
    square = operation(document, "/square")["responses"]["200"]
    assert square["content"] == {"application/json": {"schema": {"type": "number"}}}
    legacy = operation(document, "/legacy")["responses"]["200"]
    assert legacy["content"] == {"application/json": {"schema": {}}}


def test_a_function_returning_a_file_answers_octet_stream(document):
    content = operation(document, "/repeat")["responses"]["200"]["content"]
    assert content == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }


def test_a_function_taking_a_required_file_takes_multipart_only(document):
    body = operation(document, "/word_count")["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"].items() >= {"type": "string", "format": "binary"}.items()
    assert schema["properties"]["sep"]["type"] == "string"
    assert schema["required"] == ["file"]


def test_optional_files_are_left_out_of_the_json_body(document):
    content = operation(document, "/describe")["requestBody"]["content"]
    assert list(content) == ["multipart/form-data", "application/json"]
    assert set(content["multipart/form-data"]["schema"]["properties"]) == {"text", "attachment"}
    assert set(content["application/json"]["schema"]["properties"]) == {"text"}


def test_definitions_move_to_the_components(document):
    schemas = document["components"]["schemas"]
    assert schemas["Point"]["properties"]["x"]["type"] == "number"
    arguments = operation(document, "/distance")["requestBody"]["content"]["application/json"]
    assert "$defs" not in json.dumps(document)
    assert arguments["schema"]["properties"]["p"] == {"$ref": "#/components/schemas/Point"}


def test_definitions_of_one_name_that_differ_get_distinct_names(document):
    def shape_schema(path: str) -> dict[str, Any]:
        body = operation(document, path)["requestBody"]["content"]["application/json"]["schema"]
        return resolve(document, body["properties"]["shape"]["$ref"])

    assert "radius" in shape_schema("/circle_area")["properties"]
    assert "side" in shape_schema("/square_area")["properties"]


def test_prefixed_names_that_are_taken_get_a_number():
    app = Firefly()

    def radius(shape: CircleShape) -> float:  # type: ignore[valid-type]
        return shape.radius

    def side(shape: SquareShape) -> float:  # type: ignore[valid-type]
        return shape.side

    def heights(count: int) -> list[TallShape]:  # type: ignore[valid-type]
        return [TallShape(float(n)) for n in range(count)]

    app.add_route(None, radius, "radius")
    app.add_route(None, side, "x.result")  # its Shape becomes "x.result.Shape"
    app.add_route(None, heights, "x")  # so the Shape of x's result cannot

    document = openapi_document(app)
    validate(document, cls=OpenAPIV31SpecValidator)
    schemas = document["components"]["schemas"]
    assert {"Shape", "x.result.Shape", "x.result_2.Shape"} <= schemas.keys()
    result = operation(document, "/x")["responses"]["200"]["content"]["application/json"]
    assert result["schema"]["items"] == {"$ref": "#/components/schemas/x.result_2.Shape"}
    assert "height" in schemas["x.result_2.Shape"]["properties"]


def test_equal_definitions_are_shared():
    app = Firefly()

    @app.function
    def first(p: Point) -> Point:
        return p

    @app.function
    def second(p: Point) -> float:
        return p.x

    document = openapi_document(app)
    assert [name for name in document["components"]["schemas"] if "Point" in name] == ["Point"]


# Errors, security and the service routes


def test_function_errors_use_the_shared_error_schemas(document):
    responses = operation(document, "/square")["responses"]
    assert set(responses) == {"200", "400", "413", "422", "500"}
    assert responses["422"] == {"$ref": "#/components/responses/InvalidArguments"}
    invalid = resolve(document, responses["422"]["$ref"])
    assert invalid["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"
    }
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "request_id"]


def test_without_a_token_there_is_no_security(document):
    assert "security" not in document
    assert "securitySchemes" not in document["components"]
    assert "Unauthorized" not in document["components"]["responses"]


def test_a_token_is_a_bearer_security_scheme(secured):
    scheme = secured["components"]["securitySchemes"]["token"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "Authorization: Token" in scheme["description"]
    assert secured["security"] == [{"token": []}]
    responses = operation(secured, "/square")["responses"]
    assert {"401", "403"} <= set(responses)
    assert "security" not in operation(secured, "/square")


def test_public_paths_need_no_token(secured):
    for path in ("/-/alive", "/-/ready"):
        get = operation(secured, path, "get")
        assert get["security"] == []
        assert "401" not in get["responses"]
    for path in ("/", "/-/metrics"):
        get = operation(secured, path, "get")
        assert "security" not in get and "401" in get["responses"]


def test_which_paths_are_public_follows_the_settings():
    document = openapi_document(
        build_app(token=TOKEN, token_for_health=True, token_for_metrics=False)
    )
    assert "security" not in operation(document, "/-/alive", "get")
    assert operation(document, "/-/metrics", "get")["security"] == []


def test_the_service_routes_are_get_operations(document):
    assert operation(document, "/-/alive", "get")["operationId"] == "alive"
    assert set(operation(document, "/-/ready", "get")["responses"]) == {"200", "503"}
    metrics = operation(document, "/-/metrics", "get")["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert operation(document, "/", "get")["operationId"] == "index"


def test_routes_the_app_does_not_have_are_left_out():
    document = openapi_document(build_app(metrics=False))
    assert "/-/metrics" not in document["paths"]


# Served by the app, and true to its answers


def test_get_openapi_json_serves_the_document(app):
    client = app.test_client()
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == json.loads(json.dumps(openapi_document(app)))
    assert client.get("/openapi.json").get_json() == response.get_json()


def test_the_document_needs_no_token():
    client = build_app(token=TOKEN).test_client()
    assert client.get("/openapi.json").status_code == 200
    assert client.post("/square", json={"n": 3}).status_code == 401


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    response = operation(document, path, method)["responses"][str(status)]
    if "$ref" in response:
        response = resolve(document, response["$ref"])
    return response["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/square", {"n": 3}, 200),
        ("/square", {"n": "three"}, 422),
        ("/square", {}, 422),
        ("/add", {"a": 1, "b": 2, "c": 3}, 422),
        ("/distance", {"p": {"x": 0, "y": 0}, "q": {"x": 3, "y": 4}}, 200),
        ("/distance", {"p": {"x": 0}, "q": {"x": 3, "y": 4}}, 422),
        ("/legacy", {"x": "a"}, 200),
        ("/legacy", {}, 422),
        ("/now", None, 200),
        ("/describe", {"text": "abc"}, 200),
        ("/word_count", {"file": "not a file"}, 422),
        ("/square", "[1, 2]", 400),
        ("/square", "{not json", 400),
    ],
)
def test_answers_match_the_documented_schemas(app, document, path, body, status):
    data = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    response = app.test_client().post(path, data=data)
    assert response.status_code == status, response.get_data(as_text=True)
    schema = response_schema(document, path, "post", status)
    assert conforms(document, schema, response.get_json()) == []


def test_a_multipart_call_matches_its_documented_schema(app, document):
    data = {"file": (io.BytesIO(b"one two three"), "words.txt"), "sep": " "}
    response = app.test_client().post("/word_count", data=data)
    assert response.status_code == 200
    assert conforms(document, response_schema(document, "/word_count", "post", 200), 3) == []
    assert response.get_json() == 3


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/-/alive", 200), ("/-/ready", 200)])
def test_service_answers_match_the_documented_schemas(app, document, path, status):
    response = app.test_client().get(path)
    assert response.status_code == status
    schema = response_schema(document, path, "get", status)
    assert conforms(document, schema, response.get_json()) == []


def test_a_validation_error_needs_its_errors(document):
    errors = conforms(document, {"$ref": "#/components/schemas/ValidationError"}, {"error": "x"})
    assert errors


# The examples of docs/openapi.rst


def docs_block(name: str) -> str:
    (block,) = [
        content
        for _, options, content in directive_blocks(read(DOCS / "openapi.rst"), CODE_DIRECTIVE)
        if options.get("name") == name
    ]
    return block


@pytest.fixture
def docs_app() -> Firefly:
    namespace: dict[str, Any] = {}
    exec(compile(docs_block("openapi-app-example"), "docs/openapi.rst", "exec"), namespace)
    return namespace["app"]


def test_the_docs_example_document(docs_app):
    document = docs_app.test_client().get("/openapi.json").get_json()
    assert document["info"] == {
        "title": "Geometry",
        "version": "1.2.0",
        "description": "Shapes and numbers.",
    }
    assert document["paths"]["/square"]["post"] == json.loads(
        docs_block("openapi-square-operation")
    )


def test_the_docs_example_validation_error(docs_app):
    response = docs_app.test_client().post(
        "/square", json={"n": "four"}, headers={"X-Request-ID": "doc-example"}
    )
    assert response.status_code == 422
    assert response.get_json() == json.loads(docs_block("openapi-validation-error"))


def test_the_docs_command_line_uses_real_options():
    commands = [
        line.strip()
        for line in read(DOCS / "openapi.rst").splitlines()
        if line.strip().startswith("$ firefly ")
    ]
    flags = {word for command in commands for word in command.split() if word.startswith("--")}
    assert flags == {"--title", "--api-version"}
    assert flags <= {option for param in serve_command.params for option in param.opts}


def test_a_capped_validation_error_conforms_with_its_more(document):
    app = Firefly()
    app.add_route("/square", lambda n: n**2, "square")
    body = app.test_client().post("/square", json={f"k{i}": 1 for i in range(30)}).get_json()
    assert body["more"] == 11
    assert conforms(document, {"$ref": "#/components/schemas/ValidationError"}, body) == []
    body["more"] = 0
    assert conforms(document, {"$ref": "#/components/schemas/ValidationError"}, body)
