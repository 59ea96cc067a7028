"""The prediction log's counters in ``/-/metrics``: rows written, dropped and failed, and waiting.

They live on the app's metrics registry, so that with several workers they
are summed like the request metrics (prometheus-client's multiprocess files).
The writer's thread updates them after each batch, never a request's thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .writer import WriterCounts

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: Why rows are dropped (the ``reason`` label), each shown from the first scrape.
DROP_REASONS = ("queue_full", "duplicate", "stopped", "unwritable")


class LogMetrics:
    """The counters of one worker's writer, on ``registry``."""

    def __init__(self, registry: CollectorRegistry):
        from prometheus_client import Counter, Gauge

        self._written = Counter(
            "firefly_prediction_log_written",
            "Rows written to the prediction log.",
            registry=registry,
        )
        self._dropped = Counter(
            "firefly_prediction_log_dropped",
            "Rows of logged calls never written, by reason: queue_full (the database was too"
            " slow or down for too long), duplicate (an observation id logged before), stopped"
            " (the database was down when the worker stopped), unwritable (refused by the"
            " database).",
            ["reason"],
            registry=registry,
        )
        self._failed = Counter(
            "firefly_prediction_log_failed",
            "Batches the database refused or could not take; their rows wait and are retried.",
            registry=registry,
        )
        self._depth = Gauge(
            "firefly_prediction_log_queue_depth",
            "Rows waiting to be written to the prediction log.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._dropped_by_reason = {reason: self._dropped.labels(reason) for reason in DROP_REASONS}
        self._reported = WriterCounts()

    def report(self, counts: WriterCounts, depth: int) -> None:
        """Add what the writer did since the last report (its running totals are ``counts``)."""
        reported = self._reported
        if counts.written > reported.written:
            self._written.inc(counts.written - reported.written)
            reported.written = counts.written
        if counts.failed > reported.failed:
            self._failed.inc(counts.failed - reported.failed)
            reported.failed = counts.failed
        for reason, total in counts.dropped.items():
            if total > reported.dropped[reason]:
                counter = self._dropped_by_reason.get(reason) or self._dropped.labels(reason)
                counter.inc(total - reported.dropped[reason])
                reported.dropped[reason] = total
        self._depth.set(depth)
