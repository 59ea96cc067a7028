"""Reading the log: the filters and pages of ``GET /-/predictions`` and ``firefly log export``.

Times are stored and compared in UTC, without a zone (the same in SQLite and
PostgreSQL); :func:`row_json` answers them as ISO 8601 with ``Z``. Pages
follow the rows' ``id`` (the order they were written in): a page's cursor is
the last id it holds, so a page is found by the index whatever the table's
size, and rows written meanwhile never shift the pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.engine import Connection, Engine, RowMapping

from .table import predictions

#: Rows in one page, unless the caller asks for fewer (``limit``).
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
#: The query parameters ``GET /-/predictions`` takes besides ``cursor`` and ``limit``.
FILTER_PARAMETERS = ("function", "version", "since", "until", "outcome")


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as the table stores it: UTC, without a zone (naive times are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def from_timestamp(seconds: float) -> dt.datetime:
    """A ``time.time()`` value as the table stores it."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def parse_time(value: str, name: str) -> dt.datetime:
    """An ISO 8601 time (``2026-12-01``, ``2026-12-01T10:00:00Z``); naive means UTC."""
    try:
        return utc(dt.datetime.fromisoformat(value.strip()))
    except ValueError:
        raise ValueError(
            f"{name}: expected an ISO 8601 time such as 2026-12-01T10:00:00Z, got {value!r}"
        ) from None


def parse_outcome(value: str) -> bool:
    """``true`` (rows with an outcome) or ``false`` (rows still without one)."""
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"outcome: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Filters:
    """Which rows to read: each filter left None reads them all.

    :param function: a function's name, a model method (``churn/predict``), or a
        model's name (``churn``: all its methods).
    :param version: a model version.
    :param since: rows created at or after it (UTC).
    :param until: rows created before it (UTC).
    :param outcome: True for rows with an outcome, False for those without.
    """

    function: str | None = None
    version: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: bool | None = None

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> Filters:
        """Filters from query parameters or command-line options, by name.

        :raises ValueError: a value that does not parse, naming the parameter.
        """
        since, until, outcome = values.get("since"), values.get("until"), values.get("outcome")
        return cls(
            function=values.get("function") or None,
            version=values.get("version") or None,
            since=parse_time(since, "since") if since else None,
            until=parse_time(until, "until") if until else None,
            outcome=parse_outcome(outcome) if outcome else None,
        )

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses of these filters."""
        table = predictions.c
        found: list[ColumnElement[bool]] = []
        if self.function is not None:
            found.append(function_matches(self.function))
        if self.version is not None:
            found.append(table.version == self.version)
        if self.since is not None:
            found.append(table.created_at >= self.since)
        if self.until is not None:
            found.append(table.created_at < self.until)
        if self.outcome is not None:
            found.append(
                table.outcome_at.isnot(None) if self.outcome else table.outcome_at.is_(None)
            )
        return found


def function_matches(name: str) -> ColumnElement[bool]:
    """Rows of function ``name``; a name without ``/`` also matches a model's methods."""
    column = predictions.c.function
    if "/" in name:
        return column == name
    return or_(column == name, column.startswith(f"{name}/", autoescape=True))


def page_query(filters: Filters, after: int | None, limit: int, descending: bool) -> Select[Any]:
    """The rows matching ``filters`` after the cursor ``after``, ``limit`` at most, by id."""
    table = predictions.c
    conditions = filters.conditions()
    if after is not None:
        conditions.append(table.id < after if descending else table.id > after)
    order = table.id.desc() if descending else table.id.asc()
    return select(predictions).where(and_(True, *conditions)).order_by(order).limit(limit)


def read_page(
    connection: Connection,
    filters: Filters,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
    descending: bool = False,
) -> tuple[list[RowMapping], int | None]:
    """One page of rows, and the cursor of the next page (None after the last)."""
    rows = list(connection.execute(page_query(filters, cursor, limit + 1, descending)).mappings())
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]["id"]
    return rows, None


def iter_rows(engine: Engine, filters: Filters, batch: int = 1000) -> Iterator[RowMapping]:
    """Every row matching ``filters``, oldest first, read a page at a time."""
    cursor: int | None = None
    while True:
        with engine.connect() as connection:
            rows, cursor = read_page(connection, filters, cursor, batch)
        yield from rows
        if cursor is None:
            return


def count_rows(connection: Connection, filters: Filters) -> int:
    """How many rows match ``filters`` (the progress bar of an export)."""
    query = select(func.count()).select_from(predictions).where(and_(True, *filters.conditions()))
    return int(connection.execute(query).scalar_one())


def iso(moment: dt.datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC with ``Z``."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def row_json(row: RowMapping) -> dict[str, Any]:
    """A row as ``GET /-/predictions`` answers it: its columns, times in ISO 8601."""
    record = dict(row)
    record["created_at"] = iso(record["created_at"])
    record["outcome_at"] = iso(record["outcome_at"])
    return record
