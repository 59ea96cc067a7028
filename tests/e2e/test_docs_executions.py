"""docs/executions.rst, run as written: its console sessions (curl, firefly call and firefly
executions, through bash, one shell for the page so that ``$ID`` carries over) and its Python
client session against the firefly command it shows, whose answers must be those shown ("…"
stands for an id, a time or a number); and its config file, served."""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from firefly.config import load_config

from ..conftest import EXAMPLES, firefly_command, free_port, serve, stop
from ..test_docs import DOCS, named_block

PAGE = DOCS / "executions.rst"
DOCUMENTED_URL = "http://127.0.0.1:8000/"
SESSIONS = ("executions-start", "executions-resource", "executions-list", "executions-shell")
MARK = "@@@ answer of the next command"

pytestmark = pytest.mark.timeout(60)


def shown_pattern(shown: str) -> re.Pattern[str]:
    """The answer shown as a pattern: ``"…"`` any string, a bare ``…`` any id, time or number."""
    pattern = re.escape(shown)
    pattern = pattern.replace(re.escape('"…"'), '"[^"]*"').replace(re.escape("…"), r'[^\s",]+')
    return re.compile(pattern)


def commands(block: str) -> list[tuple[str, str]]:
    """Each ``$ command`` line of a console block, as written, with the output shown after it."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            found.append((line.removeprefix("$ "), []))
        else:
            found[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in found]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "funcs.py", tmp_path / "funcs.py")
    return tmp_path


def test_the_sessions_answer_as_shown(folder: Path) -> None:
    [serve_line] = [line for line, _ in commands(named_block(PAGE, "executions-serve"))]
    words = shlex.split(serve_line)
    assert words[0] == "firefly"
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", *words[1:])
    with serve(args, port, cwd=folder, log_dir=folder) as server:
        steps = [step for name in SESSIONS for step in commands(named_block(PAGE, name))]
        script = "\n".join(
            f"echo '{MARK}'\n{line.replace(DOCUMENTED_URL, server.url)} 2>&1" for line, _ in steps
        )
        # curl as the page shows it, without its progress meter
        script = 'curl() { command curl -s "$@"; echo; }\n' + script
        ran = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=40, cwd=folder
        )
        answers = ran.stdout.split(MARK + "\n")[1:]
        assert len(answers) == len(steps), ran
        for (line, shown), answer in zip(steps, answers, strict=True):
            assert shown_pattern(shown).fullmatch(answer.rstrip("\n")), (line, answer, shown)

        python = named_block(PAGE, "executions-client").replace(DOCUMENTED_URL, server.url)
        test = doctest.DocTestParser().get_doctest(python, {}, PAGE.name, str(PAGE), 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, out=lambda text: pytest.fail(text))
        results = runner.summarize(verbose=False)
        assert (results.failed, results.attempted) == (0, python.count(">>> "))
        stop(server.process)
    assert (folder / "executions.db").exists()  # the default, in the working directory


def test_the_config_file_serves_as_it_says(folder: Path) -> None:
    config_text = named_block(PAGE, "executions-config")
    (folder / "config.yml").write_text(config_text)
    config = load_config({"config": str(folder / "config.yml")}, {})
    options = {function.name: function.options for function in config.functions}
    written = yaml.safe_load(config_text)
    assert (config.executions, config.execution_threads, config.execution_retention) == (
        written["executions"],
        2,
        3600,
    )
    assert (options["slow"].execution_timeout, options["report"].async_only) == (2, True)
    port = free_port()
    args = firefly_command("--bind", f"127.0.0.1:{port}", "-c", "config.yml")
    with serve(args, port, cwd=folder, log_dir=folder) as server:
        report = requests.post(server.url + "report", json={"seconds": 0}, timeout=10)
        assert report.status_code == 202  # async_only: no Prefer header needed
        late = requests.post(
            server.url + "slow?async=true", json={"seconds": 2.5}, timeout=10
        ).json()["id"]
        sync = requests.post(server.url + "square", json={"n": 3}, timeout=10)
        assert (sync.status_code, sync.json()) == (200, 9)
        for execution_id, expected in ((report.json()["id"], None), (late, "timed out")):
            found = requests.get(
                f"{server.url}-/executions/{execution_id}?wait=10", timeout=20
            ).json()
            if expected is None:
                assert (found["status"], found["result"]) == ("succeeded", 0.0)
            else:
                assert found["error"] == "timed out: ran past the 2 s timeout"
        stop(server.process)
