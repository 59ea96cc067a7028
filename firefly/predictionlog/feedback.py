"""``POST /-/feedback``: outcomes joined to the rows of the calls they are the truth of.

An item names its row by prediction id (``{"id": ..., "outcome": ...}``, the
``X-Prediction-ID`` the call answered) or by the caller's observation id
(``{"function": ..., "observation_id": ..., "outcome": ...}``). The outcome is
any JSON value; it and the time it arrived are stored on the row, replacing
an earlier one. A list of items is applied in one transaction, a few
statements per thousand items, and each item gets its own result:
``updated``, ``not_found`` or ``invalid`` (with the reason).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection, Engine

from ..database import WRITE
from .queries import function_matches, row_json
from .table import predictions

UPDATED, NOT_FOUND, INVALID = "updated", "not_found", "invalid"
#: Keys a list may hold in one ``IN (...)``: well under SQLite's 32,766 parameters.
CHUNK = 500
#: The most items one request may carry.
MAX_ITEMS = 100_000


@dataclass
class Item:
    """One outcome to record, and what became of it."""

    outcome: Any = None
    prediction_id: str | None = None
    function: str | None = None
    observation_id: str | None = None
    status: str = NOT_FOUND
    error: str | None = None
    #: The table ids of the rows it updated.
    rows: list[int] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """Its entry in a list's answer."""
        entry: dict[str, Any] = {"status": self.status}
        if self.prediction_id is not None:
            entry["id"] = self.prediction_id
        else:
            if self.function is not None:
                entry["function"] = self.function
            if self.observation_id is not None:
                entry["observation_id"] = self.observation_id
        if self.error is not None:
            entry["error"] = self.error
        return entry


def parse_item(value: Any) -> Item:
    """An item from its JSON; an invalid one carries the reason instead."""
    if not isinstance(value, dict):
        return Item(status=INVALID, error=f"expected an object, got {_json_type(value)}")
    if "outcome" not in value:
        return Item(status=INVALID, error="'outcome' is missing")
    unknown = sorted(set(value) - {"id", "function", "observation_id", "outcome"})
    if unknown:
        return Item(status=INVALID, error=f"unknown key {unknown[0]!r}")
    outcome = value["outcome"]
    if "id" in value:
        if "function" in value or "observation_id" in value:
            return Item(status=INVALID, error="give 'id', or 'function' and 'observation_id'")
        if not isinstance(value["id"], str) or not value["id"]:
            return Item(status=INVALID, error="'id' must be the prediction id, a string")
        return Item(outcome, prediction_id=value["id"])
    function, observation = value.get("function"), value.get("observation_id")
    if not isinstance(function, str) or not function:
        return Item(status=INVALID, error="give 'id', or 'function' and 'observation_id'")
    if not isinstance(observation, (str, int)) or isinstance(observation, bool):
        return Item(
            status=INVALID,
            error="'observation_id' must be a string or an integer",
            function=function,
        )
    return Item(outcome, function=function, observation_id=str(observation))


def apply_feedback(engine: Engine, items: Sequence[Item], now: dt.datetime) -> None:
    """Store the outcome of every valid item on its rows; each item's status says what happened."""
    valid = [item for item in items if item.status != INVALID]
    with engine.connect().execution_options(**WRITE) as connection, connection.begin():
        _find_by_prediction_id(connection, [i for i in valid if i.prediction_id is not None])
        _find_by_observation(connection, [i for i in valid if i.prediction_id is None])
        updates = [
            {"row": row, "outcome": item.outcome, "outcome_at": now}
            for item in valid
            for row in item.rows
        ]
        if updates:
            connection.execute(
                update(predictions)
                .where(predictions.c.id == bindparam("row"))
                .values(outcome=bindparam("outcome"), outcome_at=bindparam("outcome_at")),
                updates,
            )
    for item in valid:
        item.status = UPDATED if item.rows else NOT_FOUND


def _find_by_prediction_id(connection: Connection, items: list[Item]) -> None:
    by_id: dict[str, list[Item]] = {}
    for item in items:  # the same id twice: both are updated, the last outcome stays
        by_id.setdefault(item.prediction_id or "", []).append(item)
    keys = list(by_id)
    for start in range(0, len(keys), CHUNK):
        query = select(predictions.c.id, predictions.c.prediction_id).where(
            predictions.c.prediction_id.in_(keys[start : start + CHUNK])
        )
        for row_id, prediction_id in connection.execute(query):
            for item in by_id[prediction_id]:
                item.rows = [row_id]


def _find_by_observation(connection: Connection, items: list[Item]) -> None:
    by_function: dict[str, dict[str, list[Item]]] = {}
    for item in items:
        observations = by_function.setdefault(item.function or "", {})
        observations.setdefault(item.observation_id or "", []).append(item)
    for function, by_observation in by_function.items():
        keys = list(by_observation)
        for start in range(0, len(keys), CHUNK):
            query = select(predictions.c.id, predictions.c.observation_id).where(
                and_(
                    function_matches(function),
                    predictions.c.observation_id.in_(keys[start : start + CHUNK]),
                )
            )
            for row_id, observation in connection.execute(query):
                for item in by_observation[observation]:
                    item.rows.append(row_id)


def read_row(engine: Engine, row_id: int) -> dict[str, Any]:
    """The row ``row_id`` as ``GET /-/predictions`` answers it (a single item's answer)."""
    with engine.connect() as connection:
        row = connection.execute(select(predictions).where(predictions.c.id == row_id)).mappings()
        return row_json(row.one())


def summary(items: Sequence[Item]) -> dict[str, Any]:
    """A list's answer: how many items of each status, and each item's result in order."""
    counts = {UPDATED: 0, NOT_FOUND: 0, INVALID: 0}
    for item in items:
        counts[item.status] += 1
    return {**counts, "results": [item.result() for item in items]}


def retry_not_found(
    engine: Engine, items: Sequence[Item], now: dt.datetime, wait: Callable[[], None]
) -> None:
    """Apply once more the items whose rows were not found, after ``wait`` (rows still queued)."""
    missing = [item for item in items if item.status == NOT_FOUND]
    if missing:
        wait()
        apply_feedback(engine, missing, now)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
