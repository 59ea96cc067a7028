"""End to end: the ORIGINAL client (firefly-python 0.1.15 from PyPI) against this server.

The old client lives in its own venv, created once per session, that cannot
see this project's firefly; tests/apps/original_client_script.py drives it
and prints what each call returned or raised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import APPS

ORIGINAL = "firefly-python==0.1.15"
TOKEN = "abcd1234"
SCRIPT = APPS / "original_client_script.py"
SERVED = ["funcs.square", "funcs.cube", "funcs.word_count", "funcs.repeat", "funcs.fail"]


def isolated_env() -> dict[str, str]:
    """The environment without anything that could put this project's firefly on sys.path."""
    hidden = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE")
    return {k: v for k, v in os.environ.items() if k not in hidden and not k.startswith("FIREFLY_")}


def run(command: list[str], timeout: float, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=isolated_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def original_python(tmp_path_factory) -> Path:
    """The python of a venv holding the original client, installed from PyPI."""
    home = tmp_path_factory.mktemp("original-client")
    venv = home / "venv"
    created = run([sys.executable, "-m", "venv", str(venv)], timeout=120, cwd=home)
    if created.returncode != 0:
        pytest.fail(f"cannot create a venv for the original client:\n{created.stderr}")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", ORIGINAL]
    installed = run(pip, timeout=300, cwd=home)
    if installed.returncode != 0:
        pytest.fail(
            f"cannot install {ORIGINAL} from PyPI; these tests need it (is PyPI reachable?)\n"
            + (installed.stdout + installed.stderr)[-3000:]
        )
    probe = "import json, firefly; print(json.dumps([firefly.__version__, firefly.__file__]))"
    checked = run([str(python), "-I", "-c", probe], timeout=60, cwd=home)
    assert checked.returncode == 0, checked.stderr
    version, location = json.loads(checked.stdout)
    assert version == "0.1.15"
    assert Path(location).resolve().is_relative_to(venv.resolve()), location
    return python


def firefly_cli(firefly_server, gunicorn_server):
    return firefly_server("--token", TOKEN, *SERVED)


def gunicorn_with_config(firefly_server, gunicorn_server):
    # configs/original.yml serves square at /sq: the old client must read paths from GET /.
    env = {"FIREFLY_CONFIG": "configs/original.yml"}
    return gunicorn_server("--preload", "firefly.main:app", env=env)


@pytest.mark.parametrize("start", [firefly_cli, gunicorn_with_config], ids=lambda f: f.__name__)
def test_original_client(original_python, firefly_server, gunicorn_server, start, tmp_path):
    with start(firefly_server, gunicorn_server) as server:
        finished = run(
            [str(original_python), "-I", str(SCRIPT), server.url, TOKEN, str(tmp_path)],
            timeout=60,
            cwd=tmp_path,
        )
        log = server.log()
    assert finished.returncode == 0, finished.stderr + log
    results = json.loads(finished.stdout)

    assert results["firefly"]["version"] == "0.1.15"
    assert Path(results["firefly"]["file"]).is_relative_to(original_python.parent.parent)

    # Calls, docs, and files both ways.
    assert results["square"] == {"value": 16}
    assert results["cube"] == {"value": 64}
    assert results["square_doc"] == {"value": "Return the square of a number."}
    assert results["word_count"] == {"value": 9}
    assert results["download"]["value"]["data"] == "ababab"

    def raised(name: str) -> tuple[str, str]:
        outcome = results[name]
        assert "raised" in outcome, f"{name}: expected an exception, got {outcome}"
        return outcome["raised"], outcome["message"]

    # Each error status maps to the old client's own exception.
    error, message = raised("bad_request")
    assert error == "builtins.ValueError"
    assert "JSON" in message
    for name in ("wrong_token", "wrong_token_request", "no_token", "no_token_request"):
        assert raised(name)[0] == "firefly.client.FireflyError"
    assert raised("wrong_token_request")[1] == "Authorization token mismatch."
    assert raised("not_found") == ("firefly.client.FireflyError", "Requested function not found")
    error, message = raised("missing_argument")
    assert error == "firefly.validator.ValidationError"
    assert "missing required argument 'n'" in message
    error, message = raised("unexpected_argument")
    assert error == "firefly.validator.ValidationError"
    assert "unexpected argument 'm'" in message
    assert raised("remote_error") == ("firefly.client.FireflyError", "ValueError: boom")
