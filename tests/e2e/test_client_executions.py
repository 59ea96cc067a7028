"""The Client's asynchronous executions against a real firefly server keeping them in SQLite:
submit, status, result, the remote error, timeouts, cancel, idempotency, listing, the token."""

from __future__ import annotations

import time

import pytest

import firefly
from firefly import Client
from firefly.remote_execution import STATUSES

from ..conftest import firefly_command, free_port, serve

pytestmark = pytest.mark.timeout(60)
TOKEN = "abcd1234"
#: One thread runs the executions, so that a slow one keeps the next ones queued.
CONFIG = """\
functions:
  square: {function: funcs.square}
  fail: {function: funcs.fail}
  slow: {function: funcs.slow}
  brief: {function: funcs.slow, execution_timeout: 0.3}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client_executions")
    (folder / "config.yml").write_text(CONFIG)
    port = free_port()
    args = firefly_command(
        "--bind",
        f"127.0.0.1:{port}",
        "-c",
        str(folder / "config.yml"),
        "--executions",
        f"sqlite:///{folder / 'ex.db'}",
        "--execution-threads",
        "1",
    )
    with serve(args, port, env={"FIREFLY_TOKEN": TOKEN}, log_dir=folder) as server:
        yield server


@pytest.fixture
def remote(server):
    with Client(server.url, auth_token=TOKEN) as client:
        yield client


def running(execution: firefly.RemoteExecution) -> None:
    deadline = time.monotonic() + 10
    while execution.status == "queued":
        assert time.monotonic() < deadline, execution.to_dict()
        time.sleep(0.02)


def test_submit_gives_an_execution_whose_result_comes_later(remote):
    job = remote.square.submit(n=4)
    assert isinstance(job, firefly.RemoteExecution)
    assert job.to_dict() == {"id": job.id, "status": "queued"}  # the 202's body, no request yet
    assert job.status in STATUSES
    assert job.result(timeout=10) == 16
    info = job.info()
    assert (info["status"], info["function"], info["arguments"], info["result"]) == (
        "succeeded",
        "square",
        {"n": 4},
        16,
    )
    assert info["created_at"] <= info["started_at"] <= info["finished_at"]
    again = remote.execution(job.id)
    assert (again.id, again.status, again.result(timeout=0)) == (job.id, "succeeded", 16)
    assert remote.submit("square", {"n": 5}).result(timeout=10) == 25


def test_a_failed_execution_raises_what_the_sync_call_raises(remote):
    with pytest.raises(firefly.RemoteError) as sync:
        remote.fail(message="bad input")
    with pytest.raises(firefly.RemoteError) as background:
        remote.fail.submit(message="bad input").result(timeout=10)
    assert background.value.remote_type == sync.value.remote_type == "ValueError"
    assert str(background.value) == str(sync.value) == "ValueError: bad input"
    assert background.value.details == sync.value.details == {"type": "ValueError"}
    assert background.value.status_code == 500
    with pytest.raises(firefly.CallTimeoutError, match=r"^timed out: ran past the 0.3 s timeout$"):
        remote.brief.submit(seconds=1).result(timeout=10)


def test_result_times_out_and_a_queued_execution_is_cancelled(remote):
    blocker = remote.slow.submit(seconds=1)
    with pytest.raises(firefly.RequestTimeoutError, match=r"did not finish within 0.2 seconds"):
        blocker.result(timeout=0.2)
    running(blocker)
    queued = remote.square.submit(n=3)  # behind the slow one on the only thread
    cancelled = queued.cancel()
    assert (cancelled["id"], cancelled["status"], cancelled["attempts"]) == (
        queued.id,
        "cancelled",
        0,
    )
    assert queued.status == "cancelled"
    with pytest.raises(firefly.ExecutionCancelledError, match=rf"^execution {queued.id} of "):
        queued.result(timeout=5)
    with pytest.raises(firefly.ConflictError, match="is running: only a queued one can be"):
        blocker.cancel()
    assert blocker.result(timeout=10) == "done"
    with pytest.raises(firefly.ConflictError, match="has succeeded"):
        blocker.cancel()


def test_an_idempotency_key_gives_the_same_execution(remote):
    first = remote.submit("square", {"n": 6}, idempotency_key="order-17")
    second = remote.submit("square", {"n": 6}, idempotency_key="order-17")
    other = remote.submit("square", {"n": 6}, idempotency_key="order-18")
    assert first.id == second.id != other.id
    assert second.result(timeout=10) == 36
    late = remote.submit("square", {"n": 6}, idempotency_key="order-17")  # found finished
    assert (late.id, late.result(timeout=0), late.info()["result"]) == (first.id, 36, 36)


def test_executions_are_listed_newest_first_across_pages(remote):
    ids = [remote.square.submit(n=n).id for n in range(3)]
    remote.execution(ids[-1]).result(timeout=10)
    listed = [execution.id for execution in remote.executions("square", page_size=2)]
    assert listed[:3] == ids[::-1]
    assert len(listed) == len(set(listed))
    failed = list(remote.executions(status="failed"))
    assert failed and {execution.to_dict()["function"] for execution in failed} <= {"fail", "brief"}
    assert all(execution.status == "failed" for execution in failed)


def test_executions_need_the_token_and_a_known_id(server, remote):
    job = remote.square.submit(n=2)
    with Client(server.url) as anonymous:
        with pytest.raises(firefly.AuthenticationError):
            anonymous.square.submit(n=2)
        with pytest.raises(firefly.AuthenticationError):
            anonymous.execution(job.id)
    with pytest.raises(firefly.NotFoundError, match="no execution 'nope' "):
        remote.execution("nope")
    with pytest.raises(firefly.ValidationError):  # checked before it is queued
        remote.square.submit(m=2)
    with pytest.raises(firefly.FireflyError, match=r"takes named arguments only, e\.g\. square"):
        remote.square.submit(2)


def test_submit_to_a_server_without_executions_says_so(firefly_server):
    with firefly_server("--executions", "off", "funcs.square") as server:
        with Client(server.url) as client:
            with pytest.raises(firefly.FireflyError, match="at once instead of queueing it"):
                client.square.submit(n=4)
