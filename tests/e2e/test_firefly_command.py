"""The real ``firefly`` command, serving on free ports, on each server it embeds."""

import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import firefly
from firefly.protocol import MAX_LISTED_ERRORS

from ..conftest import APPS, EXAMPLES, SERVERS, free_port, on_each_server, stop

TIMEOUT = 10
#: The line each server logs as it starts a worker process.
WORKER_STARTED = {"gunicorn": "Booting worker", "granian": "Spawning worker-"}


@on_each_server
def test_serves_a_function_and_prints_the_url(firefly_server):
    with firefly_server("funcs.square") as server:
        response = requests.post(server.url + "square", data='{"n": 4}', timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.text == "16"
        assert response.headers["Content-Type"] == "application/json"
        assert firefly.Client(server.url).square(n=4) == 16
        deadline = time.monotonic() + TIMEOUT
        while server.url not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"{server.url}\n" in server.log()


@on_each_server
def test_the_console_script_serves_several_functions(tmp_path, server_name):
    executable = shutil.which("firefly") or pytest.fail("the firefly command is not installed")
    port = free_port()
    args = [executable, "funcs.square", "funcs.cube", "--bind", f"127.0.0.1:{port}"]
    args += ["--server", server_name]
    from ..conftest import serve

    with serve(args, port, log_dir=tmp_path) as server:
        assert requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT).json() == 9
        assert requests.post(server.url + "cube", json={"n": 3}, timeout=TIMEOUT).json() == 27
        index = requests.get(server.url, timeout=TIMEOUT).json()
        assert set(index["functions"]) == {"square", "cube"}


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@on_each_server
def test_default_bind_is_127_0_0_1_port_8000_and_the_url_is_printed(server_name):
    if not port_is_free(8000):
        pytest.skip("port 8000 is taken on this machine")
    process = subprocess.Popen(
        [sys.executable, "-m", "firefly", "--server", server_name, "funcs.square"],
        cwd=APPS,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline() == "http://127.0.0.1:8000/\n"
        response = requests.post("http://127.0.0.1:8000/square", json={"n": 4}, timeout=TIMEOUT)
        assert response.json() == 16
    finally:
        stop(process)


@on_each_server
def test_token_is_required_and_the_function_never_runs_without_it(firefly_server, tmp_path):
    marker = tmp_path / "calls.txt"
    with firefly_server("--token", "abcd1234", "funcs.counter") as server:
        url = server.url + "counter"
        body = {"path": str(marker)}
        missing = requests.post(url, json=body, timeout=TIMEOUT)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Token")
        wrong = requests.post(
            url, json=body, headers={"Authorization": "Token nope"}, timeout=TIMEOUT
        )
        assert wrong.status_code == 403
        assert not marker.exists()
        for scheme in ("Token", "Bearer"):
            headers = {"Authorization": f"{scheme} abcd1234"}
            assert (
                requests.post(url, json=body, headers=headers, timeout=TIMEOUT).status_code == 200
            )
        assert firefly.Client(server.url, auth_token="abcd1234").counter(path=str(marker)) == 3


@on_each_server
def test_token_from_the_environment_stays_out_of_the_process_list(firefly_server):
    with firefly_server("funcs.square", env={"FIREFLY_TOKEN": "s3cret"}) as server:
        assert "s3cret" not in " ".join(server.process.args)
        assert (
            requests.post(server.url + "square", json={"n": 2}, timeout=TIMEOUT).status_code == 401
        )
        client = firefly.Client(server.url, auth_token="s3cret")
        assert client.square(n=2) == 4


@on_each_server
def test_serves_a_config_file_of_the_original_format(firefly_server):
    with firefly_server("-c", "configs/original.yml") as server:
        assert requests.post(server.url + "sq", json={"n": 5}, timeout=TIMEOUT).status_code == 401
        client = firefly.Client(server.url, auth_token="abcd1234")
        assert client.square(n=5) == 25  # found at /sq through GET /
        assert client.functions()["square"]["path"] == "/sq"
        assert client.cube(n=2) == 8


@on_each_server
def test_the_shipped_config_example_serves_the_example_functions(firefly_server, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text((EXAMPLES.parent / "config.yml.example").read_text())
    with firefly_server("-c", str(config), cwd=EXAMPLES) as server:
        assert firefly.Client(server.url, auth_token="abcd1234").square(n=4) == 16


@on_each_server
@pytest.mark.parametrize("extra", [[], ["--threads", "4"]], ids=["sync", "gthread"])
def test_fifty_concurrent_requests_to_a_20ms_function_all_succeed(firefly_server, extra):
    with firefly_server(*extra, "funcs.slow") as server:

        def call(_):
            return requests.post(server.url + "slow", json={"seconds": 0.02}, timeout=30)

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(call, range(50)))
        assert [r.status_code for r in responses] == [200] * 50
        assert {r.json() for r in responses} == {"done"}


@on_each_server
def test_workers_flag_starts_that_many_workers(firefly_server, server_name):
    started = WORKER_STARTED[server_name]
    with firefly_server("-w", "2", "funcs.square") as server:
        deadline = time.monotonic() + TIMEOUT
        while server.log().count(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.log().count(started) == 2
        assert requests.post(server.url + "square", json={"n": 3}, timeout=TIMEOUT).json() == 9


@on_each_server
def test_errors_keep_the_server_serving_and_tracebacks_stay_in_the_log(firefly_server):
    with firefly_server("--max-content-length", "100", "funcs.square", "funcs.fail") as server:
        url = server.url
        cases = [
            ("post", "square", b"{bad", 400),
            ("post", "square", b'{"m": 1}', 422),
            ("post", "fail", b"{}", 500),
            ("post", "nowhere", b"{}", 404),
            ("get", "square", b"", 405),
            ("post", "square", b'{"n": "' + b"x" * 200 + b'"}', 413),
        ]
        for method, path, body, status in cases:
            response = requests.request(method, url + path, data=body, timeout=TIMEOUT)
            assert response.status_code == status, (path, body)
            assert response.headers["Content-Type"] == "application/json"
            assert response.json()["error"]
            assert "Traceback" not in response.text
        assert requests.post(url + "square", json={"n": 6}, timeout=TIMEOUT).json() == 36
        assert "ValueError: boom" in server.log()
        assert "Traceback" in server.log()


@on_each_server
def test_answers_stay_bounded_and_numbers_exact(firefly_server):
    with firefly_server("--max-form-parts", "5", "funcs.square", "funcs.greet") as server:
        unknown = json.dumps({f"k{i}": 1 for i in range(1_000_000)})  # 11.9 MB
        response = requests.post(server.url + "square", data=unknown, timeout=30)
        assert response.status_code == 422
        assert len(response.content) < 5000
        assert response.json()["more"] == 1_000_001 - MAX_LISTED_ERRORS
        assert response.json()["error"].endswith("; and 999,991 more")

        big = 12345678901234567890123
        response = requests.post(server.url + "square", data=f'{{"n": {big}}}', timeout=TIMEOUT)
        assert (response.status_code, response.text) == (200, str(big**2))
        too_long = '{"n": 1%s}' % ("0" * 4300)
        response = requests.post(server.url + "square", data=too_long, timeout=TIMEOUT)
        assert response.status_code == 400
        assert "an integer has more than 4300 digits" in response.json()["error"]

        parts = {f"k{i}": (None, "v") for i in range(5)}
        response = requests.post(server.url + "greet", files=parts, timeout=TIMEOUT)
        assert response.status_code == 422  # five parts are read: greet needs a name
        parts["name"] = (None, "Ann")
        response = requests.post(server.url + "greet", files=parts, timeout=TIMEOUT)
        assert response.status_code == 413
        assert response.json()["error"] == (
            "too many parts in the multipart/form-data body: more than 5 (max_form_parts)"
        )


@on_each_server
def test_the_default_part_limit_is_1000(firefly_server):
    with firefly_server("funcs.greet") as server:
        parts = {"name": (None, "Ann")} | {f"k{i:04}": (None, "v") for i in range(999)}
        response = requests.post(server.url + "greet", files=parts, timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.json().endswith(" k0998=v")
        parts["one_more"] = (None, "v")
        response = requests.post(server.url + "greet", files=parts, timeout=TIMEOUT)
        assert response.status_code == 413
        assert "more than 1000 (max_form_parts)" in response.json()["error"]


@on_each_server
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchmodule.square"], "no module named 'nosuchmodule'"),
        (["funcs.nosuch"], "module 'funcs' has no attribute 'nosuch'"),
        (["-c", "missing.yml"], "config file 'missing.yml' does not exist"),
        ([], "no functions to serve"),
        (["-c", "bad.yml"], "functions.square.pth: unknown key"),
    ],
)
def test_bad_command_lines_exit_non_zero_with_one_line(tmp_path, args, message, server_name):
    (tmp_path / "bad.yml").write_text("functions: {square: {function: funcs.square, pth: /x}}\n")
    (tmp_path / "funcs.py").write_text((APPS / "funcs.py").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "firefly", "--server", server_name, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


@on_each_server
def test_reload_serves_changed_code(firefly_server, tmp_path):
    module = tmp_path / "changing.py"
    module.write_text("def value():\n    return 1\n")
    with firefly_server("--reload", "changing.value", cwd=tmp_path) as server:
        assert requests.post(server.url + "value", timeout=TIMEOUT).json() == 1
        time.sleep(1.1)  # let the file's modification time move on
        module.write_text("def value():\n    return 2\n")
        deadline = time.monotonic() + 20
        result = None
        while time.monotonic() < deadline:
            try:
                result = requests.post(server.url + "value", timeout=TIMEOUT).json()
            except requests.ConnectionError:
                result = None
            if result == 2:
                break
            time.sleep(0.2)
        assert result == 2
        # SIGTERM still stops the server, workers and all, once it has reloaded
        server.process.terminate()
        assert server.process.wait(timeout=10) == 0
        port = server.url.rstrip("/").rsplit(":", 1)[1]
        left = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
        assert left.stdout == ""


@pytest.mark.parametrize("server_name", SERVERS)
def test_reload_with_a_missing_function_exits_non_zero_without_traceback(tmp_path, server_name):
    (tmp_path / "funcs.py").write_text("def square(n):\n    return n * n\n")
    port = free_port()
    server = ["--server", server_name]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "firefly",
            *server,
            "--reload",
            "-b",
            f"127.0.0.1:{port}",
            "funcs.nosuch",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "firefly: cannot load 'funcs.nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


# granian only


@pytest.mark.parametrize("server_name", ["granian"])
def test_a_call_past_the_timeout_gets_a_json_504_and_the_worker_serves_on(firefly_server):
    with firefly_server("--timeout", "1", "funcs.busy") as server:
        started = time.monotonic()
        late = requests.post(server.url + "busy", json={"seconds": 5}, timeout=TIMEOUT)
        assert time.monotonic() - started < 2.5  # interrupted at the deadline, not after 5 s
        assert late.status_code == 504
        assert late.json()["error"] == "busy ran past the 1 s timeout"
        answer = requests.post(server.url + "busy", json={"seconds": 0}, timeout=TIMEOUT)
        assert answer.json() == "done"


@pytest.mark.parametrize("server_name", ["granian"])
def test_granian_listens_on_a_unix_socket(tmp_path, server_name):
    path = tmp_path / "firefly.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "firefly", "--server", server_name, "-b", f"unix:{path}"]
        + ["funcs.square"],
        cwd=APPS,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline() == f"unix:{path}/\n"
        deadline = time.monotonic() + TIMEOUT
        while True:
            connection = UnixConnection(str(path))
            try:
                connection.request("POST", "/square", body=b'{"n": 4}')
                response = connection.getresponse()
                answer = (response.status, response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the socket never answered"
                time.sleep(0.1)
            finally:
                connection.close()
        assert answer == (200, b"16")
    finally:
        stop(process)


class UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket."""

    def __init__(self, path: str):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)
