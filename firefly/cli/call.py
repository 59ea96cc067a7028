"""``firefly call``: call a function of a running server from a shell, at once or in the background.

``firefly call URL square n=4`` prints the result as JSON; with ``--async``
it prints only the execution's id, so that ``ID=$(firefly call URL square
n=4 --async)`` keeps it for ``firefly executions get URL $ID``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click
import requests

from ..client import Client
from ..errors import ConnectError, FireflyError

TOKEN_ENV = "FIREFLY_TOKEN"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class BadArgument(click.ClickException):
    """An argument that does not parse: one line, and click's exit code of usage errors."""

    exit_code = 2


def client_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The server's URL and its token, the same for every command that talks to a server."""
    command = click.option(
        "--token",
        "-t",
        metavar="TOKEN",
        envvar=TOKEN_ENV,
        help=f"The server's token, sent as 'Authorization: Token <token>'. [env: {TOKEN_ENV}]",
    )(command)
    return click.argument("url", metavar="URL", callback=_check_url)(command)


def _check_url(ctx: click.Context, param: click.Parameter, url: str) -> str:
    if not url.lower().startswith(("http://", "https://")):
        raise BadArgument(f"URL: expected the server's http:// or https:// URL, got {url!r}")
    return url


@contextlib.contextmanager
def connected(url: str, token: str | None) -> Iterator[Client]:
    """A client of ``url``; what it raises ends the command with one line and exit code 1."""
    try:
        with Client(url, auth_token=token or None) as client:
            yield client
    except ConnectError as error:
        raise click.ClickException(f"cannot connect to {url}: {_reason(error)}") from None
    except (FireflyError, requests.RequestException) as error:
        raise click.ClickException(" ".join(str(error).split())) from None


def print_json(value: Any) -> None:
    """``value`` as indented JSON on standard output."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def parse_arguments(pairs: tuple[str, ...], body: str | None) -> dict[str, Any]:
    """``--json BODY`` and then each ``NAME=VALUE``: a value that parses as JSON is that JSON
    (``n=4`` is 4, ``on=true`` is True), any other is the string (``s=abc`` is "abc")."""
    arguments: dict[str, Any] = {}
    if body is not None:
        try:
            arguments = json.loads(body)
        except ValueError as error:
            raise BadArgument(f"--json: not JSON: {error}") from None
        if not isinstance(arguments, dict):
            raise BadArgument(f"--json: expected a JSON object of arguments, got {body!r}")
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise BadArgument(f"argument {pair!r}: write it as NAME=VALUE, e.g. n=4")
        try:
            arguments[name] = json.loads(text)
        except ValueError:
            arguments[name] = text
    return arguments


@click.command("call", context_settings=CONTEXT, short_help="Call a function of a server.")
@client_options
@click.argument("function", metavar="FUNCTION")
@click.argument("pairs", metavar="[NAME=VALUE]...", nargs=-1)
@click.option(
    "--async",
    "run_async",
    is_flag=True,
    help="Run it in the background: print the execution's id instead of the result.",
)
@click.option(
    "--json",
    "body",
    metavar="BODY",
    help="The arguments as one JSON object; NAME=VALUE pairs are added to it.",
)
def call_command(
    url: str,
    token: str | None,
    function: str,
    pairs: tuple[str, ...],
    run_async: bool,
    body: str | None,
) -> None:
    """Call FUNCTION of the server at URL with NAME=VALUE arguments; print its result as JSON.

    A VALUE that parses as JSON is that JSON (n=4 is the number 4, ok=true a
    boolean, xs='[1, 2]' a list); any other is a string (name=Ada). To send
    the string "4", quote it as JSON: x='"4"'.

    With --async the call runs in the background and only its execution id is
    printed:

    \b
        ID=$(firefly call URL square n=4 --async); firefly executions get URL $ID
    """
    arguments = parse_arguments(pairs, body)
    with connected(url, token) as client:
        if run_async:
            click.echo(client.submit(function, arguments).id)
            return
        result = client.call(function, **arguments)
        if hasattr(result, "read"):  # a file the function returned: its bytes as they are
            with result:
                shutil.copyfileobj(result, sys.stdout.buffer)
            return
        print_json(result)


def _reason(error: ConnectError) -> str:
    """Why the connection failed, in a few words rather than urllib3's chain of retries."""
    text = str(error)
    for reason in ("Connection refused", "Name or service not known", "timed out"):
        if reason in text:
            return reason.lower()
    return " ".join(text.split(": ", 1)[-1].split())
