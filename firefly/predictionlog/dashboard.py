"""``/-/dashboard``: the prediction log over time, per function and version, drawn in the browser.

- ``GET /-/dashboard`` is the page, and ``GET /-/dashboard/static/<file>``
  its script, style sheet and the Chart.js it draws with (vendored from the
  npm registry with its licence, so the page needs no internet). Both are
  public: they hold no data, and a browser fetches them without a header;
- ``GET /-/dashboard/data`` is what the page draws, and needs the token like
  every other route. When it answers 401 the page asks for the token in a
  small form, keeps it in the tab's ``sessionStorage`` and sends it as
  ``Authorization: Token <token>``.

The data holds, per function (or model method) and version, the calls in
time buckets (about 24 to 60 over the range): their count, errors (status
400 or more), latency percentiles, outcomes received, and accuracy or mean
absolute error (:func:`~firefly.predictionlog.scoring.score`); and the drift
of each input feature (:mod:`~firefly.predictionlog.drift`) between the older
rows (the reference window) and the newer ones. It takes the filters of
``GET /-/predictions`` (``function``, ``version``, ``since``, ``until``) and
``reference``, the time that ends the reference window (by default, each
series' older half of rows). Without ``since`` it reads the last 24 hours;
it reads at most :data:`MAX_ROWS` rows, the newest, and says so.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import flask

from ..errors import BadRequestError
from ..features import Route
from ..routes.errors import error_response
from ..routes.openapi import service_operation
from ..version import __version__
from .drift import drift, quantile
from .scoring import ABSOLUTE_ERROR, ACCURACY, score

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, RowMapping

    from .queries import Filters

DASHBOARD_PATH = "/-/dashboard"
DATA_PATH = "/-/dashboard/data"
ASSETS_PREFIX = "/-/dashboard/static/"
STATIC_FOLDER = os.path.join(os.path.dirname(__file__), "static")
ASSET_MAX_AGE = 7 * 24 * 3600  # seconds; asset URLs carry firefly's version
#: The most rows one answer reads: the newest, when the range holds more.
MAX_ROWS = 200_000
#: The range read when the request gives no ``since``.
DEFAULT_RANGE = dt.timedelta(hours=24)
MAX_BUCKETS = 60
#: Bucket widths in seconds, each at most 2.5 times the one before, so that a
#: range gets between 24 and 60 buckets (fewer only under a minute).
INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
DAY = 86400
PERCENTILES = (50, 95, 99)
#: The columns the dashboard reads (all but the ids), by name.
READ_COLUMNS = "function version arguments result status duration created_at outcome outcome_at"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="stylesheet" href="{{ asset('dashboard.css') }}">
</head>
<body>
<div id="dashboard" data-url="{{ data_url }}"></div>
<script src="{{ asset('chart.umd.min.js') }}"></script>
<script src="{{ asset('dashboard.js') }}"></script>
</body>
</html>
"""


def dashboard_routes(engine: Callable[[], Engine]) -> tuple[Route, ...]:
    """The page, its data and its assets; ``engine`` gives the worker's engine when asked."""
    content = {"application/json": {"schema": {"type": "object"}}}
    operation = service_operation("dashboard", "The prediction log in time buckets", content)

    def data() -> flask.Response:
        from .queries import Filters, parse_time

        args = flask.request.args
        try:
            filters = Filters.parse(args)
            reference = args.get("reference")
            split = parse_time(reference, "reference") if reference else None
        except ValueError as error:
            return error_response(BadRequestError(str(error)))
        with engine().connect() as connection:
            answer = dashboard_data(connection, filters, split, now())
        return flask.jsonify(answer)

    return (
        Route(DASHBOARD_PATH, "dashboard", page, public=True),
        Route(DATA_PATH, "dashboard_data", data, operation=operation),
        Route(f"{ASSETS_PREFIX}<path:filename>", "dashboard_asset", asset, public=True),
    )


