"""The ``firefly`` command: serve functions named on the command line or in a config file."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from .app import create_app
from .config import load_config, parse_bind, settings
from .errors import FireflyError, LoadError
from .loader import split_function_name
from .server import FireflyApplication
from .version import __version__

LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


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


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: firefly funcs.square  (then: curl -d '{\"n\": 4}' http://127.0.0.1:8000/square)",
)
@click.argument("functions", nargs=-1, type=FunctionNameType())
@click.option(
    "-c",
    "--config",
    metavar="PATH",
    help="YAML config file naming the functions and settings. [env: FIREFLY_CONFIG]",
)
@click.option(
    "-t",
    "--token",
    help=setting_help(
        "token",
        "Token every request must carry; prefer FIREFLY_TOKEN or the"
        " config file, which keep it out of the process list.",
    ),
)
@click.option("-b", "--bind", type=BindType(), help=setting_help("bind"))
@click.option("-w", "--workers", type=click.IntRange(min=1), help=setting_help("workers"))
@click.option("--threads", type=click.IntRange(min=1), help=setting_help("threads"))
@click.option(
    "--timeout", type=click.IntRange(min=1), metavar="SECONDS", help=setting_help("timeout")
)
@click.option("--reload/--no-reload", default=None, help=setting_help("reload"))
@click.option("--allow-origins", metavar="ORIGINS", help=setting_help("allow_origins"))
@click.option(
    "--max-content-length",
    type=click.IntRange(min=1),
    metavar="BYTES",
    help=setting_help("max_content_length"),
)
@click.version_option(__version__, "--version", prog_name="firefly", message="%(prog)s %(version)s")
def serve_command(**flags: Any) -> None:
    """Serve Python functions as a web API: each MODULE.FUNCTION at POST /FUNCTION."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        config = load_config(flags, os.environ)
        app = None if config.reload else create_app(config)
    except FireflyError as err:
        raise click.ClickException(str(err)) from None
    configure_logging()
    FireflyApplication(config, app).run()


def configure_logging() -> None:
    """Send firefly's own log (function errors) to stderr beside gunicorn's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S %z"))
    logger = logging.getLogger("firefly")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> None:
    """Entry point of the ``firefly`` command."""
    serve_command(prog_name="firefly")
