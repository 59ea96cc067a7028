"""The embedded backend's table operations: each a short transaction, safe from any worker.

Taking executions (:meth:`ExecutionStore.claim`) is the one race between
workers: on PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so
that two workers take different ones; on SQLite the write transaction
(``BEGIN IMMEDIATE``) lets one worker at a time in. A worker writes the end
of an execution only while it still holds it (:meth:`ExecutionStore.finish`):
once its lease has expired and another worker took the execution again, its
late answer is dropped.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from ..database import WRITE
from .model import FAILED, FINISHED, QUEUED, RUNNING, Execution, NotQueuedError, utcnow
from .table import executions

#: What a worker lost (its process killed, its machine gone) says of its executions.
WORKER_LOST = "worker lost: the worker running it stopped before it finished"


@dataclass(frozen=True)
class Claimed:
    """An execution a worker has taken: what it needs to run it."""

    id: str
    function: str
    arguments: Mapping[str, Any]
    timeout: float


def execution(row: RowMapping) -> Execution:
    """A row as an :class:`Execution`."""
    return Execution(
        id=row["id"],
        function=row["function"],
        arguments=row["arguments"] or {},
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        error=row["error"],
    )


class ExecutionStore:
    """The executions in one database."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def insert(
        self,
        function: str,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
        timeout: float,
        max_attempts: int,
    ) -> tuple[Execution, bool]:
        """A new queued execution, or the one ``idempotency_key`` gave before; whether it is new."""
        execution_id, created_at = uuid.uuid4().hex, utcnow()
        values = {
            "id": execution_id,
            "function": function,
            "arguments": dict(arguments),
            "status": QUEUED,
            "attempts": 0,
            "max_attempts": max_attempts,
            "timeout": timeout,
            "idempotency_key": idempotency_key,
            "created_at": created_at,
        }
        try:
            with self.engine.connect().execution_options(**WRITE) as connection:
                with connection.begin():
                    connection.execute(executions.insert(), values)
        except IntegrityError:
            if idempotency_key is None:
                raise
            found = self._by_idempotency_key(function, idempotency_key)
            if found is None:  # purged between the two statements: it can be made again
                return self.insert(function, arguments, idempotency_key, timeout, max_attempts)
            return found, False
        created = Execution(execution_id, function, dict(arguments), QUEUED, 0, created_at)
        return created, True

    def _by_idempotency_key(self, function: str, key: str) -> Execution | None:
        query = select(executions).where(
            and_(executions.c.function == function, executions.c.idempotency_key == key)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else execution(row)

    def get(self, execution_id: str) -> Execution | None:
        """The execution ``execution_id``, or None."""
        with self.engine.connect() as connection:
            query = select(executions).where(executions.c.id == execution_id)
            row = connection.execute(query).mappings().first()
        return None if row is None else execution(row)

    def page(
        self, function: str | None, status: str | None, cursor: int | None, limit: int
    ) -> tuple[list[Execution], int | None]:
        """Executions newest first, filtered, after ``cursor``; the next page's cursor."""
        table = executions.c
        conditions = []
        if function is not None:
            conditions.append(table.function == function)
        if status is not None:
            conditions.append(table.status == status)
        if cursor is not None:
            conditions.append(table.seq < cursor)
        query = select(executions).where(and_(True, *conditions))
        query = query.order_by(table.seq.desc()).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = list(connection.execute(query).mappings())
        found = [execution(row) for row in rows[:limit]]
        return found, rows[limit - 1]["seq"] if len(rows) > limit else None

    def cancel(self, execution_id: str) -> Execution | None:
        """Cancel ``execution_id`` if it is queued; None when unknown.

        :raises NotQueuedError: it is running or finished.
        """
        now = utcnow()
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            cancelled = connection.execute(
                update(executions)
                .where(and_(executions.c.id == execution_id, executions.c.status == QUEUED))
                .values(status="cancelled", finished_at=now)
            ).rowcount
        found = self.get(execution_id)
        if found is not None and not cancelled:
            raise NotQueuedError(found)
        return found

    def count_queued(self) -> int:
        """How many executions wait for a worker."""
        query = select(func.count()).select_from(executions).where(executions.c.status == QUEUED)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def claim(self, worker: str, limit: int, lease: float) -> list[Claimed]:
        """Take up to ``limit`` queued executions, oldest first, for ``worker``, leased for
        ``lease`` seconds."""
        table = executions.c
        now = utcnow()
        oldest = (
            select(table.seq)
            .where(table.status == QUEUED)
            .order_by(table.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            taken = [row.seq for row in connection.execute(oldest)]
            if not taken:
                return []
            connection.execute(
                update(executions)
                .where(table.seq.in_(taken))
                .values(
                    status=RUNNING,
                    attempts=table.attempts + 1,
                    started_at=now,
                    lease_until=now + dt.timedelta(seconds=lease),
                    worker=worker,
                )
            )
            rows = connection.execute(
                select(table.id, table.function, table.arguments, table.timeout)
                .where(table.seq.in_(taken))
                .order_by(table.seq)
            )
            return [Claimed(row.id, row.function, row.arguments or {}, row.timeout) for row in rows]

    def renew(self, worker: str, execution_ids: Sequence[str], lease: float) -> None:
        """Extend the lease of ``worker``'s running executions."""
        if not execution_ids:
            return
        table = executions.c
        until = utcnow() + dt.timedelta(seconds=lease)
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            connection.execute(
                update(executions)
                .where(
                    and_(
                        table.id.in_(list(execution_ids)),
                        table.worker == worker,
                        table.status == RUNNING,
                    )
                )
                .values(lease_until=until)
            )

    def finish(
        self, execution_id: str, worker: str, status: str, result: Any, error: str | None
    ) -> bool:
        """Record the end of an execution ``worker`` holds; False when it holds it no more."""
        assert status in FINISHED
        table = executions.c
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            return bool(
                connection.execute(
                    update(executions)
                    .where(
                        and_(
                            table.id == execution_id,
                            table.worker == worker,
                            table.status == RUNNING,
                        )
                    )
                    .values(
                        status=status,
                        result=result,
                        error=error,
                        finished_at=utcnow(),
                        lease_until=None,
                    )
                ).rowcount
            )

    def release(self, worker: str, execution_ids: Sequence[str]) -> int:
        """Put ``worker``'s running executions back in the queue, their attempt not counted
        (a graceful stop that could not wait for them)."""
        if not execution_ids:
            return 0
        table = executions.c
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            return connection.execute(
                update(executions)
                .where(
                    and_(
                        table.id.in_(list(execution_ids)),
                        table.worker == worker,
                        table.status == RUNNING,
                    )
                )
                .values(
                    status=QUEUED,
                    attempts=table.attempts - 1,
                    started_at=None,
                    lease_until=None,
                    worker=None,
                )
            ).rowcount

    def recover(self) -> tuple[list[str], list[str]]:
        """Executions whose lease expired (their worker died): queued again while attempts are
        left, else failed as :data:`WORKER_LOST`. The functions of each, one per execution."""
        table = executions.c
        now = utcnow()
        expired = select(table.seq, table.function, table.attempts, table.max_attempts).where(
            and_(table.status == RUNNING, table.lease_until < now)
        )
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            rows = list(connection.execute(expired.with_for_update(skip_locked=True)))
            retried = [row for row in rows if row.attempts < row.max_attempts]
            lost = [row for row in rows if row.attempts >= row.max_attempts]
            if retried:
                connection.execute(
                    update(executions)
                    .where(table.seq.in_([row.seq for row in retried]))
                    .values(status=QUEUED, started_at=None, lease_until=None, worker=None)
                )
            if lost:
                connection.execute(
                    update(executions)
                    .where(table.seq.in_([row.seq for row in lost]))
                    .values(status=FAILED, error=WORKER_LOST, finished_at=now, lease_until=None)
                )
        return [row.function for row in retried], [row.function for row in lost]

    def purge(self, retention: float) -> int:
        """Delete the executions that finished more than ``retention`` seconds ago."""
        before = utcnow() - dt.timedelta(seconds=retention)
        table = executions.c
        with self.engine.connect().execution_options(**WRITE) as connection, connection.begin():
            return connection.execute(
                delete(executions).where(
                    and_(table.status.in_(sorted(FINISHED)), table.finished_at < before)
                )
            ).rowcount