def page() -> flask.Response:
    """``GET /-/dashboard``: the page; its script fetches the data."""
    html = flask.render_template_string(
        PAGE,
        title="Prediction log - dashboard",
        asset=lambda name: flask.url_for("dashboard_asset", filename=name, v=__version__),
        data_url=flask.url_for("dashboard_data"),
    )
    response = flask.Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def asset(filename: str) -> flask.Response:
    """``GET /-/dashboard/static/<filename>``: a file of the page, cached for a week."""
    return flask.send_from_directory(STATIC_FOLDER, filename, max_age=ASSET_MAX_AGE)


def now() -> dt.datetime:
    """The time now, as the table stores times (UTC, without a zone)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def read_rows(
    connection: Connection, filters: Filters, limit: int
) -> tuple[list[RowMapping], bool]:
    """The newest ``limit`` rows matching ``filters``, oldest first, and whether there were more."""
    from sqlalchemy import and_, select

    from .table import predictions

    query = (
        select(*(predictions.c[name] for name in READ_COLUMNS.split()))
        .where(and_(True, *filters.conditions()))
        .order_by(predictions.c.id.desc())
        .limit(limit + 1)
    )
    rows = list(connection.execute(query).mappings())
    truncated = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, truncated


def bucket_interval(span: float) -> int:
    """The width in seconds of the buckets over ``span`` seconds: the narrowest of
    :data:`INTERVALS` (then whole days) giving at most :data:`MAX_BUCKETS`."""
    for interval in INTERVALS:
        if span <= interval * MAX_BUCKETS:
            return interval
    return DAY * math.ceil(span / (DAY * MAX_BUCKETS))


def timestamp(moment: dt.datetime) -> float:
    """A stored (naive UTC) time as seconds since the epoch."""
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


@dataclass(frozen=True)
class Buckets:
    """The time buckets of a range: ``count`` buckets of ``interval`` seconds from ``start``."""

    start: float
    interval: int
    count: int

    @classmethod
    def over(cls, since: dt.datetime, until: dt.datetime) -> Buckets:
        """Buckets covering ``since`` to ``until``, their edges on multiples of their width."""
        first, last = timestamp(since), timestamp(until)
        interval = bucket_interval(max(last - first, 1.0))
        start = math.floor(first / interval) * interval
        return cls(start, interval, max(1, math.ceil((last - start) / interval)))

    def index(self, moment: dt.datetime) -> int:
        """The bucket of ``moment``; times outside the range go to the first or the last."""
        position = math.floor((timestamp(moment) - self.start) / self.interval)
        return min(max(position, 0), self.count - 1)

    def starts(self) -> list[str]:
        """Each bucket's start, ISO 8601 UTC with ``Z``."""
        return [iso(self.start + k * self.interval) for k in range(self.count)]


