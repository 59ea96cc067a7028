"""``firefly serve``, the default command: serve the functions a command line or config names."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import click

from ..config import load_config, settings
from ..config.parsers import (
    parse_bind,
    parse_bool,
    parse_non_negative_int,
    parse_positive_int,
    parse_seconds,
)
from ..errors import FireflyError, LoadError
from ..loader import split_function_name
from ..logs import configure_logging
from ..server import server_for


class FunctionNameType(click.ParamType):
    """``MODULE.FUNCTION``, e.g. ``funcs.square``."""

    name = "MODULE.FUNCTION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            split_function_name(value)
        except LoadError as err:
            self.fail(str(err), param, ctx)
        return str(value)


class BindType(click.ParamType):
    """``HOST:PORT`` or ``unix:PATH``."""

    name = "HOST:PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_bind(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def setting_help(name: str, text: str | None = None) -> str:
    """An option's help: its doc line, environment variable and default, from Config."""
    field = next(f for f in settings() if f.name == name)
    default = field.default
    if default in (None, ()):
        default = "none"
    elif isinstance(default, bool):
        default = str(default).lower()
    doc = (text or field.metadata["doc"]).replace("``", "")
    return f"{doc} [env: {field.metadata['env']}; default: {default}]"


OPTION_TYPES: dict[Any, Any] = {
    parse_positive_int: click.IntRange(min=1),
    parse_non_negative_int: click.IntRange(min=0),
    parse_seconds: click.FloatRange(min=0),
}


def setting_option(field: dataclasses.Field[Any]) -> click.Option:
    """The option of one setting: ``--name/--no-name`` for a switch, else ``--name VALUE``."""
    flag = field.name.replace("_", "-")
    parse = field.metadata["parse"]
    if parse is parse_bool:
        return click.Option([f"--{flag}/--no-{flag}"], default=None, help=setting_help(field.name))
    metavar = field.metadata["metavar"] or field.name.split("_")[-1].upper()
    return click.Option(
        [f"--{flag}"], type=OPTION_TYPES.get(parse), metavar=metavar, help=setting_help(field.name)
    )


#: The options written by hand (short names, their own help), in the order --help lists them.
HAND_WRITTEN_OPTIONS = [
    click.Option(
        ["-c", "--config"],
        metavar="PATH",
        help="YAML config file naming the functions and settings. [env: FIREFLY_CONFIG]",
    ),
    click.Option(
        ["-t", "--token"],
        help=setting_help(
            "token",
            "Token every request must carry; prefer FIREFLY_TOKEN or the"
            " config file, which keep it out of the process list.",
        ),
    ),
    click.Option(
        ["--model"],
        multiple=True,
        metavar="NAME=FILE",
        help="Serve one model file as version 1 of model NAME; repeatable. See also --models.",
    ),
    click.Option(["-b", "--bind"], type=BindType(), help=setting_help("bind")),
    click.Option(["-w", "--workers"], type=click.IntRange(min=1), help=setting_help("workers")),
    click.Option(["--threads"], type=click.IntRange(min=1), help=setting_help("threads")),
    click.Option(
        ["--timeout"], type=click.IntRange(min=1), metavar="SECONDS", help=setting_help("timeout")
    ),
    click.Option(["--reload/--no-reload"], default=None, help=setting_help("reload")),
    click.Option(["--allow-origins"], metavar="ORIGINS", help=setting_help("allow_origins")),
    click.Option(
        ["--max-content-length"],
        type=click.IntRange(min=1),
        metavar="BYTES",
        help=setting_help("max_content_length"),
    ),
]


def serve_options() -> list[click.Parameter]:
    """The functions argument, the hand-written options, then one option per other setting."""
    taken = {option.name for option in HAND_WRITTEN_OPTIONS}
    return [
        click.Argument(["functions"], nargs=-1, type=FunctionNameType()),
        *HAND_WRITTEN_OPTIONS,
        *(setting_option(field) for field in settings() if field.name not in taken),
    ]


@click.command(
    "serve",
    params=serve_options(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: firefly funcs.square  (then: curl -d '{\"n\": 4}' http://127.0.0.1:8000/square)",
)
def serve_command(**flags: Any) -> None:
    """Serve Python functions and models as a web API: each MODULE.FUNCTION at POST /FUNCTION.

    This is the default command: ``firefly funcs.square`` is ``firefly serve funcs.square``.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        server = server_for(load_config(flags, os.environ))
    except FireflyError as err:
        raise click.ClickException(str(err)) from None
    configure_logging()
    server.run()
