import dataclasses
import textwrap

import pytest

from firefly.config import Config, FunctionConfig, FunctionOptions, load_config, settings
from firefly.errors import ConfigError

from .conftest import APPS


def write(tmp_path, text, name="config.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


ORIGINAL_FORMAT = str(APPS / "configs" / "original.yml")


def test_reads_the_original_config_format():
    config = load_config({"config": ORIGINAL_FORMAT}, {})
    assert config.token == "abcd1234"
    assert config.functions[:2] == (
        FunctionConfig(name="square", function="funcs.square", path="/sq"),
        FunctionConfig(name="cube", function="funcs.cube", path="/cube"),
    )


def test_functions_from_the_command_line_are_served_at_their_names():
    config = load_config({"functions": ["funcs.square", "pkg.mod.cube"]}, {})
    assert [(f.name, f.path, f.function) for f in config.functions] == [
        ("square", "/square", "funcs.square"),
        ("cube", "/cube", "pkg.mod.cube"),
    ]


def test_defaults_when_nothing_is_set():
    config = load_config({"functions": ["funcs.square"]}, {})
    assert config.bind == "127.0.0.1:8000"
    assert config.token is None
    assert config.workers == 1
    assert config.timeout == 30
    assert config.allow_origins == ()
    assert config.max_content_length == 16 * 1024 * 1024


def test_environment_supplies_functions_token_and_settings():
    environ = {
        "FIREFLY_FUNCTIONS": "funcs.square, funcs.cube",
        "FIREFLY_TOKEN": "secret",
        "FIREFLY_ALLOW_ORIGINS": "https://a.example, https://b.example/",
        "FIREFLY_WORKERS": "3",
        "FIREFLY_RELOAD": "yes",
    }
    config = load_config({}, environ)
    assert [f.name for f in config.functions] == ["square", "cube"]
    assert config.token == "secret"
    assert config.allow_origins == ("https://a.example", "https://b.example")
    assert config.workers == 3
    assert config.reload is True


def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    path = write(
        tmp_path,
        """
        token: from-file
        workers: 2
        timeout: 5
        threads: 7
        functions: {square: {function: funcs.square}}
        """,
    )
    environ = {"FIREFLY_CONFIG": path, "FIREFLY_TOKEN": "from-env", "FIREFLY_WORKERS": "3"}
    config = load_config({"token": "from-flag", "timeout": 9}, environ)
    assert config.token == "from-flag"  # flag > env > file
    assert config.workers == 3  # env > file
    assert config.threads == 7  # file > default
    assert config.timeout == 9  # flag > file
    assert config.bind == "127.0.0.1:8000"  # default


def test_config_flag_beats_config_environment_variable(tmp_path):
    flag_file = write(tmp_path, "token: flag\nfunctions: {f: {function: m.f}}\n", "a.yml")
    env_file = write(tmp_path, "token: env\nfunctions: {f: {function: m.f}}\n", "b.yml")
    config = load_config({"config": flag_file}, {"FIREFLY_CONFIG": env_file})
    assert config.token == "flag"


def test_a_config_file_without_functions_combines_with_named_functions(tmp_path):
    path = write(tmp_path, "token: t\n")
    config = load_config({"functions": ["funcs.square"], "config": path}, {})
    assert config.token == "t"
    assert [f.name for f in config.functions] == ["square"]


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({}, {}, "no functions to serve"),
        (
            {"functions": ["funcs.square"]},
            {"FIREFLY_WORKERS": "zero"},
            "FIREFLY_WORKERS: expected a positive integer, got 'zero'",
        ),
        (
            {"functions": ["funcs.square"], "workers": 0},
            {},
            "option --workers: expected a positive integer",
        ),
        ({"functions": ["funcs.square"]}, {"FIREFLY_BIND": "localhost"}, "expected HOST:PORT"),
        ({"functions": ["funcs.square"]}, {"FIREFLY_RELOAD": "maybe"}, "expected true or false"),
        (
            {"functions": ["funcs.square"]},
            {"FIREFLY_CONFIG": "/no/such.yml"},
            "config file '/no/such.yml' does not exist",
        ),
    ],
)
def test_invalid_settings_name_their_source(flags, environ, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(flags, environ)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("functions: [1, 2\n", "invalid YAML"),
        ("- a\n- b\n", "expected a mapping of settings"),
        ("tokn: x\nfunctions: {f: {function: m.f}}\n", "tokn: unknown key; did you mean 'token'?"),
        (
            "functions: {square: {function: m.f, pth: /x}}\n",
            "functions.square.pth: unknown key; did you mean 'path'?",
        ),
        ("functions: {square: {path: /x}}\n", "functions.square: missing 'function'"),
        (
            "functions: {square: {function: m.f, path: 12}}\n",
            "functions.square.path: expected a non-empty string, got 12",
        ),
        (
            "functions: {square: {function: m.f, path: x}}\n",
            "functions.square.path: must start with '/'",
        ),
        ("functions: {square: funcs.square}\n", "functions.square: expected a mapping"),
        ("functions: []\n", "functions: expected a mapping of function names"),
        ("version: 2\nfunctions: {f: {function: m.f}}\n", "version: unsupported version 2"),
        (
            "workers: many\nfunctions: {f: {function: m.f}}\n",
            "workers: expected a positive integer, got 'many'",
        ),
    ],
)
def test_invalid_config_files_name_the_key_path(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config({"config": path}, {})
    assert str(info.value).startswith(path)
    assert message in str(info.value)


def test_functions_named_in_two_places_is_an_error():
    path = ORIGINAL_FORMAT
    with pytest.raises(ConfigError, match="name them in one place"):
        load_config({"functions": ["funcs.square"]}, {"FIREFLY_CONFIG": path})
    with pytest.raises(ConfigError, match="name them in one place"):
        load_config({}, {"FIREFLY_CONFIG": path, "FIREFLY_FUNCTIONS": "funcs.square"})


def test_config_is_immutable():
    config = load_config({"functions": ["funcs.square"]}, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.token = "x"  # type: ignore[misc]


def test_every_setting_has_a_default_an_env_variable_and_a_doc_line():
    for setting_field in settings():
        assert setting_field.metadata["env"] == f"FIREFLY_{setting_field.name.upper()}"
        assert setting_field.metadata["doc"].endswith(".")
        assert setting_field.default is not dataclasses.MISSING
    assert Config().bind == "127.0.0.1:8000"


def test_service_settings_from_each_source(tmp_path):
    path = write(
        tmp_path,
        """
        title: Iris
        api_version: 1.0
        validate: false
        access_log: /var/log/firefly/access.log
        access_log_format: JSON
        access_log_max_bytes: 0
        shutdown_delay: 2.5
        functions: {square: {function: funcs.square}}
        """,
    )
    environ = {"FIREFLY_METRICS": "off", "FIREFLY_TOKEN_FOR_HEALTH": "yes", "FIREFLY_TITLE": "Env"}
    config = load_config({"config": path, "title": "Flag", "docs": False}, environ)
    assert (config.title, config.api_version, config.validate) == ("Flag", "1.0", False)
    assert (config.metrics, config.token_for_health, config.docs) == (False, True, False)
    assert config.access_log == "/var/log/firefly/access.log"
    assert (config.access_log_format, config.access_log_max_bytes) == ("json", 0)
    assert config.shutdown_delay == 2.5
    defaults = load_config({"functions": ["funcs.square"]}, {})
    assert (defaults.access_log, defaults.metrics, defaults.token_for_metrics) == ("-", True, True)


@pytest.mark.parametrize("value", ["off", "OFF", "none", "false"])
def test_the_access_log_can_be_switched_off(value):
    config = load_config({"functions": ["funcs.square"]}, {"FIREFLY_ACCESS_LOG": value})
    assert config.access_log is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FIREFLY_ACCESS_LOG_FORMAT": "xml"}, "expected one of text, json, got 'xml'"),
        ({"FIREFLY_SHUTDOWN_DELAY": "-1"}, "expected a number of seconds, 0 or more"),
        ({"FIREFLY_SHUTDOWN_DELAY": "soon"}, "expected a number of seconds, got 'soon'"),
        ({"FIREFLY_ACCESS_LOG_BACKUPS": "-2"}, "expected an integer of 0 or more"),
        ({"FIREFLY_VALIDATE": "perhaps"}, "expected true or false"),
    ],
)
def test_invalid_service_settings_name_their_variable(environ, message):
    with pytest.raises(ConfigError) as info:
        load_config({"functions": ["funcs.square"]}, environ)
    assert str(info.value).startswith(f"environment variable {next(iter(environ))}: {message}")


def test_functions_take_validate_and_warmup_options(tmp_path):
    path = write(
        tmp_path,
        """
        functions:
          predict:
            function: model.predict
            validate: off
            warmup: {features: [[1, 2]]}
        """,
    )
    (function,) = load_config({"config": path}, {}).functions
    assert function.options == FunctionOptions(validate=False, warmup={"features": [[1, 2]]})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{function: m.f, validate: sometimes}", "functions.f.validate: expected true or false"),
        ("{function: m.f, warmup: [1]}", "functions.f.warmup: expected a mapping of arguments"),
    ],
)
def test_invalid_function_options_name_the_key_path(tmp_path, entry, message):
    path = write(tmp_path, f"functions: {{f: {entry}}}\n")
    with pytest.raises(ConfigError, match=message):
        load_config({"config": path}, {})
