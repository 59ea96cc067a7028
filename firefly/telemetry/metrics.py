"""Prometheus metrics of the requests an app serves, for ``GET /-/metrics``.

:class:`Metrics` observes every request (it is a
:class:`~firefly.telemetry.RequestObserver`) and renders the Prometheus text
format. With several gunicorn workers each worker counts its own requests, so
the numbers are shared through prometheus-client's multiprocess mode: every
process writes its values to memory-mapped files in the directory named by
``PROMETHEUS_MULTIPROC_DIR`` and a scrape, whichever worker answers it, sums
the files of all of them.

The request's thread only queues what happened (:mod:`~firefly.telemetry.batch`):
every few milliseconds a thread adds the requests gathered to the values, one
update per value however many requests changed it, since each update of a
multiprocess value takes a lock and writes a file. A scrape first adds what
its own worker has gathered; another worker's last few milliseconds of
requests show in the next scrape.

prometheus-client chooses between in-process and multiprocess values once,
when it is first imported, from that variable. This module therefore imports
it only when a :class:`Metrics` is built, after the ``firefly`` command has
called :func:`prepare_multiprocess_directory`, and keeps ``import firefly``
light.
"""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import flask

from ..config import Config
from ..errors import ConfigError
from ..features import Feature, Route, Service
from ..routes.openapi import service_operation
from .batch import Batcher

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from .observer import RequestObserver, RequestRecord

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/-/metrics"
METRICS_CONTENT_TYPE = "text/plain"
NO_FUNCTION = ""


class MetricsFeature(Feature):
    """Counts and times every request, and serves the numbers at ``GET /-/metrics``.

    The :class:`Metrics` are made when a worker starts, after the ``firefly``
    command has prepared the multiprocess directory.
    """

    def __init__(self, settings: Config):
        self.settings = settings
        self.metrics: Metrics | None = None

    def routes(self) -> Sequence[Route]:
        """``GET /-/metrics``; with a token set, it needs it unless ``token_for_metrics`` is off."""
        content = {METRICS_CONTENT_TYPE: {"schema": {"type": "string"}}}
        operation = service_operation("metrics", "Prometheus metrics", content)
        public = not self.settings.token_for_metrics
        return (Route(METRICS_PATH, "metrics", self.serve, public=public, operation=operation),)

    def start(self, service: Service) -> None:
        """Make the metrics, with a histogram ready for every function served."""
        self.metrics = Metrics(function.spec.name for function in service.functions)

    def observer(self) -> RequestObserver | None:
        """The metrics: they count every finished request."""
        return self.metrics

    def stop(self) -> None:
        """Add the requests still queued to the values, and stop adding in the background."""
        if self.metrics is not None:
            self.metrics.close()

    def serve(self) -> flask.Response:
        """``GET /-/metrics``: the Prometheus text format, or OpenMetrics when asked for."""
        if self.metrics is None:
            raise RuntimeError("the metrics feature has not been started: prepare the app first")
        body, content_type = self.metrics.render(flask.request.headers.get("Accept"))
        return flask.Response(body, 200, content_type=content_type)


