"""The client's side of executions without a server: what a failed execution's error raises,
and how ``firefly call`` reads its NAME=VALUE arguments (tests/e2e has the rest)."""

from __future__ import annotations

import io

import pytest

import firefly
from firefly.cli import cli
from firefly.cli.call import BadArgument, parse_arguments
from firefly.errors import error_from_body
from firefly.remote_execution import failure

from .conftest import free_port


def test_a_functions_error_is_the_remote_error_of_a_sync_500():
    raised = failure("ValueError: bad input")
    sync = error_from_body(500, {"error": "ValueError: bad input", "type": "ValueError"})
    assert type(raised) is type(sync) is firefly.RemoteError
    assert (raised.remote_type, str(raised), raised.details) == (
        sync.remote_type,
        str(sync),
        sync.details,
    )
    assert failure("KeyError: 'a: b'").remote_type == "KeyError"


def test_a_timeout_is_a_504_and_a_lost_worker_an_untyped_remote_error():
    late = failure("timed out: ran past the 2 s timeout")
    assert isinstance(late, firefly.CallTimeoutError) and late.status_code == 504
    lost = failure("worker lost: its lease ran out twice")
    assert type(lost) is firefly.RemoteError and lost.remote_type is None
    assert str(lost) == "worker lost: its lease ran out twice"


@pytest.mark.parametrize(
    ("pairs", "body", "arguments"),
    [
        (("n=4",), None, {"n": 4}),
        (("s=abc",), None, {"s": "abc"}),
        (('x="4"',), None, {"x": "4"}),
        (
            ("xs=[1, 2]", "on=true", "none=null", "empty="),
            None,
            {"xs": [1, 2], "on": True, "none": None, "empty": ""},
        ),
        (("eq=a=b",), None, {"eq": "a=b"}),
        (("n=5",), '{"n": 4, "m": 1}', {"n": 5, "m": 1}),
    ],
)
def test_call_arguments_are_json_when_they_parse(pairs, body, arguments):
    assert parse_arguments(pairs, body) == arguments


@pytest.mark.parametrize(
    ("pairs", "body", "message"),
    [
        (("n",), None, "argument 'n': write it as NAME=VALUE, e.g. n=4"),
        (("=4",), None, "argument '=4': write it as NAME=VALUE"),
        ((), "[4]", "--json: expected a JSON object of arguments, got '[4]'"),
        ((), "{n: 4}", "--json: not JSON: "),
    ],
)
def test_bad_call_arguments_are_refused(pairs, body, message):
    with pytest.raises(BadArgument, match=f"^{message}".replace("[", r"\[").replace("]", r"\]")):
        parse_arguments(pairs, body)


def test_a_file_cannot_be_submitted():
    client = firefly.Client(f"http://127.0.0.1:{free_port()}/")  # nothing listens: nothing sent
    with pytest.raises(firefly.FireflyError, match="takes JSON arguments, not files"):
        client.submit("word_count", {"file": io.BytesIO(b"a b")})


def test_the_commands_show_the_shell_flow_in_their_help(runner):
    for command in (["call", "--help"], ["executions", "--help"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 0, result.output
        assert "ID=$(firefly call URL square n=4 --async); firefly executions get URL $ID" in (
            " ".join(result.output.split())
        )
    listing = runner.invoke(cli, ["executions", "list", "--help"])
    assert "--status [queued|running|succeeded|failed|cancelled]" in listing.output
