"""The real ``firefly call`` and ``firefly executions`` against a real server keeping executions
in SQLite: the shell flow ``ID=$(firefly call URL square n=4 --async); firefly executions get URL
$ID`` run by bash as written, list, cancel, the token and the one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firefly import Client

from ..conftest import firefly_command, free_port, serve

pytestmark = pytest.mark.timeout(90)
TOKEN = "abcd1234"
FUNCTIONS = ("funcs.square", "funcs.add", "funcs.fail", "funcs.slow")
EXECUTION_ID = re.compile(r"^[0-9a-f]{32}$")
#: The directory of this interpreter's scripts, first on PATH: ``firefly`` is the one installed.
SCRIPTS = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("call_command")
    port = free_port()
    args = firefly_command(
        "--bind",
        f"127.0.0.1:{port}",
        "--executions",
        f"sqlite:///{folder / 'ex.db'}",
        "--execution-threads",
        "1",
        *FUNCTIONS,
    )
    with serve(args, port, env={"FIREFLY_TOKEN": TOKEN}, log_dir=folder) as server:
        yield server


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREFLY_")}
    return {**env, "PATH": f"{SCRIPTS}{os.pathsep}{env.get('PATH', '')}", **extra}


def firefly(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = environment(FIREFLY_TOKEN=token) if token else environment()
    return subprocess.run(
        firefly_command(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert (result.returncode, result.stdout) == (code, ""), result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    return result.stderr[len("Error: ") :].rstrip("\n")


def test_the_shell_flow_as_written(server):
    url = server.url
    script = f"ID=$(firefly call {url} square n=4 --async); firefly executions get {url} $ID"
    shell = subprocess.run(
        ["bash", "-c", script],
        env=environment(FIREFLY_TOKEN=TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (shell.returncode, shell.stderr) == (0, ""), shell
    shown = json.loads(shell.stdout)
    assert EXECUTION_ID.match(shown["id"])
    assert (shown["function"], shown["arguments"]) == ("square", {"n": 4})
    assert shown["status"] in ("queued", "running", "succeeded")
    done = firefly("executions", "get", server.url, shown["id"], "--wait", "10")
    assert done.returncode == 0, done
    finished = json.loads(done.stdout)
    assert (finished["id"], finished["status"], finished["result"]) == (
        shown["id"],
        "succeeded",
        16,
    )


def test_call_prints_the_result_as_json_and_async_only_the_id(server):
    assert firefly("call", server.url, "square", "n=4").stdout == "16\n"
    assert firefly("call", server.url, "add", "a=abc", "b=def").stdout == '"abcdef"\n'
    assert firefly("call", server.url, "add", 'a="4"', 'b="2"').stdout == '"42"\n'
    assert firefly("call", server.url, "add", "--json", '{"a": [1], "b": [2]}').stdout == (
        "[\n  1,\n  2\n]\n"
    )
    submitted = firefly("call", server.url, "square", "n=5", "--async", token=None)
    assert submitted.returncode == 1  # no token: the same 401 as a sync call
    submitted = firefly(
        "call", server.url, "square", "n=5", "--async", "--token", TOKEN, token=None
    )
    assert (submitted.returncode, submitted.stderr) == (0, "")
    assert EXECUTION_ID.match(submitted.stdout.rstrip("\n"))
    with Client(server.url, auth_token=TOKEN) as client:
        assert client.execution(submitted.stdout.strip()).result(timeout=10) == 25


def test_list_and_cancel(server):
    with Client(server.url, auth_token=TOKEN) as client:
        blocker = client.slow.submit(seconds=3)  # outlasts the two commands below
        deadline = time.monotonic() + 10
        while blocker.status == "queued":  # then the only thread is busy with it
            assert time.monotonic() < deadline
            time.sleep(0.02)
        queued = client.add.submit(a=1, b=2)
        cancelled = firefly("executions", "cancel", server.url, queued.id)
        assert cancelled.returncode == 0, cancelled
        shown = json.loads(cancelled.stdout)
        assert (shown["id"], shown["status"], shown["function"]) == (queued.id, "cancelled", "add")
        refused = one_line_error(firefly("executions", "cancel", server.url, blocker.id))
        refusal = rf"^execution {blocker.id} (is running|has succeeded): only a queued one can"
        assert re.match(refusal, refused)
        blocker.result(timeout=10)
    listed = firefly("executions", "list", server.url, "--function", "add", "--status", "cancelled")
    assert listed.returncode == 0, listed
    line = listed.stdout.splitlines()[0].split()
    assert line[:3] == [queued.id, "cancelled", "add"] and line[3] == shown["created_at"]
    newest = firefly("executions", "list", server.url, "--limit", "2", "--json")
    items = json.loads(newest.stdout)
    assert [item["id"] for item in items] == [queued.id, blocker.id]
    assert items[1]["result"] == "done"
    assert firefly("executions", "list", server.url, "--function", "nothing").stdout == ""


def test_errors_are_one_line(server):
    assert one_line_error(firefly("call", server.url, "fail", "message=bad")) == "ValueError: bad"
    assert one_line_error(firefly("executions", "get", server.url, "nope")) == (
        "no execution 'nope' (unknown, or purged)"
    )
    assert one_line_error(firefly("call", server.url, "square", "n=4", token=None)).startswith(
        "missing token"
    )
    assert one_line_error(firefly("call", server.url, "square", "n=4", "--token", "wrong"))
    refused = firefly("call", f"http://127.0.0.1:{free_port()}/", "square", "n=4")
    assert one_line_error(refused).endswith(": connection refused")
    assert one_line_error(firefly("call", server.url, "square", "n"), code=2) == (
        "argument 'n': write it as NAME=VALUE, e.g. n=4"
    )
    assert one_line_error(firefly("call", "localhost:8000", "square"), code=2).startswith("URL:")
