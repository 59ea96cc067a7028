"""The granian server's pieces that need no process: addresses, the worker's app, a missing granian.

The servers themselves run in tests/e2e (every test marked ``on_each_server``).
"""

from __future__ import annotations

import gc
import socket
import sys

import pytest

from firefly import Firefly
from firefly.cli import serve_command
from firefly.config import Config
from firefly.config.settings import FunctionConfig
from firefly.server import GRANIAN_MISSING, server_for
from firefly.server.granian import GranianServer, WorkerApp, address, address_of, new_flag

IPV4, IPV6 = socket.AF_INET, socket.AF_INET6


@pytest.mark.parametrize(
    ("bind", "arguments", "client"),
    [
        ("127.0.0.1:8000", {"address": "127.0.0.1", "port": 8000}, (IPV4, ("127.0.0.1", 8000))),
        ("[::1]:9000", {"address": "::1", "port": 9000}, (IPV6, ("::1", 9000))),
        ("0.0.0.0:80", {"address": "0.0.0.0", "port": 80}, (IPV4, ("0.0.0.0", 80))),
    ],
)  # fmt: skip
def test_a_tcp_bind_gives_granian_an_address_and_a_port(bind, arguments, client):
    assert address(bind) == arguments
    assert address_of(bind) == client


def test_a_unix_bind_gives_granian_a_socket_path(tmp_path):
    path = tmp_path / "firefly.sock"
    assert address(f"unix:{path}") == {"uds": path}
    assert address_of(f"unix:{path}") == (socket.AF_UNIX, str(path))


def test_the_workers_app_is_prepared_when_loaded_and_answers_504_past_the_timeout():
    config = Config(timeout=3)
    server = GranianServer(config, Firefly())
    app = server.worker_app.app
    assert app is not None and "DeadlineFeature" in [type(f).__name__ for f in app.features]
    try:
        assert server.worker_app() is app
        assert app._stack is not None  # prepared: later setup raises
        with pytest.raises(AssertionError, match="already serving"):
            app.add_route("/late", lambda: 1)
    finally:
        gc.unfreeze()  # the worker froze what it had loaded: this process goes on testing
        server.remove_metrics_directory()
        app.shutdown()


def test_a_spawned_worker_builds_its_own_app():
    app = Firefly()
    loader = WorkerApp(Config(), app, new_flag())
    # What pickle sends a spawned worker (the shared flag pickles only while spawning).
    state = loader.__getstate__()
    assert state["app"] is None and state["config"] == loader.config
    assert loader.app is app


def test_a_worker_that_cannot_build_the_app_exits_with_one_line():
    missing = FunctionConfig(name="nosuch", function="firefly.nosuch", path="/nosuch")
    loader = WorkerApp(Config(functions=(missing,), reload=True), None, new_flag())
    with pytest.raises(SystemExit, match=r"^firefly: .*'firefly' has no attribute 'nosuch'"):
        loader()


def test_without_granian_the_server_is_one_line_and_a_non_zero_exit(monkeypatch, runner, capsys):
    for name in [name for name in sys.modules if name.split(".")[0] == "granian"] + ["granian"]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "firefly.server.granian")
    with pytest.raises(Exception, match=r"needs granian: pip install firefly-python\[granian\]"):
        server_for(Config(server="granian"))
    result = runner.invoke(serve_command, ["--server", "granian", "funcs.square"])
    assert result.exit_code == 1
    assert result.output == f"Error: {GRANIAN_MISSING}\n"
