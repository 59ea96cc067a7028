"""``firefly executions get|list|cancel``: a server's asynchronous executions, from a shell."""

from __future__ import annotations

import itertools

import click

from ..remote_execution import STATUSES
from .call import CONTEXT, client_options, connected, print_json

#: Executions ``list`` prints unless told otherwise: the server's own page size.
DEFAULT_LIMIT = 100


@click.group("executions", context_settings=CONTEXT, short_help="Read, list or cancel executions.")
def executions_group() -> None:
    """The executions of the server at URL: the calls made with 'firefly call --async' (or
    'Prefer: respond-async'), their status and their result.

    \b
        ID=$(firefly call URL square n=4 --async); firefly executions get URL $ID
    """


@executions_group.command("get", context_settings=CONTEXT, short_help="Show one execution.")
@client_options
@click.argument("execution_id", metavar="ID")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Wait up to SECONDS for it to finish before printing it. [default: 0]",
)
def get_command(url: str, token: str | None, execution_id: str, wait: float) -> None:
    """Print the execution ID as JSON: status, function, arguments, times, attempts, and the
    result or the error. It exits 0 whatever the status, 1 if the server knows no such ID."""
    with connected(url, token) as client:
        execution = client.execution(execution_id)
        print_json(execution.wait(wait) if wait else execution.to_dict())


@executions_group.command("list", context_settings=CONTEXT, short_help="List executions.")
@client_options
@click.option("--function", metavar="NAME", help="Only the executions of this function.")
@click.option("--status", type=click.Choice(STATUSES), help="Only the executions in this status.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMIT,
    metavar="N",
    help=f"Print at most N, the newest. [default: {DEFAULT_LIMIT}]",
)
@click.option("--json", "as_json", is_flag=True, help="Print them as one JSON list.")
def list_command(
    url: str, token: str | None, function: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Print the executions, newest first, one line each: id, status, function, created_at."""
    with connected(url, token) as client:
        found = client.executions(function, status, page_size=min(limit, 1000))
        infos = [execution.to_dict() for execution in itertools.islice(found, limit)]
    if as_json:
        print_json(infos)
        return
    width = max((len(info["function"]) for info in infos), default=0)
    for info in infos:
        click.echo(
            f"{info['id']}  {info['status']:<9}  {info['function']:<{width}}  {info['created_at']}"
        )


@executions_group.command(
    "cancel", context_settings=CONTEXT, short_help="Cancel a queued execution."
)
@client_options
@click.argument("execution_id", metavar="ID")
def cancel_command(url: str, token: str | None, execution_id: str) -> None:
    """Cancel the execution ID while it is queued, and print it as JSON. A running or
    finished one cannot be cancelled: it exits 1 saying so."""
    with connected(url, token) as client:
        print_json(client.execution(execution_id).cancel())
