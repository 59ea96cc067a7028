"""Every example of docs/validation.rst does what the page says."""

from __future__ import annotations

import datetime
import enum
import inspect
import json
import math
import re
import shlex
import sys
import types
from typing import Any, Literal

import pytest

import firefly
from firefly.app import create_app
from firefly.config import load_config
from firefly.schema import FunctionSchema

from .test_docs import CODE_DIRECTIVE, DOCS, directive_blocks, list_table_rows, read

PAGE = DOCS / "validation.rst"
LITERAL = re.compile(r"``(.+?)``")


def named_block(name: str) -> str:
    (content,) = [
        content
        for _, options, content in directive_blocks(read(PAGE), CODE_DIRECTIVE)
        if options.get("name") == name
    ]
    return content


def blocks_of(language: str) -> list[str]:
    pattern = re.compile(rf"^(?P<indent>\s*)\.\. code-block:: {language}\s*$")
    return [content for _, _, content in directive_blocks(read(PAGE), pattern)]


def run_example(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"docs_{name.replace('-', '_')}"}
    code = compile(named_block(name), f"docs/validation.rst:{name}", "exec", dont_inherit=True)
    exec(code, namespace)
    return namespace


@pytest.fixture(scope="module")
def order_app() -> firefly.Firefly:
    return run_example("validation-example")["app"]


def curl_calls() -> list[tuple[str, str, Any]]:
    """Each ``$ curl -d BODY URL`` of the page: path, body, and the documented answer."""
    calls = []
    for block in blocks_of("console"):
        command, _, output = block.partition("\n")
        words = shlex.split(command.removeprefix("$ "))
        assert words[:2] == ["curl", "-d"], command
        path = "/" + words[3].split("/", 3)[3]
        calls.append((path, words[2], json.loads(output)))
    return calls


@pytest.mark.parametrize(("path", "body", "answer"), curl_calls())
def test_the_curl_examples_answer_as_shown(order_app, path, body, answer):
    response = order_app.test_client().post(
        path, data=body, content_type="application/x-www-form-urlencoded"
    )
    got = response.get_json()
    if isinstance(answer, dict):
        assert response.status_code == 422
        assert re.fullmatch("[0-9a-f]{32}", answer.pop("request_id"))
        assert got.pop("request_id")
    else:
        assert response.status_code == 200
    assert got == answer


def test_the_page_shows_an_accepted_and_a_refused_call():
    answers = [answer for _, _, answer in curl_calls()]
    assert any(isinstance(answer, float) for answer in answers)
    assert any(isinstance(answer, dict) and answer["errors"] for answer in answers)


def test_the_example_function_gets_items_and_its_own_defaults(order_app):
    spec = next(spec for spec in order_app.registry if spec.path == "/order")
    arguments = spec.schema.validate({"items": [{"name": "pen", "price": "2"}]})
    assert list(arguments) == ["items"]  # express: the function's default applies
    [item] = arguments["items"]
    assert type(item).__name__ == "Item" and (item.price, item.quantity) == (2.0, 1)


def test_the_documented_arguments_schema_is_the_one_built(order_app):
    documented = json.loads(named_block("validation-arguments-schema"))
    assert (
        next(
            spec for spec in order_app.registry if spec.path == "/order"
        ).schema.arguments_json_schema()
        == documented
    )


class Color(enum.Enum):
    RED = "red"


TABLE_NAMESPACE = {
    "Color": Color,
    "datetime": datetime,
    "Literal": Literal,
    "inf": math.inf,
}


def conversion_rows() -> list[tuple[str, str, str]]:
    rows = list_table_rows(read(PAGE))
    conversions = []
    for row in rows[1:]:  # the first is the header
        hint, sent, received = (cell.strip() for cell in re.split(r"^\s*- ", row, flags=re.M))
        conversions.append((LITERAL.search(hint)[1], LITERAL.search(sent)[1], received))
    return conversions


def test_the_conversion_table_has_rows():
    assert len(conversion_rows()) >= 20


@pytest.mark.parametrize(("hint", "sent", "received"), conversion_rows())
def test_each_row_of_the_conversion_table(hint, sent, received):
    function = _function_of(hint)
    schema = FunctionSchema.for_function("f", function, inspect.signature(function))
    value = json.loads(sent)
    if received.startswith("refused"):
        with pytest.raises(firefly.ValidationError) as info:
            schema.validate({"x": value})
        [error] = info.value.details["errors"]
        assert error["type"] == LITERAL.search(received)[1]
    else:
        expected = eval(LITERAL.search(received)[1], TABLE_NAMESPACE)
        got = schema.validate({"x": value})["x"]
        assert got == expected
        assert type(got) is type(expected)


def _function_of(hint: str) -> Any:
    def f(x):
        return x

    f.__annotations__ = {"x": eval(hint, TABLE_NAMESPACE)}
    return f


def test_validation_can_be_turned_off_for_one_function():
    app = run_example("validation-off-example")["app"]
    response = app.test_client().post("/echo", json={"n": "4"})
    assert response.get_json() == "4"
    assert app.test_client().post("/echo", json={}).status_code == 422


def test_the_config_file_turns_it_off_for_one_function(tmp_path, monkeypatch):
    funcs = types.ModuleType("funcs")
    funcs.echo = run_example("validation-off-example")["echo"]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "funcs", funcs)
    [config_text] = blocks_of("yaml")
    path = tmp_path / "firefly.yml"
    path.write_text(config_text)
    app = create_app(load_config({"config": str(path)}, {}))
    assert app.test_client().post("/echo", json={"n": "4"}).get_json() == "4"
    validating = create_app(load_config({"functions": ["funcs.echo"]}, {}))
    assert validating.test_client().post("/echo", json={"n": "4"}).get_json() == 4


def test_the_python_schema_example_gives_what_its_comments_say():
    namespace = run_example("validation-schema-example")
    for line in named_block("validation-schema-example").splitlines():
        if "  # " in line:
            expression, _, expected = line.partition("  # ")
            assert eval(expression, namespace) == eval(expected)


def test_the_capped_422_example_gives_what_its_comments_say():
    namespace = run_example("validation-cap-example")
    for line in named_block("validation-cap-example").splitlines():
        if "  # " in line:
            expression, _, expected = line.partition("  # ")
            assert eval(expression, namespace) == eval(expected)
