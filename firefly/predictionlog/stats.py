"""The log summed up per function and version: calls, errors, latency, outcomes and how right
the predictions were (``firefly log stats``).

The rows are read in one statement, streamed (a server-side cursor on
PostgreSQL), so that the figures agree with each other however many rows are
written meanwhile; only the columns the figures need are read, and a row's
``result`` only once its outcome is known. Percentiles are exact: each
group's durations are kept (8 bytes a call) and sorted at the end.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Select, and_, case, select, type_coerce
from sqlalchemy.engine import Engine

from .queries import Filters
from .scoring import ABSOLUTE_ERROR, ACCURACY, score
from .table import predictions

#: The latency percentiles reported, by name.
PERCENTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
#: Rows fetched from the cursor at a time.
FETCH = 5000
#: The lowest HTTP status counted as an error.
ERROR_STATUS = 400


@dataclass
class GroupStats:
    """The figures of one function (or model method) and version."""

    function: str
    version: str | None
    count: int = 0
    errors: int = 0
    #: Rows whose outcome has been received.
    outcomes: int = 0
    durations: array[float] = field(default_factory=lambda: array("d"))
    correct: float = 0.0
    labelled: int = 0
    absolute_errors: float = 0.0
    numbered: int = 0

    def add(
        self, status: int, duration: float, has_outcome: bool, result: Any, outcome: Any
    ) -> None:
        """Count one row."""
        self.count += 1
        self.errors += status >= ERROR_STATUS
        self.durations.append(duration)
        if not has_outcome:
            return
        self.outcomes += 1
        scored = score(result, outcome)
        if scored is None:
            return
        kind, value = scored
        if kind == ACCURACY:
            self.correct += value
            self.labelled += 1
        elif kind == ABSOLUTE_ERROR:
            self.absolute_errors += value
            self.numbered += 1

    @property
    def error_rate(self) -> float:
        """The share of calls answered with a status of 400 or more."""
        return self.errors / self.count if self.count else 0.0

    @property
    def accuracy(self) -> float | None:
        """The share of right labels among the outcomes compared as labels; None without any."""
        return self.correct / self.labelled if self.labelled else None

    @property
    def mean_absolute_error(self) -> float | None:
        """The mean absolute error of the numbers predicted; None without any."""
        return self.absolute_errors / self.numbered if self.numbered else None

    def latency_ms(self) -> dict[str, float | None]:
        """The percentiles of the calls' durations, in milliseconds (to the microsecond)."""
        ordered = sorted(self.durations)
        return {
            name: None if not ordered else round(percentile(ordered, fraction) * 1000, 3)
            for name, fraction in PERCENTILES.items()
        }

    def as_json(self) -> dict[str, Any]:
        """The figures as ``firefly log stats --format json`` gives them."""
        return {
            "function": self.function,
            "version": self.version,
            "count": self.count,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms(),
            "outcomes": self.outcomes,
            "accuracy": self.accuracy,
            "mean_absolute_error": self.mean_absolute_error,
        }


def percentile(ordered: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of sorted values, between the closest ranks (as NumPy's)."""
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats_query(filters: Filters) -> Select[Any]:
    """The columns the figures need, of the rows matching ``filters``."""
    table = predictions.c
    has_outcome = table.outcome_at.isnot(None)
    # A result is only compared with an outcome: the others are not read at all.
    result = type_coerce(case((has_outcome, table.result), else_=None), JSON(none_as_null=True))
    return select(
        table.function,
        table.version,
        table.status,
        table.duration,
        has_outcome.label("has_outcome"),
        result.label("result"),
        table.outcome,
    ).where(and_(True, *filters.conditions()))


def compute_stats(engine: Engine, filters: Filters) -> list[GroupStats]:
    """The figures of each function and version the rows matching ``filters`` hold, by name."""
    groups: dict[tuple[str, str | None], GroupStats] = {}
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=FETCH).execute(stats_query(filters))
        for function, version, status, duration, has_outcome, result, outcome in rows:
            group = groups.get((function, version))
            if group is None:
                group = groups[function, version] = GroupStats(function, version)
            group.add(status, duration, bool(has_outcome), result, outcome)
    return sort_groups(groups.values())


def sort_groups(groups: Iterable[GroupStats]) -> list[GroupStats]:
    """By function, then version: a function's calls without one first."""
    return sorted(groups, key=lambda g: (g.function, g.version is not None, g.version or ""))