def iso(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with ``Z``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` percentile (0 to 100) of sorted values, between ranks; None if there are none."""
    return quantile(ordered, q / 100) if ordered else None


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` rounded, or None when there is no whole."""
    return round(part / whole, 6) if whole else None


class Tally:
    """The calls of one bucket, or of a whole series: counted, timed and scored."""

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.durations: list[float] = []
        self.outcomes = 0
        self.scores: dict[str, list[float]] = {ACCURACY: [], ABSOLUTE_ERROR: []}

    def add(self, row: RowMapping) -> None:
        """Count one row."""
        self.count += 1
        self.errors += row["status"] >= 400
        self.durations.append(row["duration"])
        if row["outcome_at"] is not None:
            self.outcomes += 1
            scored = score(row["result"], row["outcome"])
            if scored is not None:
                self.scores[scored[0]].append(scored[1])

    def json(self) -> dict[str, Any]:
        """The tally's numbers: rates as fractions, latency in milliseconds."""
        ordered = sorted(self.durations)
        accuracy, errors = self.scores[ACCURACY], self.scores[ABSOLUTE_ERROR]
        latency = {f"p{q}": percentile(ordered, q) for q in PERCENTILES}
        return {
            "count": self.count,
            "errors": self.errors,
            "error_rate": ratio(self.errors, self.count),
            "latency_ms": {
                k: None if v is None else round(v * 1000, 3) for k, v in latency.items()
            },
            "outcomes": self.outcomes,
            "coverage": ratio(self.outcomes, self.count),
            "accuracy": ratio(sum(accuracy), len(accuracy)),
            "accuracy_count": len(accuracy),
            "mean_absolute_error": ratio(sum(errors), len(errors)),
            "absolute_error_count": len(errors),
        }


def columns(tallies: Sequence[Tally]) -> dict[str, Any]:
    """Bucket tallies as one list per number, the way a chart takes them."""
    found: dict[str, Any] = {}
    for tally in tallies:
        for key, value in tally.json().items():
            if isinstance(value, dict):
                inner = found.setdefault(key, {})
                for name, number in value.items():
                    inner.setdefault(name, []).append(number)
            else:
                found.setdefault(key, []).append(value)
    return found


def series_json(
    key: tuple[str, str | None],
    rows: Sequence[RowMapping],
    buckets: Buckets,
    split: dt.datetime | None,
) -> dict[str, Any]:
    """One function and version: totals, buckets and drift of its rows (oldest first)."""
    total, tallies = Tally(), [Tally() for _ in range(buckets.count)]
    for row in rows:
        total.add(row)
        tallies[buckets.index(row["created_at"])].add(row)
    return {
        "function": key[0],
        "version": key[1],
        "totals": total.json(),
        "buckets": columns(tallies),
        "drift": drift_json(rows, split),
    }


def drift_json(rows: Sequence[RowMapping], split: dt.datetime | None) -> dict[str, Any]:
    """The drift of each feature between the rows (oldest first) before ``split`` and the
    others; without ``split``, between the older half of the rows and the newer one."""
    if split is None:
        half = len(rows) // 2
        reference, current = rows[:half], rows[half:]
        split = current[0]["created_at"] if current else None
    else:
        reference = [row for row in rows if row["created_at"] < split]
        current = [row for row in rows if row["created_at"] >= split]
    features = drift((row["arguments"] for row in reference), (row["arguments"] for row in current))
    return {
        "reference_until": None if split is None else iso(timestamp(split)),
        "reference_count": len(reference),
        "current_count": len(current),
        "features": [feature.json() for feature in features],
    }


def dashboard_data(
    connection: Connection,
    filters: Filters,
    split: dt.datetime | None = None,
    moment: dt.datetime | None = None,
    limit: int = MAX_ROWS,
) -> dict[str, Any]:
    """What ``GET /-/dashboard/data`` answers for ``filters``, at ``moment`` (now by default).

    Without ``since`` the range is the last 24 hours. The buckets begin at the
    first row read, so that a young log fills the charts (and so that, past
    ``limit`` rows, the older buckets do not look quiet).
    """
    until = filters.until or moment or now()
    since = filters.since or until - DEFAULT_RANGE
    rows, truncated = read_rows(connection, replace(filters, since=since), limit)
    start = max(since, rows[0]["created_at"]) if rows else since
    buckets = Buckets.over(start, max(until, start))
    series: dict[tuple[str, str | None], list[RowMapping]] = {}
    for row in rows:
        series.setdefault((row["function"], row["version"]), []).append(row)
    ordered = sorted(series.items(), key=lambda item: (-len(item[1]), item[0][0], item[0][1] or ""))
    return {
        "since": iso(timestamp(start)),
        "until": iso(timestamp(until)),
        "interval": buckets.interval,
        "buckets": buckets.starts(),
        "rows": len(rows),
        "max_rows": limit,
        "truncated": truncated,
        "series": [series_json(key, found, buckets, split) for key, found in ordered],
    }
