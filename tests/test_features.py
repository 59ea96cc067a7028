"""The feature interface: a feature's wrapper, routes, observer and hooks, assembled by the app."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from firefly import Firefly
from firefly.dispatch import FunctionDispatcher
from firefly.errors import ConfigError
from firefly.features import Feature, Route, Service, build_invoke, public_routes
from firefly.registry import FunctionSpec
from firefly.routes.docs import DocsFeature
from firefly.routes.openapi import json_content, service_operation
from firefly.telemetry.observer import RequestRecord

from .test_docs import DOCS, named_block

TOKEN = "abcd1234"


def square(n: int) -> int:
    return n * n


class Recording(Feature):
    """A feature that notes everything the app asks of it."""

    schemas: ClassVar[dict[str, Any]] = {"Echo": {"type": "object"}}

    def __init__(self, label: str = "recording"):
        self.label = label
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        self.events: list[Any] = []
        self.records: list[RequestRecord] = []

    def routes(self) -> tuple[Route, ...]:
        operation = service_operation("echo", "Echo", json_content("Echo"))
        return (
            Route("/-/echo", f"{self.label}_echo", self.echo, public=True, operation=operation),
            Route("/-/notes/<path:name>", f"{self.label}_note", self.note),
        )

    def wrap(self, spec: FunctionSpec, invoke: Any) -> Any:
        def noted(**arguments: Any) -> Any:
            result = invoke(**arguments)
            self.calls.append((spec.name, arguments, result))
            return result

        return noted

    def observer(self) -> Recording:
        return self

    def request_started(self) -> None:
        self.events.append("request")

    def request_finished(self, record: RequestRecord) -> None:
        self.records.append(record)

    def start(self, service: Service) -> None:
        self.events.append(("start", [function.spec.name for function in service.functions]))

    def stop(self) -> None:
        self.events.append("stop")

    def echo(self) -> dict[str, str]:
        return {"label": self.label}

    def note(self, name: str) -> dict[str, str]:
        return {"note": name}


def endpoints_of(app: Firefly) -> dict[str, Any]:
    stack: Any = app.prepare()
    while not isinstance(stack, FunctionDispatcher):
        stack = stack.app
    return stack.endpoints


def test_with_no_feature_wrapping_the_invoke_is_the_function_itself():
    app = Firefly(executions="off")  # executions wrap the endpoint, not the invoke
    app.function(square)
    assert endpoints_of(app)["/square"].invoke is square


def test_a_wrapper_sees_the_arguments_and_the_result_of_each_call():
    app, feature = Firefly(), Recording()
    app.add_feature(feature)
    app.function(square)
    assert app.test_client().post("/square", json={"n": "3"}).json == 9
    assert feature.calls == [("square", {"n": 3}, 9)]  # after validation


def test_the_first_feature_wraps_innermost():
    order: list[str] = []

    class Tagging(Feature):
        def __init__(self, tag: str):
            self.tag = tag

        def wrap(self, spec: FunctionSpec, invoke: Any) -> Any:
            def tagged(**arguments: Any) -> Any:
                order.append(self.tag)
                return invoke(**arguments)

            return tagged

    spec = FunctionSpec.create(square)
    assert build_invoke(spec, [Tagging("inner"), Tagging("outer")])(n=2) == 4
    assert order == ["outer", "inner"]


def test_routes_are_served_and_their_paths_reserved():
    app = Firefly()
    app.add_feature(Recording())
    for path in ("/-/echo", "/-/notes/x"):
        with pytest.raises(ConfigError, match=f"path '{path}' of function 'square' is reserved"):
            app.add_route(path, square)
    client = app.test_client()
    assert client.get("/-/echo").json == {"label": "recording"}
    assert client.get("/-/notes/a/b").json == {"note": "a/b"}


def test_a_route_may_not_hide_a_function():
    app = Firefly()
    app.add_route("/-/echo", square)
    with pytest.raises(ConfigError, match="route '/-/echo' would hide function 'square'"):
        app.add_feature(Recording())


def test_public_routes_need_no_token_and_the_others_do():
    app = Firefly(auth_token=TOKEN)
    app.add_feature(Recording())
    client = app.test_client()
    assert client.get("/-/echo").status_code == 200
    assert client.get("/-/notes/x").status_code == 401
    headers = {"Authorization": f"Token {TOKEN}"}
    assert client.get("/-/notes/x", headers=headers).status_code == 200


def test_public_routes_give_paths_and_prefixes():
    routes = Recording().routes() + (Route("/-/files/<name>", "files", print, public=True),)
    assert public_routes(routes) == (("/-/echo",), ("/-/files/",))


def test_operations_and_schemas_go_into_the_openapi_document():
    app = Firefly(auth_token=TOKEN)
    app.add_feature(Recording())
    app.function(square)
    app.prepare()
    docs = next(feature for feature in app.features if isinstance(feature, DocsFeature))
    document = docs.document()
    echo = document["paths"]["/-/echo"]["get"]
    assert echo["operationId"] == "echo" and echo["security"] == []
    assert document["components"]["schemas"]["Echo"] == {"type": "object"}
    assert not any(path.startswith("/-/notes") for path in document["paths"])  # no operation


def test_start_runs_once_with_what_is_served_then_the_observer_sees_requests():
    app, feature = Firefly(), Recording()
    app.add_feature(feature)
    app.function(square)
    app.prepare()
    app.prepare()
    assert feature.events == [("start", ["square"])]
    app.test_client().post("/square", json={"n": 2}).close()  # reported once sent
    assert feature.events[-1] == "request"
    assert [(r.function, r.status) for r in feature.records] == [("square", 200)]


def test_shutdown_stops_every_feature_once_and_only_after_start():
    app, feature = Firefly(), Recording()
    app.add_feature(feature)
    app.shutdown()
    assert feature.events == []  # never started: nothing to stop
    app.prepare()
    app.shutdown()
    app.shutdown()
    assert feature.events == [("start", []), "stop"]


def test_no_feature_can_be_added_once_serving():
    app = Firefly()
    app.prepare()
    with pytest.raises(AssertionError, match="'add_feature' can no longer be called"):
        app.add_feature(Recording())


def test_the_settings_choose_the_features():
    off = Firefly(docs=False, metrics=False, executions="off")
    assert {type(feature).__name__ for feature in off.features} == {
        "IndexFeature",
        "HealthFeature",
        "AccessLogFeature",
    }
    kinds = {type(f).__name__ for f in Firefly(access_log="off").features}
    assert kinds == {
        "IndexFeature",
        "HealthFeature",
        "DocsFeature",
        "MetricsFeature",
        "ExecutionsFeature",
    }
    logged = Firefly(access_log="off", executions="off", prediction_log="sqlite:///p.db")
    assert "PredictionLogFeature" in {type(f).__name__ for f in logged.features}


def test_the_architecture_page_example_counts_calls():
    example = named_block(DOCS / "architecture.rst", "architecture-call-counter")
    namespace: dict[str, Any] = {}
    exec(compile(example, "architecture.rst", "exec"), namespace)
    client = namespace["app"].test_client()
    for n in (2, 3):
        assert client.post("/square", json={"n": n}).json == n * n
    assert client.get("/-/calls").json == {"square": 2}
