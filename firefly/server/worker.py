"""Firefly's gunicorn worker: slow clients hold no thread, overload and timeouts answer at once.

The main thread of each worker runs an event loop that accepts connections
and reads every request in full (headers and body, framed by
:mod:`.framing`) before a thread sees it. Its threads (``--threads``, 1 by
default) only ever run complete requests, so a client that sends its request
byte by byte, or stops halfway, costs a connection and its buffer, never a
thread, and is cut after ``read_timeout`` with a 408. Complete requests wait
in a queue of at most ``max_waiting``; past it they get 503 with
``Retry-After`` at once. The loop watches each running call: at ``timeout``
its caller gets 504 and a fresh thread takes the abandoned one's place; a
worker with as many abandoned calls still running as it has threads
restarts gracefully. On SIGTERM, ``/-/ready`` answers 503 at once; after
``shutdown_delay`` seconds the worker stops accepting, answers what it has
accepted, and exits. Use it with gunicorn directly as
``gunicorn -k firefly.server.worker.FireflyWorker firefly.main:app``.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import queue
import selectors
import threading
import time
from typing import Any

from gunicorn.workers import base

from ..config import Config
from ..errors import CallTimeoutError, ServiceUnavailableError, error_for_status
from ..protocol import ABANDONED_KEY, FUNCTION_KEY, too_large_error
from .answers import PLAIN_SERVER_ERROR_APP, error_environ, render
from .connection import Connection, Job, client_left, get_path
from .framing import Frame, Limits, frame
from .runner import RequestRunner

RETRY_AFTER = "1"  #: seconds a client told 503 should wait
SWEEP_INTERVAL = 0.1  #: seconds between checks of read deadlines and running calls
STOP_LINGER = 1.0  #: seconds an idle connection stays open once the worker stops
WAITED_LONG = 0.05  #: seconds in the queue after which a request whose client left is dropped
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class FireflyWorker(base.Worker):
    """A gunicorn worker class; see the module documentation."""

    def init_process(self) -> None:
        self.poller = selectors.DefaultSelector()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.returned: queue.SimpleQueue[tuple[Connection, bool]] = queue.SimpleQueue()
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.running: dict[Job, None] = {}
        self.connections: set[Connection] = set()
        self.accepting = False
        self.abandoned = 0  #: calls answered 504 whose threads still run them
        self.abandoned_lock = threading.Lock()
        self.stop_at: float | None = None  #: when SIGTERM's delay ends
        # Until load_wsgi has read the settings, a SIGTERM (a reload that replaces a worker
        # still loading its app) stops the worker at once rather than failing inside the load.
        self.wsgi = None
        self.shutdown_delay = 0.0
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        settings = getattr(self.wsgi, "settings", None)
        if not isinstance(settings, Config):  # another WSGI app: the defaults of the settings
            settings = Config()
        self.read_timeout = settings.read_timeout
        self.max_waiting = settings.max_waiting
        self.shutdown_delay = settings.shutdown_delay
        self.error_app = getattr(self.wsgi, "server_error_app", PLAIN_SERVER_ERROR_APP)
        paths = getattr(self.wsgi, "immediate_paths", ())
        self.immediate = frozenset(path.encode("latin-1") for path in paths)
        self.runner = RequestRunner(
            self.cfg, self.log, self.wsgi, self.error_app, self.read_timeout, self.count_request
        )
        cfg = self.cfg
        self.limits = Limits(
            line=cfg.limit_request_line or 8190,
            headers=(cfg.limit_request_fields + 1) * (cfg.limit_request_field_size + 2),
            body=settings.max_content_length,
        )

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: ``/-/ready`` answers 503 at once; then stop after ``shutdown_delay`` s."""
        if self.stop_at is None:
            self.stop_at = time.monotonic() + self.shutdown_delay
            health = getattr(self.wsgi, "health", None)
            if health is not None:
                health.stop()
        if self.shutdown_delay <= 0:
            self.alive = False

    # The event loop (main thread) ------------------------------------------

    def run(self) -> None:
        prepare = getattr(self.wsgi, "prepare", None)
        if prepare is not None:
            prepare()  # a Firefly app: features started and warm-up begun before the first request
        gc.freeze()  # what is loaded stays: the collector's full passes need not walk it
        for fd in (self.PIPE[0], self.wake_read):
            self.poller.register(fd, selectors.EVENT_READ, self.drain_wakeups)
        for _ in range(self.cfg.threads):
            self.start_thread()
        self.set_accepting(True)
        next_sweep = 0.0
        while self.alive:
            self.set_accepting(len(self.connections) < self.cfg.worker_connections)
            self.wait(SWEEP_INTERVAL)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + SWEEP_INTERVAL
                self.sweep(now)
                self.notify()
                if self.stop_at is not None and now >= self.stop_at:
                    self.alive = False
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
        self.stop()

    def stop(self) -> None:
        """Stop accepting; answer what was accepted, within the graceful timeout; close."""
        self.alive = False
        self.set_accepting(False)
        for listener in self.sockets:
            listener.close()
        now = time.monotonic()
        deadline = now + self.cfg.graceful_timeout
        for connection in self.connections:
            if not connection.reading:
                connection.deadline = min(connection.deadline, now + STOP_LINGER)
        while self.connections and time.monotonic() < deadline:
            self.notify()
            self.wait(SWEEP_INTERVAL)
            self.sweep(time.monotonic())
        for connection in list(self.connections):
            self.close(connection)
        for _ in range(self.cfg.threads):
            self.jobs.put(None)

    def wait(self, timeout: float) -> None:
        try:
            events = self.poller.select(timeout)
        except InterruptedError:
            return
        for key, _ in events:
            if isinstance(key.data, Connection):
                self.read(key.data)
            else:
                key.data(key.fileobj)

    def set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting or (accepting and not self.alive):
            return
        for listener in self.sockets:
            if accepting:
                listener.setblocking(False)
                self.poller.register(listener, selectors.EVENT_READ, self.accept)
            else:
                self.poller.unregister(listener)
        self.accepting = accepting

    def accept(self, listener: Any) -> None:
        """Accept every connection waiting, up to the worker's limit."""
        while len(self.connections) < self.cfg.worker_connections:
            try:
                sock, client = listener.accept()
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    return
                raise
            sock.setblocking(False)
            deadline = time.monotonic() + self.read_timeout
            connection = Connection(sock, client, listener.getsockname(), deadline)
            self.connections.add(connection)
            self.poller.register(sock, selectors.EVENT_READ, connection)

    def read(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left
            self.close(connection)
            return
        if not connection.reading:  # the headers are due within the read timeout of their start
            connection.reading = True
            connection.started = time.perf_counter()
            connection.deadline = time.monotonic() + self.read_timeout
        connection.buffer += data
        self.advance(connection)

    def advance(self, connection: Connection) -> None:
        """Hand the connection's next request on if it is all there; else keep reading it."""
        buffer = connection.buffer
        if connection.expected and len(buffer) < connection.expected:  # more of a known body
            connection.deadline = time.monotonic() + self.read_timeout
            return
        found = frame(buffer, self.limits)
        if not isinstance(found, Frame):
            connection.expected = found.end
            if found.expects_continue and not connection.continued:
                connection.continued = True
                self.send_now(connection, _CONTINUE)
            if found.headers_done:  # the body is due within the read timeout of each read
                connection.deadline = time.monotonic() + self.read_timeout
            return
        data = bytes(buffer[: found.end])
        del buffer[: found.end]
        connection.expected = 0
        connection.reading = bool(buffer)
        self.poller.unregister(connection.sock)
        job = Job(connection, data, found.complete)
        if found.too_large:
            self.refuse(job, too_large_error(self.limits.body))
        elif self.immediate and get_path(data) in self.immediate:
            self.run_now(job)
        elif self.jobs.qsize() >= self.max_waiting:
            busy = ServiceUnavailableError("the server is busy: too many requests are waiting")
            self.refuse(job, busy, [("Retry-After", RETRY_AFTER)])
        else:
            self.jobs.put(job)

    def run_now(self, job: Job) -> None:
        """Serve a request that answers at once (a health check) here, ahead of the queue."""
        job.state = "running"
        self.give_back(job.connection, self.runner.run(job))

    def refuse(self, job: Job, error: Any, headers: list[tuple[str, str]] | None = None) -> None:
        """Answer ``job`` with ``error`` from the event loop, and close its connection."""
        connection = job.connection
        environ = error_environ(job.data, connection.client)
        answer = render(self.error_app, environ, error, job.arrived, headers)
        self.send_now(connection, answer)
        self.close(connection)

    def send_now(self, connection: Connection, data: bytes) -> None:
        """Send without blocking the loop; a client that cannot take it loses the connection."""
        try:
            sent = connection.sock.send(data)
        except OSError:
            sent = 0
        if sent < len(data):
            self.close(connection)

    def close(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            # not registered while a thread has it
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(connection.sock)
        connection.close()

    def drain_wakeups(self, fd: int) -> None:
        """Take back the connections the threads are done with (and wake on signals)."""
        with contextlib.suppress(OSError):  # nothing to drain
            os.read(fd, 4096)
        while True:
            try:
                connection, keep = self.returned.get_nowait()
            except queue.Empty:
                return
            if not keep or connection not in self.connections:
                self.close(connection)
                continue
            connection.continued = False
            now = time.monotonic()
            connection.deadline = now + (
                self.read_timeout if connection.reading else self.cfg.keepalive
            )
            if not self.alive:
                connection.deadline = min(connection.deadline, now + STOP_LINGER)
            self.poller.register(connection.sock, selectors.EVENT_READ, connection)
            if connection.buffer:  # the next request came with the last one
                self.advance(connection)

    def sweep(self, now: float) -> None:
        """Cut clients past their read deadline; answer 504 for calls past the timeout."""
        for connection in [c for c in self.connections if c.deadline <= now]:
            try:
                key = self.poller.get_key(connection.sock)
            except (KeyError, ValueError):
                continue  # a thread has it
            if key.data is connection:
                self.cut(connection)
        limit = self.cfg.timeout
        for job in list(self.running):
            if job.started and now - job.started >= limit and job.claim("timed out"):
                self.time_out(job)

    def cut(self, connection: Connection) -> None:
        """A client too slow to send its request: 408 if it had started one, then close."""
        if connection.reading:
            error = error_for_status(
                408, f"the request was not received within {self.read_timeout:g} s"
            )
            environ = error_environ(bytes(connection.buffer[:8192]), connection.client)
            self.send_now(connection, render(self.error_app, environ, error, connection.started))
        self.close(connection)

    def time_out(self, job: Job) -> None:
        """Answer 504 for a call past the timeout; a new thread takes its thread's place."""
        environ = job.environ or {}
        environ[ABANDONED_KEY] = True
        function = environ.get(FUNCTION_KEY)
        if function:
            name = f"function {function!r}"
        else:
            name = f"{environ.get('REQUEST_METHOD', '-')} {environ.get('PATH_INFO', '-')}"
        error = CallTimeoutError.for_call(name, self.cfg.timeout)
        answer = render(
            self.error_app,
            error_environ(job.data, job.connection.client, job.environ),
            error,
            job.arrived,
        )
        self.send_now(job.connection, answer)
        self.close(job.connection)
        with self.abandoned_lock:
            self.abandoned += 1
            abandoned = self.abandoned
        self.log.warning("%s ran past the %s s timeout: answered 504", name, self.cfg.timeout)
        self.start_thread()
        if abandoned >= self.cfg.threads and self.alive:
            self.log.warning(
                "%d calls past the timeout still running: restarting the worker", abandoned
            )
            self.alive = False

    # The threads ----------------------------------------------------------

    def start_thread(self) -> None:
        threading.Thread(target=self.serve_jobs, daemon=True, name="firefly-call").start()

    def serve_jobs(self) -> None:
        """A thread's life: run complete requests until told to stop, or abandoned."""
        while True:
            job = self.jobs.get()
            if job is None:
                return
            connection = job.connection
            if time.monotonic() - job.queued > WAITED_LONG and client_left(connection.sock):
                self.give_back(connection, False)
                continue
            job.state = "running"
            job.started = time.monotonic()
            self.running[job] = None
            try:
                keep = self.runner.run(job)
            finally:
                self.running.pop(job, None)
            if job.state == "timed out":
                with self.abandoned_lock:
                    self.abandoned -= 1
                return  # a replacement thread took this one's place
            self.give_back(connection, keep)

    def count_request(self) -> bool:
        """One more request reaches the app; False once the worker is stopping."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        return self.alive

    def give_back(self, connection: Connection, keep: bool) -> None:
        self.returned.put((connection, keep))
        with contextlib.suppress(BlockingIOError):  # a full pipe: the loop is woken already
            os.write(self.wake_write, b"\0")
