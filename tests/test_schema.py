"""FunctionSchema: JSON Schemas from type hints, and validation of arguments against them."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib.util
import inspect
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Annotated, Any, BinaryIO, Literal, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field
from typing_extensions import TypedDict
from werkzeug.datastructures import FileStorage

from firefly import Firefly, ValidationError
from firefly import schema as schema_module
from firefly.protocol import MAX_LISTED_ERRORS
from firefly.schema import FILE_SCHEMA, FunctionSchema

from .conftest import EXAMPLES
from .test_docs import load_example_funcs

if TYPE_CHECKING:
    from decimal import Decimal  # only for type checkers: unresolvable at run time


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Options(TypedDict):
    depth: int


class Item(BaseModel):
    name: str
    price: float = Field(gt=0, description="Unit price")


class Opaque:
    """A class pydantic knows nothing about."""


def schema_of(func: Callable[..., Any], name: str | None = None) -> FunctionSchema:
    return FunctionSchema.for_function(name or func.__name__, func, inspect.signature(func))


def properties(func: Callable[..., Any]) -> dict[str, Any]:
    return schema_of(func).arguments_json_schema()["properties"]


def invalid(schema: FunctionSchema, arguments: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        schema.validate(arguments)
    return info.value


# Argument schemas


def square(n: int) -> int:
    """Return the square of a number."""
    return n**2


def test_the_arguments_schema_is_a_closed_object_of_the_parameters():
    assert schema_of(square).arguments_json_schema() == {
        "type": "object",
        "title": "square arguments",
        "properties": {"n": {"type": "integer", "title": "N"}},
        "required": ["n"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (str, {"type": "string"}),
        (bool, {"type": "boolean"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Color, {"$ref": "#/$defs/Color"}),
        (Point, {"$ref": "#/$defs/Point"}),
        (Options, {"$ref": "#/$defs/Options"}),
        (Item, {"$ref": "#/$defs/Item"}),
        (
            Annotated[int, Field(ge=1, description="How many")],
            {"type": "integer", "minimum": 1, "description": "How many"},
        ),
        (Opaque, {}),
        (list[Opaque], {}),
        (BinaryIO, FILE_SCHEMA),
        (IO[bytes], FILE_SCHEMA),
        (IO, FILE_SCHEMA),
        (FileStorage, FILE_SCHEMA),
    ],
    ids=repr,
)
def test_each_kind_of_hint_has_its_schema(hint, expected):
    def f(x):
        return x

    f.__annotations__ = {"x": hint}
    schema = schema_of(f).arguments_json_schema()
    got = {key: value for key, value in schema["properties"]["x"].items() if key != "title"}
    assert got == expected
    Draft202012Validator.check_schema(schema)


def test_nested_classes_are_defined_once_in_defs():
    def f(p: Point, items: list[Item], color: Color = Color.RED, options: Options | None = None):
        return p

    schema = schema_of(f).arguments_json_schema()
    assert set(schema["$defs"]) == {"Point", "Item", "Color", "Options"}
    assert schema["$defs"]["Item"]["properties"]["price"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "title": "Price",
        "description": "Unit price",
    }
    assert schema["$defs"]["Color"] == {"enum": ["red", "blue"], "title": "Color", "type": "string"}
    assert schema["required"] == ["p", "items"]


def test_refs_follow_the_ref_template():
    def f(p: Point):
        return p

    schema = schema_of(f).arguments_json_schema(ref_template="#/components/schemas/{model}")
    assert schema["properties"]["p"] == {"$ref": "#/components/schemas/Point"}


def test_defaults_appear_in_their_json_form():
    def f(
        a: int = 1,
        b: str | None = None,
        c: Color = Color.BLUE,
        d: Point = Point(1, 2),  # noqa: B008
        e: datetime.date = datetime.date(2024, 1, 2),
        f=(1, 2),
        g: Opaque = Opaque(),  # noqa: B008  (no JSON form: left out)
    ):
        return a

    props = properties(f)
    assert {name: props[name].get("default", "<none>") for name in props} == {
        "a": 1,
        "b": None,
        "c": "blue",
        "d": {"x": 1, "y": 2},
        "e": "2024-01-02",
        "f": [1, 2],
        "g": "<none>",
    }
    assert "required" not in schema_of(f).arguments_json_schema()


def test_title_and_description_come_from_annotated_fields():
    def f(n: Annotated[int, Field(title="Count", description="How many times")] = 2):
        return n

    assert properties(f)["n"] == {
        "type": "integer",
        "title": "Count",
        "description": "How many times",
        "default": 2,
    }


def test_unannotated_parameters_accept_anything():
    def f(a, b=3):
        return a

    schema = schema_of(f)
    assert not schema.hinted
    assert properties(f) == {"a": {"title": "A"}, "b": {"title": "B", "default": 3}}
    assert schema.validate({"a": [1, {"x": None}]}) == {"a": [1, {"x": None}]}


def test_args_and_positional_only_parameters_are_left_out():
    def f(a: int, /, b: int = 0, *args: int, c: int, **kwargs: str):
        return a

    schema = schema_of(f).arguments_json_schema()
    assert list(schema["properties"]) == ["b", "c"]
    assert schema["required"] == ["c"]
    assert schema["additionalProperties"] == {"type": "string"}


def test_kwargs_without_a_hint_allow_any_extra_key():
    def f(a: int, **kwargs):
        return a

    assert schema_of(f).arguments_json_schema()["additionalProperties"] is True
    assert schema_of(f).validate({"a": "1", "b": [2], "c": None}) == {
        "a": 1,
        "b": [2],
        "c": None,
    }


def test_hints_that_cannot_be_resolved_are_taken_as_any(caplog):
    def f(price: Decimal, opaque: Opaque, n: int):
        return price

    schema = schema_of(f)
    assert schema.hinted
    assert properties(f)["price"] == {"title": "Price"}
    assert properties(f)["opaque"] == {"title": "Opaque"}
    assert schema.validate({"price": "1.5", "opaque": [1], "n": "2"}) == {
        "price": "1.5",
        "opaque": [1],
        "n": 2,
    }
    assert "f(): argument 'price' accepts any value" in caplog.text
    assert "f(): argument 'opaque' accepts any value" in caplog.text


def test_string_annotations_of_other_modules_resolve_there(tmp_path, monkeypatch):
    (tmp_path / "shapes_for_schema.py").write_text(
        "from __future__ import annotations\n"
        "import dataclasses\n"
        "@dataclasses.dataclass\n"
        "class Circle:\n"
        "    radius: float\n"
        "def area(shape: Circle, scale: list[int] | None = None) -> float:\n"
        "    return 3.14 * shape.radius**2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import shapes_for_schema

    schema = schema_of(shapes_for_schema.area)
    assert schema.arguments_json_schema()["properties"]["shape"] == {"$ref": "#/$defs/Circle"}
    circle = schema.validate({"shape": {"radius": "2"}})["shape"]
    assert circle == shapes_for_schema.Circle(2.0)


# Result schemas


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (inspect.Signature.empty, {}),
        (int, {"type": "integer"}),
        (None, {"type": "null"}),
        (list[float], {"type": "array", "items": {"type": "number"}}),
        (Point, {"type": "object", "required": ["x"]}),
        (Item, {"type": "object", "required": ["name", "price"]}),
        (Color, {"enum": ["red", "blue"]}),
        (BinaryIO, FILE_SCHEMA),
        (Opaque, {}),
    ],
    ids=repr,
)
def test_result_schema_comes_from_the_return_hint(annotation, expected):
    def f():
        return None

    if annotation is not inspect.Signature.empty:
        f.__annotations__ = {"return": annotation}
    schema = schema_of(f)
    assert expected.items() <= schema.result_json_schema().items()
    assert schema.hinted is (annotation is not inspect.Signature.empty)
    assert schema.returns_file is (annotation is BinaryIO)


# Validation


def test_validation_coerces_in_lax_mode():
    def f(n: int, x: float, flag: bool, names: list[str], when: datetime.date):
        return n

    arguments = {"n": "4", "x": "2.5", "flag": "yes", "names": ["a"], "when": "2024-01-02"}
    assert schema_of(f).validate(arguments) == {
        "n": 4,
        "x": 2.5,
        "flag": True,
        "names": ["a"],
        "when": datetime.date(2024, 1, 2),
    }


def test_only_the_arguments_given_are_passed():
    def f(a: int, b: list[int] = [], c: Point | None = None):  # noqa: B006
        return a

    assert schema_of(f).validate({"a": "1"}) == {"a": 1}


def test_nested_models_dataclasses_and_enums_arrive_as_instances():
    def f(p: Point, items: list[Item], color: Color, options: Options):
        return p

    arguments = schema_of(f).validate(
        {
            "p": {"x": "1"},
            "items": [{"name": "pen", "price": 2}],
            "color": "red",
            "options": {"depth": "3"},
        }
    )
    assert arguments == {
        "p": Point(1, 0),
        "items": [Item(name="pen", price=2.0)],
        "color": Color.RED,
        "options": {"depth": 3},
    }


def test_a_wrong_argument_names_the_function_the_argument_and_the_problem():
    error = invalid(schema_of(square), {"n": "four"})
    assert error.status_code == 422
    assert error.message == (
        "square(): invalid argument 'n': Input should be a valid integer,"
        " unable to parse string as an integer"
    )
    assert error.to_dict()["errors"] == [
        {
            "argument": "n",
            "location": [],
            "message": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


@pytest.mark.parametrize(
    ("arguments", "message", "types"),
    [
        ({}, "square(): missing required argument 'n'", ["missing"]),
        ({"n": 1, "m": 2}, "square(): unexpected argument 'm'", ["extra_forbidden"]),
        (
            {"m": 2},
            "square(): missing required argument 'n'; unexpected argument 'm'",
            ["missing", "extra_forbidden"],
        ),
    ],
)
def test_missing_and_unexpected_arguments_read_as_in_the_core(arguments, message, types):
    error = invalid(schema_of(square), arguments)
    assert error.message == message
    assert [entry["type"] for entry in error.details["errors"]] == types
    assert all(entry["location"] == [] for entry in error.details["errors"])


def test_errors_locate_the_problem_inside_the_argument():
    def order(items: list[Item], p: Point, tags: dict[str, int]):
        return items

    error = invalid(
        schema_of(order),
        {"items": [{"name": "a", "price": 1}, {"price": -1}], "p": {"x": 1}, "tags": {"k": "v"}},
    )
    assert [(e["argument"], e["location"], e["type"]) for e in error.details["errors"]] == [
        ("items", [1, "name"], "missing"),
        ("items", [1, "price"], "greater_than"),
        ("tags", ["k"], "int_parsing"),
    ]
    assert error.message.startswith(
        "order(): invalid argument 'items' at [1].name: Field required;"
        " invalid argument 'items' at [1].price: Input should be greater than 0;"
    )


def test_a_body_that_is_not_an_object_is_an_error_of_no_argument():
    error = invalid(schema_of(square), ["n"])
    assert error.details["errors"][0]["argument"] is None
    assert error.message.startswith("square(): invalid arguments: Input should be")


def test_huge_inputs_are_not_echoed_and_the_message_stays_short():
    def f(values: list[int]):
        return values

    huge = ["x" * 1000] * 50
    error = invalid(schema_of(f), {"values": huge})
    assert len(error.details["errors"]) == MAX_LISTED_ERRORS
    assert error.details["more"] == 50 - MAX_LISTED_ERRORS
    assert "x" * 20 not in json.dumps(error.to_dict())
    assert error.message.count("invalid argument") == 10
    assert error.message.endswith("; and 40 more")


def test_a_few_problems_have_no_more_key():
    error = invalid(schema_of(square), {"n": "x", "m": 1})
    assert set(error.to_dict()) == {"error", "errors"}


def test_a_million_unknown_arguments_list_the_first_and_count_the_rest(monkeypatch):
    described = []
    describe = schema_module._describe_error
    monkeypatch.setattr(
        schema_module, "_describe_error", lambda *a: described.append(a) or describe(*a)
    )
    arguments = {"n": 2} | {f"k{i}": 1 for i in range(1_000_000)}
    error = invalid(schema_of(square), arguments)
    assert [entry["argument"] for entry in error.details["errors"]] == [
        f"k{i}" for i in range(MAX_LISTED_ERRORS)
    ]
    assert error.details["more"] == 1_000_000 - MAX_LISTED_ERRORS
    assert error.message.endswith("; unexpected argument 'k9'; and 999,990 more")
    assert len(described) <= MAX_LISTED_ERRORS + 1  # the rest were counted, not described
    assert len(json.dumps(error.to_dict())) < 5000


def test_the_declared_arguments_are_listed_before_the_unknown_ones():
    def f(a: int, b: int = 0):
        return a

    arguments = {f"k{i}": 1 for i in range(100)} | {"b": "x"}
    error = invalid(schema_of(f), arguments)
    listed = [(entry["argument"], entry["type"]) for entry in error.details["errors"]]
    assert listed[:2] == [("a", "missing"), ("b", "int_parsing")]
    assert listed[2:] == [(f"k{i}", "extra_forbidden") for i in range(MAX_LISTED_ERRORS - 2)]
    assert error.details["more"] == 102 - MAX_LISTED_ERRORS


def test_kwargs_with_a_hint_are_capped_too():
    def f(**numbers: int):
        return numbers

    error = invalid(schema_of(f), {f"k{i}": "x" for i in range(1000)})
    assert len(error.details["errors"]) == MAX_LISTED_ERRORS
    assert error.details["more"] == 1000 - MAX_LISTED_ERRORS


def test_more_counts_the_places_beyond_the_cap_each_union_member_once():
    def f(values: list[int | float]):
        return values

    error = invalid(schema_of(f), {"values": ["x"] * 30})
    entries = error.details["errors"]
    assert len(entries) == MAX_LISTED_ERRORS
    assert all(", or input should be a valid number" in entry["message"] for entry in entries)
    assert error.details["more"] == 30 - MAX_LISTED_ERRORS
    assert error.message.endswith("; and 20 more")


# Files


def test_file_parameters_take_uploaded_files_unchanged():
    def upload(file: BinaryIO, label: str = ""):
        return file

    schema = schema_of(upload)
    assert schema.files == {"file"}
    upload_file = FileStorage(io.BytesIO(b"abc"), filename="a.txt")
    assert schema.validate({"file": upload_file, "label": "x"})["file"] is upload_file
    error = invalid(schema, {"file": "abc"})
    assert error.details["errors"][0]["type"] == "file_type"
    assert "multipart/form-data" in error.message
    assert not schema_of(square).files


# Docstrings


@pytest.mark.parametrize(
    ("doc", "summary", "description"),
    [
        (None, "", ""),
        ("Return the square.", "Return the square.", ""),
        ("Return the square\n    of a number.", "Return the square of a number.", ""),
        ("Summary.\n\n    More.\n\n    Even more.", "Summary.", "More.\n\nEven more."),
    ],
)
def test_summary_and_description_come_from_the_docstring(doc, summary, description):
    def f():
        return None

    f.__doc__ = doc
    schema = schema_of(f)
    assert (schema.summary, schema.description) == (summary, description)


# Cost and weight


def test_importing_the_schema_module_does_not_import_pydantic():
    code = "import sys, firefly.schema; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# Through the app


def build_app(**options: Any) -> Firefly:
    app = Firefly(**options)

    @app.function
    def order(items: list[Item], express: bool = False) -> float:
        return sum(item.price for item in items) + (10 if express else 0)

    @app.function
    def where(p: Point, color: Color = Color.RED) -> Point:
        return dataclasses.replace(p, y=p.y + 1)

    @app.function
    def item(name: str) -> Item:
        return Item(name=name, price=1)

    @app.function
    def big(n: int) -> int:
        return n**5

    @app.function
    def kind(n: int) -> str:
        return type(n).__name__

    @app.function(validate=False)
    def raw(n: int):
        return n

    @app.function
    def plain(n):
        return n

    @app.function
    def upload(file: BinaryIO, times: int = 1) -> int:
        return len(file.read()) * times

    return app


@pytest.fixture(scope="module")
def app_client():
    return build_app().test_client()


def test_the_app_answers_422_with_the_errors(app_client):
    response = app_client.post("/order", json={"items": [{"name": "pen"}], "fast": True})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == (
        "order(): invalid argument 'items' at [0].price: Field required; unexpected argument 'fast'"
    )
    assert [entry["type"] for entry in body["errors"]] == ["missing", "extra_forbidden"]
    assert body["request_id"]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/order", {"items": [{"name": "pen", "price": "1.5"}], "express": "on"}, 11.5),
        ("/where", {"p": {"x": "1"}, "color": "blue"}, {"x": 1, "y": 1}),
        ("/item", {"name": "pen"}, {"name": "pen", "price": 1.0}),
        ("/big", {"n": "10"}, 10**5),
        ("/big", {"n": 2**62}, 2**310),
    ],
)
def test_results_match_their_schema(app_client, path, body, expected):
    response = app_client.post(path, json=body)
    assert response.status_code == 200, response.get_json()
    result = json.loads(response.data)
    assert result == expected
    spec = next(spec for spec in app_client.application.registry if spec.path == path)
    Draft202012Validator(spec.schema.result_json_schema()).validate(result)


def test_validation_off_and_unhinted_functions_keep_the_core_behaviour(app_client):
    assert app_client.post("/raw", json={"n": "4"}).get_json() == "4"
    assert app_client.post("/plain", json={"n": "4"}).get_json() == "4"
    for path in ("/raw", "/plain"):
        response = app_client.post(path, json={"m": 1})
        assert response.status_code == 422
        assert "missing required argument 'n'" in response.get_json()["error"]


def test_the_app_wide_switch_turns_validation_off(app_client):
    assert app_client.post("/kind", json={"n": "4"}).get_json() == "int"
    client = build_app(validate=False).test_client()
    assert client.post("/kind", json={"n": "4"}).get_json() == "str"


def test_multipart_fields_are_coerced_and_files_pass_through(app_client):
    data = {"file": (io.BytesIO(b"abcd"), "a.txt"), "times": "3"}
    response = app_client.post("/upload", data=data, content_type="multipart/form-data")
    assert response.get_json() == 12
    response = app_client.post("/upload", json={"file": "abcd"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["type"] == "file_type"


# The examples: simple hints that hold under any input


@pytest.fixture(scope="module")
def examples_client():
    spec = importlib.util.spec_from_file_location("example_funcs", EXAMPLES / "funcs.py")
    funcs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(funcs)
    app = Firefly()
    for function in (funcs.square, funcs.cube, funcs.add, funcs.word_count, funcs.repeat):
        app.function(function)
    return app.test_client()


def test_the_examples_answer_as_before(examples_client):
    post = examples_client.post
    square = post("/square", data='{"n": 4}', content_type="application/x-www-form-urlencoded")
    assert square.data == b"16"
    assert post("/cube", json={"n": 4}).data == b"64"
    assert post("/square", json={"n": 2.5}).data == b"6.25"
    assert post("/add", json={"a": 1, "b": 2}).data == b"3"
    assert post("/add", json={"a": 1}).data == b"1"
    text = {"file": (io.BytesIO(b"one two three"), "t.txt")}
    assert post("/word_count", data=text, content_type="multipart/form-data").data == b"3"
    repeated = post("/repeat", json={"text": "ab", "times": 3})
    assert (repeated.content_type, repeated.data) == ("application/octet-stream", b"ababab")


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
NUMBERS = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats()


@pytest.mark.parametrize(
    ("path", "names"),
    [("/square", ["n"]), ("/cube", ["n"]), ("/add", ["a", "b"]), ("/repeat", ["text", "times"])],
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_examples_never_fail_and_match_their_result_schema(examples_client, path, names, data):
    values = NUMBERS | JSON_VALUES | st.integers(min_value=-5, max_value=5).map(str)
    body = data.draw(st.dictionaries(st.sampled_from([*names, "x"]), values, max_size=3))
    response = examples_client.post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 422), response.data
    if response.status_code == 200 and path != "/repeat":
        registry = examples_client.application.registry
        spec = next(spec for spec in registry if spec.path == path)
        Draft202012Validator(spec.schema.result_json_schema()).validate(json.loads(response.data))


# Numbers too long to print are written short.


def refusal(function: Callable[..., Any], **arguments: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        schema_of(function).validate(arguments)
    return info.value


def no_long_number(text: str) -> bool:
    return re.search(r"\d{21,}", text) is None


def test_a_huge_float_for_an_int_names_the_argument_and_the_value_short():
    def f(n: int) -> int:
        return n

    error = refusal(f, n=1e200)
    message = (
        "Input should be a valid integer, got 1e+200, which is out of range"
        " (a float must be below 2**63 in magnitude)"
    )
    assert str(error) == f"f(): invalid argument 'n': {message}"
    assert error.details["errors"] == [
        {"argument": "n", "location": [], "message": message, "type": "int_parsing_size"}
    ]
    assert "got -1e+200," in str(refusal(f, n=-1e200))
    assert "got 1e+20," in str(refusal(f, n=1e20))  # whole, but too large to be read as an int


def test_the_examples_square_answers_1e200_in_a_short_message():
    funcs = load_example_funcs()
    app = Firefly()
    app.function(funcs.square)
    response = app.test_client().post("/square", data='{"n": 1e200}')
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == (
        "square(): invalid argument 'n': Input should be a valid integer, got 1e+200, which is"
        " out of range (a float must be below 2**63 in magnitude), or input should be less than"
        " or equal to 1e+100"
    )
    assert body["errors"][0]["message"] in body["error"]
    assert no_long_number(response.get_data(as_text=True)) and len(body["error"]) < 250


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (Annotated[float, Field(le=1e100)], 1e200, "Input should be less than or equal to 1e+100"),
        (
            Annotated[float, Field(ge=-1e100)],
            -1e200,
            "Input should be greater than or equal to -1e+100",
        ),
        (Annotated[float, Field(gt=1e-300)], -1.0, "Input should be greater than 1e-300"),
        (Annotated[float, Field(lt=1e50)], 1e60, "Input should be less than 1e+50"),
        (
            Annotated[int, Field(le=10**120)],
            10**130,
            "Input should be less than or equal to 1e+120",
        ),
        (
            Annotated[int, Field(multiple_of=10**50)],
            10**50 + 1,
            "Input should be a multiple of 1e+50",
        ),
        # Short limits keep pydantic's own words.
        (Annotated[float, Field(gt=0)], -1.0, "Input should be greater than 0"),
        (Annotated[int, Field(le=1000)], 1001, "Input should be less than or equal to 1000"),
        (Annotated[float, Field(le=2.5)], 3.0, "Input should be less than or equal to 2.5"),
        # A string too long for an int is still called one.
        (int, "1" * 5000, "Unable to parse input string as an integer, exceeded maximum size"),
        (int, 2.5, "Input should be a valid integer, got a number with a fractional part"),
    ],
)
def test_limits_are_written_short(hint, value, message):
    def f(x):
        return x

    f.__annotations__ = {"x": hint}
    error = refusal(f, x=value)
    [problem] = error.details["errors"]
    assert problem["message"] == message
    assert str(error) == f"f(): invalid argument 'x': {message}"


def test_the_client_gets_the_short_message(app):
    @app.function
    def whole(n: int) -> int:
        return n

    client = app.test_client()
    body = client.post("/whole", data='{"n": 1e200}').get_json()
    assert "got 1e+200" in body["error"] and no_long_number(json.dumps(body))
