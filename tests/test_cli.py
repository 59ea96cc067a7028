"""The firefly command's argument handling, through click's runner (no server is started)."""

import pytest

from firefly.cli import cli, serve_command
from firefly.version import __version__


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"firefly {__version__}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_options_with_defaults_and_env_variables(runner, flag):
    result = runner.invoke(serve_command, [flag])
    assert result.exit_code == 0
    for text in [
        "MODULE.FUNCTION",
        "-c, --config",
        "-t, --token",
        "-b, --bind",
        "-w, --workers",
        "--threads",
        "--timeout",
        "--reload",
        "FIREFLY_TOKEN",
        "default: 127.0.0.1:8000",
    ]:
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no functions to serve"),
        (["square"], "invalid function 'square': write it as MODULE.FUNCTION"),
        (["nosuchmodule.square"], "no module named 'nosuchmodule'"),
        (["tests.apps.funcs.nosuch"], "module 'tests.apps.funcs' has no attribute 'nosuch'"),
        (["-c", "/no/such/config.yml"], "config file '/no/such/config.yml' does not exist"),
        (["-b", "nowhere", "tests.apps.funcs.square"], "expected HOST:PORT"),
        (["-w", "0", "tests.apps.funcs.square"], "0 is not in the range x>=1"),
        (["--bogus", "tests.apps.funcs.square"], "No such option '--bogus'"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(runner, args, message):
    result = runner.invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1


def test_functions_and_a_config_with_functions_is_an_error(runner, tmp_path):
    config = tmp_path / "config.yml"
    config.write_text("functions: {square: {function: tests.apps.funcs.square}}\n")
    result = runner.invoke(serve_command, ["-c", str(config), "tests.apps.funcs.cube"])
    assert result.exit_code == 1
    assert "name them in one place" in result.output


def test_every_setting_has_an_option(runner):
    from firefly.config import settings

    options = {option for param in serve_command.params for option in param.opts}
    for field in settings():
        assert f"--{field.name.replace('_', '-')}" in options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shutdown-delay", "-1"], "-1.0 is not in the range x>=0"),
        (["--access-log-format", "xml"], "expected one of text, json"),
        (["--access-log-max-bytes", "lots"], "'lots' is not a valid integer"),
    ],
)
def test_bad_service_options_exit_non_zero_with_one_line(runner, args, message):
    result = runner.invoke(cli, [*args, "tests.apps.funcs.square"])
    assert result.exit_code != 0
    assert message in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1


def test_the_command_group_lists_its_commands_with_serve_the_default(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Commands:" in result.output
    assert "serve*" in result.output  # the default command is marked
    assert "--threads" not in result.output  # serve's own options are under serve --help


@pytest.mark.parametrize(
    "args",
    [
        ["-w", "0", "tests.apps.funcs.square"],
        ["tests.apps.funcs.square", "-w", "0"],
        ["-c", "/no/such/config.yml"],
        ["nosuchmodule.square"],
    ],
)
def test_serve_is_the_same_with_and_without_its_name(runner, args):
    implicit, explicit = runner.invoke(cli, args), runner.invoke(cli, ["serve", *args])
    assert implicit.exit_code == explicit.exit_code != 0
    assert implicit.output == explicit.output


def test_serve_help_is_the_same_with_and_without_its_name(runner):
    assert (
        runner.invoke(cli, ["serve", "--help"]).output
        == runner.invoke(cli, ["tests.apps.funcs.square", "--help"]).output
    )
