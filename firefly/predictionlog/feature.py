"""The prediction log as a feature: logged calls' wrappers, the writer, and the routes that read it.

Each worker opens its own engine and writer when it starts (after the fork),
creates or migrates the table if it can (else the writer does before its
first batch), and stops the writer when it stops, which writes what waits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import flask

from ..config import Config
from ..errors import BadRequestError, HTTPError, NotFoundError, PayloadTooLargeError
from ..features import Feature, Invoke, Route, Service
from ..protocol import decode_json
from ..registry import CallSpec, FunctionSpec
from ..routes.errors import error_response
from ..routes.openapi import service_operation
from .recorder import LoggedEndpoint, PredictionIds, logged_invoke

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from sqlalchemy.engine import Engine

    from .writer import Writer

logger = logging.getLogger("firefly")

#: Where the log goes when a function or model asks for it and ``prediction_log`` is unset.
DEFAULT_URL = "sqlite:///predictions.db"
FEEDBACK_PATH = "/-/feedback"
PREDICTIONS_PATH = "/-/predictions"
#: Seconds a read or a feedback waits for this worker's queued rows to be written.
WAIT_WRITTEN = 2.0


class PredictionLogFeature(Feature):
    """Logs the calls of the functions and models it is on for, and serves the log.

    :raises ConfigError: a database URL SQLAlchemy cannot read, or whose driver is missing.
    """

    def __init__(self, settings: Config):
        from .database import connect

        self.settings = settings
        self.url = settings.prediction_log or DEFAULT_URL
        connect(self.url).dispose()  # a bad URL or a missing driver fails now, in one line
        self.ids = PredictionIds()
        self._engine: Engine | None = None
        self._writer: Writer | None = None

    @property
    def engine(self) -> Engine:
        """This worker's engine; the feature must have started."""
        if self._engine is None:
            raise RuntimeError("the prediction log has not been started: prepare the app first")
        return self._engine

    @property
    def writer(self) -> Writer:
        """This worker's writer; the feature must have started."""
        if self._writer is None:
            raise RuntimeError("the prediction log has not been started: prepare the app first")
        return self._writer

    def logs(self, spec: CallSpec) -> bool:
        """Whether ``spec``'s calls are logged: its ``log`` option, else whether
        ``prediction_log`` is set."""
        option = spec.options.log if isinstance(spec, FunctionSpec) else spec.log
        return option if option is not None else self.settings.prediction_log is not None

    def routes(self) -> Sequence[Route]:
        """``POST /-/feedback``, ``GET /-/predictions`` and ``/-/dashboard``."""
        from .dashboard import dashboard_routes

        json_content = {"application/json": {"schema": {"type": "object"}}}
        feedback = service_operation("feedback", "Record outcomes of logged calls", json_content)
        feedback["requestBody"] = {"required": True, "content": json_content}
        listing = service_operation("predictions", "Read the prediction log", json_content)
        return (
            Route(FEEDBACK_PATH, "feedback", self.feedback, ("POST",), operation=feedback),
            Route(PREDICTIONS_PATH, "predictions", self.predictions, operation=listing),
            *dashboard_routes(lambda: self.engine),
        )

    def start(self, service: Service) -> None:
        """Open this worker's engine and writer, and create or migrate the table."""
        from sqlalchemy.exc import SQLAlchemyError

        from ..telemetry.metrics import MetricsFeature
        from .database import connect, prepare
        from .metrics import LogMetrics
        from .writer import Writer

        self.ids.reset()
        engine = self._engine = connect(self.url)
        metrics = next(
            (f.metrics for f in service.features if isinstance(f, MetricsFeature) and f.metrics),
            None,
        )
        report = LogMetrics(metrics.registry).report if metrics is not None else None
        try:
            prepare(engine)
            pending_prepare = None
        except SQLAlchemyError as error:
            logger.error(
                "prediction log: cannot prepare the table in %s (%s); calls are served and their"
                " rows wait until it can be",
                engine.url.render_as_string(),
                str(error).splitlines()[0],
            )
            pending_prepare = lambda: prepare(engine)  # noqa: E731
        self._writer = Writer(engine, self.settings.prediction_log_queue, report, pending_prepare)
        self._writer.start()

    def stop(self) -> None:
        """Write what waits, then close the engine."""
        if self._writer is not None:
            self._writer.stop()
        if self._engine is not None:
            self._engine.dispose()

    def wrap(self, spec: CallSpec, invoke: Invoke) -> Invoke:
        """The logged calls' invoke: it records the arguments and the result or error."""
        if not self.logs(spec):
            return invoke
        argument = spec.options.observation_id if isinstance(spec, FunctionSpec) else None
        return logged_invoke(spec, invoke, self.logged_before, argument)

    def wrap_endpoint(
        self, specs: Sequence[CallSpec], endpoint: WSGIApplication
    ) -> WSGIApplication:
        """The logged calls' endpoint: it gives each its prediction id and queues its row."""
        logged = [spec for spec in specs if self.logs(spec)]
        if not logged:
            return endpoint
        sample = self.settings.prediction_log_sample
        return LoggedEndpoint(endpoint, logged[0], self.writer.put, self.ids, sample)

    def health_entries(self) -> dict[str, Any]:
        """``prediction_log`` in the health checks: the rows waiting and whether the database
        takes them."""
        writer = self._writer
        if writer is None:
            return {}
        return {"prediction_log": {"queue": writer.depth, "database_available": writer.available}}

    def logged_before(self, function: str, observation_id: str) -> bool:
        """Whether ``function`` logged ``observation_id`` before: queued here, or in the database.

        While the database is down only the queue is asked; the writer drops (and
        counts) a row whose observation id the database turns out to hold.
        """
        from sqlalchemy import and_, select
        from sqlalchemy.exc import SQLAlchemyError

        from .table import predictions

        writer = self.writer
        if (function, observation_id) in writer.pending:
            return True
        if not writer.available:
            return False
        query = (
            select(predictions.c.id)
            .where(
                and_(
                    predictions.c.function == function,
                    predictions.c.observation_id == observation_id,
                )
            )
            .limit(1)
        )
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first() is not None
        except SQLAlchemyError:
            return False

    def feedback(self) -> flask.Response:
        """``POST /-/feedback``: one item (its row, or 404) or a list (a result per item)."""
        from .feedback import (
            MAX_ITEMS,
            apply_feedback,
            parse_item,
            read_row,
            retry_not_found,
            summary,
        )

        try:
            body = decode_json(flask.request.get_data())
            if isinstance(body, list) and len(body) > MAX_ITEMS:
                raise PayloadTooLargeError(
                    f"at most {MAX_ITEMS} items per request, got {len(body)}"
                )
            if not isinstance(body, (list, dict)):
                raise BadRequestError("expected an object, or an array of objects")
        except HTTPError as error:
            return error_response(error)
        items = (
            [parse_item(value) for value in body] if isinstance(body, list) else [parse_item(body)]
        )
        if isinstance(body, dict) and items[0].error is not None:
            return error_response(BadRequestError(f"feedback: {items[0].error}"))
        self._wait_written()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        apply_feedback(self.engine, items, now)
        retry_not_found(self.engine, items, now, lambda: self._wait_written(settle=True))
        if isinstance(body, list):
            return flask.jsonify(summary(items))
        item = items[0]
        if not item.rows:
            where = (
                f"prediction id {item.prediction_id!r}"
                if item.prediction_id is not None
                else f"observation id {item.observation_id!r} of {item.function!r}"
            )
            return error_response(NotFoundError(f"no logged call has {where}"))
        if len(item.rows) == 1:
            return flask.jsonify(read_row(self.engine, item.rows[0]))
        return flask.jsonify({"updated": [read_row(self.engine, row) for row in item.rows]})

    def predictions(self) -> flask.Response:
        """``GET /-/predictions``: a page of rows, newest last, and the next page's cursor."""
        from .queries import MAX_LIMIT, Filters, read_page, row_json

        args = flask.request.args
        try:
            filters = Filters.parse(args)
            cursor = _integer(args.get("cursor"), "cursor", 1, None)
            limit = _integer(args.get("limit"), "limit", 1, MAX_LIMIT) or 100
            order = args.get("order", "asc")
            if order not in ("asc", "desc"):
                raise ValueError(f"order: expected asc or desc, got {order!r}")
        except ValueError as error:
            return error_response(BadRequestError(str(error)))
        self._wait_written()
        with self.engine.connect() as connection:
            rows, next_cursor = read_page(connection, filters, cursor, limit, order == "desc")
        return flask.jsonify(
            {
                "predictions": [row_json(row) for row in rows],
                "next_cursor": None if next_cursor is None else str(next_cursor),
            }
        )

    def _wait_written(self, settle: bool = False) -> None:
        """Let this worker's queued rows reach the database, so that a reader sees its calls.

        :param settle: also wait two batch intervals, for the rows other workers queued.
        """
        import time

        writer = self.writer
        if writer.depth:
            writer.wait_written(WAIT_WRITTEN)
        if settle:
            time.sleep(2 * writer.interval)


def _integer(value: str | None, name: str, minimum: int, maximum: int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"of {minimum} or more"
        raise ValueError(f"{name}: expected an integer {bound}, got {value!r}")
    return number
