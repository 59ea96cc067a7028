"""``firefly log export|stats|upgrade``: the prediction log read from its database."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from ..encoding import dumps
from ..errors import ConfigError
from ..predictionlog import DEFAULT_URL

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine, RowMapping

    from ..predictionlog.queries import Filters
    from ..predictionlog.stats import GroupStats

DATABASE_ENV = "FIREFLY_PREDICTION_LOG"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: The export format an output file's suffix chooses.
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Rows between two updates of the progress bar.
PROGRESS_STEP = 1000


class BadOption(click.ClickException):
    """An option's value that does not parse: one line, and click's exit code of usage errors."""

    exit_code = 2


database_option = click.option(
    "--database",
    "-d",
    "url",
    metavar="URL",
    default=DEFAULT_URL,
    envvar=DATABASE_ENV,
    help="The prediction log's database, a SQLAlchemy URL as 'firefly --prediction-log'"
    f" takes. [env: {DATABASE_ENV}; default: {DEFAULT_URL}]",
)


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The database and the filters, the same for every ``firefly log`` command that reads."""
    options = [
        database_option,
        click.option(
            "--function",
            metavar="NAME",
            help="Only the calls of this function, or model method (churn/predict); a model's"
            " name (churn) takes all its methods.",
        ),
        click.option("--version", metavar="VERSION", help="Only the calls of this model version."),
        click.option(
            "--since",
            metavar="TIME",
            help="Only the calls made at or after TIME, in ISO 8601 (2026-12-01,"
            " 2026-12-01T10:00:00Z); a time without a zone is UTC.",
        ),
        click.option("--until", metavar="TIME", help="Only the calls made before TIME."),
        click.option(
            "--with-outcome/--without-outcome",
            "outcome",
            default=None,
            help="Only the calls whose outcome was received (POST /-/feedback), or only those"
            " still without one. [default: both]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def parse_filters(**values: str | bool | None) -> Filters:
    """The options as ``GET /-/predictions`` parses its parameters, with its messages."""
    from ..predictionlog.queries import Filters

    given = {
        name: str(value).lower() if isinstance(value, bool) else value
        for name, value in values.items()
        if value is not None
    }
    try:
        return Filters.parse(given)
    except ValueError as err:
        raise BadOption(str(err)) from None


@contextlib.contextmanager
def reading(url: str) -> Iterator[Engine]:
    """The engine of the log in ``url``; a database that is missing, unreachable or holds no
    log ends the command with one line saying so."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from ..database import database_url
    from ..predictionlog.database import WHAT, connect
    from ..predictionlog.table import TABLE_NAME

    try:
        parsed = database_url(url, WHAT)
        shown = make_url(url).render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            if not Path(parsed.database).is_file():  # connecting would create an empty one
                raise click.ClickException(
                    f"no prediction log in {shown}: no file {parsed.database}"
                )
        engine = connect(url)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    try:
        with engine.connect() as connection:
            found = inspect(connection).has_table(TABLE_NAME)
        if not found:
            raise click.ClickException(
                f"no prediction log in {shown}: table {TABLE_NAME} not found"
            )
        yield engine
    except SQLAlchemyError as err:
        cause = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise click.ClickException(f"cannot read the prediction log in {shown}: {cause}") from None
    finally:
        engine.dispose()


@click.group("log", context_settings=CONTEXT, short_help="Export the prediction log, or sum it up.")
def log_group() -> None:
    """Read the prediction log: export its rows, or sum them up per function and version.

    The commands use the database directly (--database, or FIREFLY_PREDICTION_LOG as
    the server does), so they work whether the server runs or not.
    """


@log_group.command(
    "upgrade", context_settings=CONTEXT, short_help="Create or migrate the log's table."
)
@database_option
def upgrade_command(url: str) -> None:
    """Create the prediction log's table, or migrate it to this release's schema.

    Each worker does this when it starts; run it yourself when the server's
    database user may not create or change tables, as a user who may.

    Example:
      $ firefly log upgrade -d postgresql+psycopg://admin@db.internal/predictions
      the prediction log in postgresql+psycopg://admin@db.internal/predictions is at revision 0001
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from ..predictionlog.database import connect, prepare, revision

    shown = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    try:
        engine = connect(url)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    try:
        prepare(engine)
        click.echo(f"the prediction log in {shown} is at revision {revision(engine)}")
    except SQLAlchemyError as err:
        cause = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise click.ClickException(
            f"cannot upgrade the prediction log in {shown}: {cause}"
        ) from None
    finally:
        engine.dispose()


@log_group.command(
    "export", context_settings=CONTEXT, short_help="Write the logged calls as JSON lines or CSV."
)
@filter_options
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["jsonl", "csv"]),
    help="JSON lines (one row an object per line, as GET /-/predictions gives it) or CSV"
    " (a header of the columns; arguments, result and outcome as JSON text; no value as an"
    " empty cell). [default: from FILE's suffix, .csv or .jsonl/.json; else jsonl]",
)
@click.option(
    "--output",
    "-o",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the rows to FILE, replacing it. [default: stdout]",
)
def export_command(
    url: str,
    function: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    outcome: bool | None,
    output_format: str | None,
    output: str | None,
) -> None:
    """Write the logged calls matching the filters, oldest first, as JSON lines or CSV.

    The rows are read a page at a time, so that a log of any size can be exported. On a
    terminal a progress bar goes to stderr, and a line saying how many rows were written
    to FILE ends the export.

    \b
    Example:
      $ firefly log export -d sqlite:///predictions.db --function churn \\
            --since 2026-12-01 --with-outcome -o churn.csv
      exported 1520 rows to churn.csv
    """
    from ..predictionlog.export import write_csv, write_jsonl
    from ..predictionlog.queries import count_rows, iter_rows

    filters = parse_filters(
        function=function, version=version, since=since, until=until, outcome=outcome
    )
    to_file = output not in (None, "-")
    chosen = output_format or (
        SUFFIXES.get(Path(output).suffix.lower(), "jsonl") if output else "jsonl"
    )
    write = write_csv if chosen == "csv" else write_jsonl
    with reading(url) as engine:
        rows: Iterable[RowMapping] = iter_rows(engine, filters)
        if sys.stderr.isatty() and (to_file or not sys.stdout.isatty()):
            with engine.connect() as connection:
                total = count_rows(connection, filters)
            rows = with_progress(rows, total)
        with output_stream(output if to_file else None) as stream:
            written = write(stream, rows)
    if to_file:
        click.echo(f"exported {written} rows to {output}", err=True)


