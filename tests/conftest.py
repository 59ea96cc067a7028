"""Shared fixtures: apps built in code, and real firefly/gunicorn processes on free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from firefly import Firefly

TESTS = Path(__file__).parent
APPS = TESTS / "apps"
ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"
START_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FIREFLY_* variable of the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FIREFLY_") and not name.startswith("FIREFLY_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def app() -> Firefly:
    """An app serving square and add, with no token."""
    app = Firefly()

    @app.function
    def square(n):
        """Return the square of a number."""
        return n**2

    @app.function(name="plus", path="/math/add")
    def add(a, b=0):
        return a + b

    return app


@pytest.fixture
def client(app: Firefly):
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server process started by :func:`serve`."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def wait_until_serving(process: subprocess.Popen[str], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            requests.get(url + "-/none", timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening, or workers booting
            time.sleep(0.05)
    raise AssertionError(f"server did not start in {START_TIMEOUT}s:\n{log_path.read_text()}")


@contextlib.contextmanager
def serve(
    args: list[str],
    port: int,
    *,
    cwd: Path = APPS,
    env: dict[str, str] | None = None,
    log_dir: Path,
) -> Iterator[Server]:
    """Run ``args`` (a firefly or gunicorn command line); always stop it afterwards."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FIREFLY_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    full_env.update(env or {})
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            args, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(process, url, log_path)
        yield Server(process, url, log_path)
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a server gracefully, then by force."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def firefly_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "firefly", *args]


def gunicorn_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", *args]


#: The servers ``firefly --server`` runs; end-to-end tests of the command run on each.
SERVERS = ("gunicorn", "granian")
#: Decorates a test that uses ``firefly_server``: run it once on each server.
on_each_server = pytest.mark.parametrize("server_name", SERVERS)


@pytest.fixture
def server_name() -> str:
    """The server ``firefly_server`` runs: gunicorn, unless a test is marked ``on_each_server``."""
    return "gunicorn"


@pytest.fixture
def firefly_server(tmp_path: Path, server_name: str):
    """Start ``firefly ARGS`` on a free port; use as ``with firefly_server(args) as server``."""

    def start(*args: str, env: dict[str, str] | None = None, cwd: Path = APPS):
        port = free_port()
        return serve(
            firefly_command("--server", server_name, "--bind", f"127.0.0.1:{port}", *args),
            port,
            cwd=cwd,
            env=env,
            log_dir=tmp_path,
        )

    return start


@pytest.fixture
def gunicorn_server(tmp_path: Path):
    """Start ``gunicorn ARGS`` on a free port (``--bind`` added unless ``bind=False``)."""

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path = APPS,
        port: int | None = None,
        bind: bool = True,
    ):
        port = port or free_port()
        bind_args = ["--bind", f"127.0.0.1:{port}"] if bind else []
        return serve(
            gunicorn_command(*bind_args, "--workers", "1", *args),
            port,
            cwd=cwd,
            env=env,
            log_dir=tmp_path,
        )

    return start


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file of the test's own."""
    return f"sqlite:///{tmp_path / 'predictions.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database on FIREFLY_TEST_POSTGRES_URL's server, dropped after.

    Skipped when the variable is unset; a server that does not answer fails the test.
    """
    server = os.environ.get("FIREFLY_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set FIREFLY_TEST_POSTGRES_URL to run the PostgreSQL tests")
    import sqlalchemy
    from sqlalchemy.engine import make_url

    base = make_url(server).set(drivername="postgresql+psycopg")
    name = f"firefly_test_{os.getpid()}_{time.monotonic_ns()}"
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
