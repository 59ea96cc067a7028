"""Property-based fuzzing of a real server with schemathesis, from its own /openapi.json.

``firefly`` serves the example functions; every operation of its OpenAPI
document gets a fixed number of generated requests, valid ones and (for the
functions) invalid ones, with a derandomized generator so a failure comes
back on the next run. No response may be a 5xx (none of the examples raises
on purpose), every response must match the document (a documented status
code, content type, headers and body schema), and valid data must be
accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import EXAMPLES, Server, firefly_command, free_port, serve

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz run needs schemathesis")
hypothesis = pytest.importorskip("hypothesis")
checks = pytest.importorskip("schemathesis.specs.openapi.checks")

from schemathesis.checks import not_a_server_error  # noqa: E402

FUNCTIONS = ("square", "cube", "add", "word_count", "repeat")
SERVICE_ROUTES = ("/", "/-/alive", "/-/ready", "/-/metrics", "/-/executions")
EXAMPLES_PER_OPERATION = 50  # bounded: the whole run stays well under a minute
# Not negative_data_rejection: validation coerces in pydantic's lax mode on purpose
# (docs/validation.rst), so {"n": "4"} is accepted although the schema says number.
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.positive_data_acceptance,
]
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", *(f"funcs.{name}" for name in FUNCTIONS))
    with serve(args, port, cwd=EXAMPLES, log_dir=tmp_path_factory.mktemp("fuzz")) as server:
        yield server


@pytest.fixture(scope="module")
def api(examples_server: Server) -> Any:
    return schemathesis.openapi.from_url(examples_server.url + "openapi.json", timeout=10)


def fuzz(api: Any, method: str, path: str, mode: Any) -> None:
    """Send ``EXAMPLES_PER_OPERATION`` generated requests to one operation and check each answer."""
    operation = api[path][method]

    @FUZZ_SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def call_and_check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, timeout=10)

    call_and_check()


def test_the_document_has_every_example_and_service_route(api):
    operations = {(operation.method.upper(), operation.path) for operation in operations_of(api)}
    assert operations == {("POST", f"/{name}") for name in FUNCTIONS} | {
        ("GET", path) for path in (*SERVICE_ROUTES, "/-/executions/{execution_id}")
    }


def operations_of(api: Any) -> list[Any]:
    return [result.ok() for result in api.get_all_operations()]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_valid_calls_succeed_and_match_the_document(api, function):
    fuzz(api, "POST", f"/{function}", schemathesis.GenerationMode.POSITIVE)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_invalid_calls_get_documented_answers(api, function):
    fuzz(api, "POST", f"/{function}", schemathesis.GenerationMode.NEGATIVE)


@pytest.mark.parametrize("path", SERVICE_ROUTES)
def test_service_routes_match_the_document(api, path):
    fuzz(api, "GET", path, schemathesis.GenerationMode.POSITIVE)