@contextlib.contextmanager
def output_stream(path: str | None) -> Iterator[IO[str]]:
    """FILE, or stdout (None), as UTF-8 text; a reader of stdout that leaves ends the export."""
    if path is not None:
        try:
            file = open(path, "w", encoding="utf-8", newline="")
        except OSError as err:
            raise click.ClickException(f"cannot write {path}: {err.strerror}") from None
        with file:
            yield file
        return
    stream = io.TextIOWrapper(click.get_binary_stream("stdout"), encoding="utf-8", newline="")
    try:
        yield stream
        stream.flush()
    except BrokenPipeError:
        # 'firefly log export | head': what is left goes nowhere, and no traceback is shown.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    finally:
        stream.detach()  # stdout itself stays open


def with_progress(rows: Iterable[RowMapping], total: int) -> Iterator[RowMapping]:
    """``rows``, while a bar on stderr shows how many of ``total`` have gone by."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "exporting",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task("rows", total=total)
        done = 0
        for done, row in enumerate(rows, 1):
            yield row
            if done % PROGRESS_STEP == 0:
                bar.update(task, completed=done)
        bar.update(task, completed=done)


@log_group.command(
    "stats",
    context_settings=CONTEXT,
    short_help="Calls, errors, latency and accuracy per function.",
)
@filter_options
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    help="A table, or a JSON array of one object per function and version: function,"
    " version, count, errors, error_rate, latency_ms {p50, p95, p99}, outcomes, accuracy,"
    " mean_absolute_error. [default: table]",
)
def stats_command(
    url: str,
    function: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    outcome: bool | None,
    output_format: str,
) -> None:
    """Sum up the logged calls matching the filters, per function (or model method) and version.

    For each: the calls, the errors (a status of 400 or more) and their share, the
    latency percentiles p50/p95/p99 in milliseconds, the outcomes received, and how
    right the predictions were: the accuracy of labels (classes), the mean absolute
    error of numbers (regressions). Accuracy and error are of the calls with an
    outcome; none is shown without one.

    \b
    Example:
      $ firefly log stats -d sqlite:///predictions.db --since 2026-12-01
      function       version  calls    errors  p50 ms  p95 ms  p99 ms  outcomes  accuracy  MAE
      churn/predict  v3        1520  4 (0.3%)    2.10    5.34    9.80      1210     91.2%    -
      price          -          310  0 (0.0%)    0.41    0.93    1.52       122         -  3.07
    """
    from ..predictionlog.stats import compute_stats

    filters = parse_filters(
        function=function, version=version, since=since, until=until, outcome=outcome
    )
    with reading(url) as engine:
        groups = compute_stats(engine, filters)
    if output_format == "json":
        click.echo(dumps([group.as_json() for group in groups]).decode())
    elif not groups:
        click.echo("no logged calls match", err=True)
    else:
        print_table(groups)


def print_table(groups: list[GroupStats]) -> None:
    """The figures as a table on stdout."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("function")
    table.add_column("version")
    for name in ("calls", "errors", "p50 ms", "p95 ms", "p99 ms", "outcomes", "accuracy", "MAE"):
        table.add_column(name, justify="right")
    for group in groups:
        latency = group.latency_ms()
        table.add_row(
            Text(group.function),  # a name is not rich markup
            Text(group.version or "-"),
            str(group.count),
            f"{group.errors} ({group.error_rate:.1%})",
            *(f"{latency[name]:.2f}" for name in ("p50", "p95", "p99")),
            str(group.outcomes),
            "-" if group.accuracy is None else f"{group.accuracy:.1%}",
            "-" if group.mean_absolute_error is None else f"{group.mean_absolute_error:.4g}",
        )
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 200)  # piped: not folded to 80 columns
    console.print(table)