class Metrics:
    """The request metrics of one app, on a registry of its own.

    :param function_names: the functions the app serves; their label values
        are created at start-up so that every function shows in the first
        scrape and the request path finds them ready.

    In multiprocess mode (prometheus-client imported with
    ``PROMETHEUS_MULTIPROC_DIR`` set) the values go to that directory and
    :meth:`render` reports the sum over every process writing there.
    """

    #: Upper bounds of the latency histogram, in seconds: fine below 10 ms, where
    #: most function calls end (a small one takes 0.1 ms), up to gunicorn's 30 s timeout.
    buckets: tuple[float, ...] = (
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
        30.0,
    )

    def __init__(self, function_names: Iterable[str]):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess: bool = multiprocess_mode()
        self.registry = CollectorRegistry()
        self._scraped_registry = self._registry_to_scrape()
        self._requests: Counter = Counter(
            "firefly_requests",
            "Requests answered, by function called and HTTP status.",
            ["function", "status"],
            registry=self.registry,
        )
        self._durations: Histogram = Histogram(
            "firefly_request_duration_seconds",
            "Time spent answering requests, by function called.",
            ["function"],
            buckets=self.buckets,
            registry=self.registry,
        )
        self._in_progress: Gauge = Gauge(
            "firefly_requests_in_progress",
            "Requests being answered right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._exceptions: Counter = Counter(
            "firefly_exceptions",
            "Exceptions raised by the functions, by function and exception type.",
            ["function", "type"],
            registry=self.registry,
        )
        self._request_counters: dict[tuple[str, int], Counter] = {}
        self._exception_counters: dict[tuple[str, str], Counter] = {}
        self._histograms = {
            name: self._durations.labels(name) for name in (NO_FUNCTION, *function_names)
        }
        self._bounds = (*self.buckets, float("inf"))
        self._running = 0  # requests of this process in progress, as last added
        #: None for a request that arrived, its record once it is answered.
        self._batcher: Batcher[RequestRecord | None] = Batcher(self._add, "firefly-metrics")

    def _registry_to_scrape(self) -> CollectorRegistry:
        if not self.multiprocess:
            return self.registry
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
        if not directory or not os.path.isdir(directory):
            raise ConfigError(
                f"prometheus-client is in multiprocess mode but {MULTIPROCESS_DIRECTORY_VARIABLE}"
                f"={directory!r} is not a directory; set it to an empty directory before starting"
            )
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return registry

    def request_started(self) -> None:
        """A request has arrived: one more in progress, at the next batch."""
        self._batcher.add(None)

    def request_finished(self, record: RequestRecord) -> None:
        """A request has been answered: counted and timed at the next batch."""
        self._batcher.add(record)

    def flush(self) -> None:
        """Add what this process has queued to the values now (a scrape, a worker's exit)."""
        self._batcher.flush()

    def close(self) -> None:
        """Add what is queued, then stop the thread that adds (a scrape still adds its own)."""
        self._batcher.stop()

    def _add(self, batch: list[RequestRecord | None]) -> None:
        """Add a batch of arrivals and answers to the values: one update per value changed."""
        arrived, requests, exceptions = 0, Tally[tuple[str, int]](), Tally[tuple[str, str]]()
        durations: dict[str, list[float]] = {}
        for record in batch:
            if record is None:
                arrived += 1
                continue
            function = record.function or NO_FUNCTION
            requests[function, record.status] += 1
            durations.setdefault(function, []).append(record.duration)
            if record.exception is not None:
                exceptions[function, record.exception] += 1
        if arrived != sum(requests.values()):
            self._running += arrived - sum(requests.values())
            self._in_progress.set(self._running)
        for (function, status), count in requests.items():
            counter = self._request_counters.get((function, status))
            if counter is None:
                counter = self._request_counter(function, status)
            counter.inc(count)
        for function, observed in durations.items():
            histogram = self._histograms.get(function)
            if histogram is None:
                histogram = self._histograms[function] = self._durations.labels(function)
            observe_all(histogram, self._bounds, observed)
        for (function, exception), count in exceptions.items():
            self._exception_counter(function, exception).inc(count)

    def _request_counter(self, function: str, status: int) -> Counter:
        counter = self._requests.labels(function, str(status))
        self._request_counters[function, status] = counter
        return counter

    def _exception_counter(self, function: str, exception: str) -> Counter:
        counter = self._exception_counters.get((function, exception))
        if counter is None:
            counter = self._exception_counters[function, exception] = self._exceptions.labels(
                function, exception
            )
        return counter

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The body and content type answering a scrape with this ``Accept`` header.

        The Prometheus text format, or OpenMetrics when the scraper asks for it.
        """
        from prometheus_client.exposition import choose_encoder

        self.flush()
        encode, content_type = choose_encoder(accept or "")
        return encode(self._scraped_registry), content_type


def observe_all(histogram: Histogram, bounds: Sequence[float], observed: Sequence[float]) -> None:
    """``histogram.observe`` of each of ``observed``, with one update of its sum and each bucket.

    prometheus-client observes one value at a time, updating the sum and a
    bucket for each; this updates its sum and buckets (``_sum``, ``_buckets``,
    in the order of ``bounds``) as those calls would, once each. A test pins
    that the scrape is the same.
    """
    child: Any = histogram
    child._sum.inc(sum(observed))
    for bucket, count in Tally(bisect.bisect_left(bounds, value) for value in observed).items():
        child._buckets[bucket].inc(count)


def multiprocess_mode() -> bool:
    """Whether prometheus-client keeps its values in multiprocess files.

    The values in use decide, not the variable: prometheus-client may have been
    imported before the variable was set, and then counts in-process. It has no
    public flag for this; its in-process value class is public, and any other
    one is the multiprocess value class (a test pins this).
    """
    from prometheus_client import values

    return values.ValueClass is not values.MutexValue


def prepare_multiprocess_directory() -> str:
    """Create an empty directory for the metrics of every worker and name it in the environment.

    Call it before anything imports prometheus-client and before the workers
    fork, so that they all share the directory; :func:`remove_multiprocess_directory`
    removes it at exit.
    """
    directory = tempfile.mkdtemp(prefix="firefly-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = directory
    return directory


def remove_multiprocess_directory(directory: str) -> None:
    """Remove a directory made by :func:`prepare_multiprocess_directory`, and its variable."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE) == directory:
        del os.environ[MULTIPROCESS_DIRECTORY_VARIABLE]
    shutil.rmtree(directory, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Forget the in-progress requests of a worker that has exited (gunicorn's ``child_exit``).

    Its counts stay: they are part of the totals.
    """
    directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)
