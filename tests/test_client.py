"""The Client against a real firefly server."""

import io

import pytest
import requests

import firefly
from firefly import Client

from .conftest import firefly_command, free_port, serve

TOKEN = "abcd1234"
FUNCTIONS = [
    "square",
    "add",
    "greet",
    "fail",
    "slow",
    "word_count",
    "upload_info",
    "repeat",
    "big_file",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", *(f"funcs.{name}" for name in FUNCTIONS))
    env = {"FIREFLY_TOKEN": TOKEN}
    with serve(args, port, env=env, log_dir=tmp_path_factory.mktemp("client")) as server:
        yield server


@pytest.fixture
def remote(server):
    with Client(server.url, auth_token=TOKEN) as client:
        yield client


def test_calls_functions_with_named_arguments(remote):
    assert remote.square(n=4) == 16
    assert remote.add(a=1, b=2) == 3
    assert remote.greet(name="Ann", greeting="Hi", mood="good") == "Hi, Ann! mood=good"


def test_positional_arguments_raise_a_clear_error(remote):
    with pytest.raises(firefly.FireflyError, match=r"square\(\) takes named arguments only"):
        remote.square(4)


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        (lambda remote: remote.square(4), "e.g. square(n=4)"),
        (lambda remote: remote.add(1, 2), "e.g. add(a=1, b=2)"),
        (lambda remote: remote.add(1, 2, 3), "e.g. add(a=1, b=2, name3=3)"),
        (lambda remote: remote.nosuch(1), "e.g. nosuch(name1=1)"),
    ],
)
def test_the_hint_for_a_positional_call_names_the_parameters_the_server_lists(remote, call, hint):
    with pytest.raises(firefly.FireflyError) as info:
        call(remote)
    assert str(info.value).endswith(hint)


def test_dir_lists_the_functions_with_their_docstrings(remote):
    assert set(FUNCTIONS) <= set(dir(remote))
    assert remote.square.__doc__ == "Return the square of a number."
    assert remote.square.__name__ == "square"
    assert remote.functions()["square"]["path"] == "/square"


def test_attribute_lookup_makes_no_request(server):
    client = Client("http://127.0.0.1:9/")  # nothing listens there
    assert hasattr(client, "anything")
    assert not hasattr(client, "_private")
    assert dir(client)  # the server being down does not break dir()


def test_uploads_open_files(remote, tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("one two three four")
    with open(path, "rb") as file:
        assert remote.word_count(file=file) == 4
    assert remote.upload_info(file=io.BytesIO(b"abc"), label="x") == {
        "filename": "file",
        "size": 3,
        "label": "x",
    }


def test_returned_files_come_back_as_file_objects(remote):
    result = remote.repeat(text="ab", times=3)
    assert result.read() == b"ababab"
    big = remote.big_file(megabytes=3)
    assert len(big.read()) == 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: c.square(), firefly.ValidationError, "missing required argument 'n'"),
        (lambda c: c.square(n=1, m=2), firefly.ValidationError, "unexpected argument 'm'"),
        (lambda c: c.fail(message="no"), firefly.RemoteError, "ValueError: no"),
        (lambda c: c.nosuch(), firefly.NotFoundError, "no function or route at '/nosuch'"),
        (lambda c: c.call("slow", seconds="x"), firefly.RemoteError, "ValueError"),
    ],
)
def test_error_responses_raise_the_matching_exception(remote, call, error, message):
    with pytest.raises(error, match=message) as info:
        call(remote)
    assert isinstance(info.value, firefly.FireflyError)
    assert info.value.request_id


def test_remote_errors_carry_the_remote_type(remote):
    with pytest.raises(firefly.RemoteError) as info:
        remote.fail()
    assert info.value.remote_type == "ValueError"
    assert info.value.status_code == 500


def test_bad_request_is_also_a_value_error(server):
    with Client(server.url, auth_token=TOKEN) as client:
        response = client.session.post(
            server.url + "square", data=b"{bad", headers={"Authorization": f"Token {TOKEN}"}
        )
        with pytest.raises(ValueError, match="not valid JSON"):
            client._handle(response)


@pytest.mark.parametrize(
    ("token", "error"), [(None, firefly.AuthenticationError), ("wrong", firefly.ForbiddenError)]
)
def test_auth_errors(server, token, error):
    with pytest.raises(error), Client(server.url, auth_token=token) as client:
        client.square(n=1)


def test_connection_refused_says_where_it_could_not_connect():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(firefly.ConnectError, match=f"could not connect to {url}"):
        Client(url + "/").square(n=1)


def test_timeout_raises_request_timeout_error(server):
    with pytest.raises(firefly.RequestTimeoutError):
        Client(server.url, auth_token=TOKEN, timeout=0.05).slow(seconds=1)


def test_an_injected_session_is_used(server):
    session = requests.Session()
    sent = []
    session.hooks["response"].append(lambda response, **_: sent.append(response.url))
    assert Client(server.url, auth_token=TOKEN, session=session).square(n=3) == 9
    assert sent[-1] == server.url + "square"


def test_numpy_arguments_are_sent_as_plain_json(remote):
    import numpy as np

    assert remote.add(a=np.int64(2), b=np.float64(0.5)) == 2.5
    assert remote.greet(name=np.str_("Bo")) == "Hello, Bo!"


def test_unencodable_arguments_fail_before_sending(remote):
    with pytest.raises(TypeError, match="cannot send an argument of type object"):
        remote.square(n=object())
