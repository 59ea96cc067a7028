"""The executions' numbers in ``/-/metrics``: by function and status, the queue, the run times.

They live on the app's metrics registry, summed over the workers like the
request metrics. The queue depth is the backend's own count, the same from
every worker, so its multiprocess value is the largest one seen, not a sum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..telemetry.metrics import Metrics, observe_all

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class ExecutionMetrics:
    """Counts executions as they are queued, finish or are cancelled; times those that ran."""

    def __init__(self, registry: CollectorRegistry):
        from prometheus_client import Counter, Gauge, Histogram

        self._executions = Counter(
            "firefly_executions",
            "Executions by function and status: queued when submitted, then the status each"
            " ended with (succeeded, failed, cancelled).",
            ["function", "status"],
            registry=registry,
        )
        self._queued = Gauge(
            "firefly_executions_queued",
            "Executions waiting for a worker.",
            registry=registry,
            multiprocess_mode="max",
        )
        self._durations = Histogram(
            "firefly_execution_duration_seconds",
            "Time executions ran, by function.",
            ["function"],
            buckets=(*Metrics.buckets, 60.0, 300.0, 900.0, 3600.0),
            registry=registry,
        )
        self._bounds = (*self._durations._upper_bounds,)

    def counted(self, function: str, status: str) -> None:
        """One more execution of ``function`` reached ``status``."""
        self._executions.labels(function, status).inc()

    def finished(self, function: str, status: str, seconds: float) -> None:
        """An execution ended with ``status`` after running ``seconds``."""
        self.counted(function, status)
        if seconds:
            observe_all(self._durations.labels(function), self._bounds, [seconds])

    def queue_depth(self, depth: int) -> None:
        """The executions waiting, as the backend counted them."""
        self._queued.set(depth)
