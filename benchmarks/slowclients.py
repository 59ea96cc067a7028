#!/usr/bin/env python
"""Slow clients, overload and SIGTERM: how a normal request fares while a probe is active.

Each probe starts a fresh server on a free 127.0.0.1 port (serving benchmarks/targets/funcs.py),
runs for a few seconds and stops it. The table shows the latency and status of a normal request,
``POST /square {"n": 4}``, made while the probe is active; the lines below it say what each probe
found. docs/performance.rst explains the probes and the results.

    python benchmarks/slowclients.py                  # the firefly target
    python benchmarks/slowclients.py --all            # every target: about 5 minutes
    python benchmarks/slowclients.py --target firefly-w4 --read-timeout 2
    python benchmarks/slowclients.py --quick          # a smoke run: about 30 seconds

Options it does not know (``--read-timeout 2``) are passed to the firefly targets' command.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gunicorn.config import KNOWN_SETTINGS
from report import free_port, progress, simple_table, stop_group

import firefly
from firefly.config import Config

HERE = Path(__file__).resolve().parent
TARGETS_DIR = HERE / "targets"
WRK_SCRIPT = HERE / "burst.lua"
HOST = "127.0.0.1"
FUNCTIONS = ("funcs.square", "funcs.slow")
SQUARE_BODY = json.dumps({"n": 4})
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CONNECT_TIMEOUT = 2.0
SAMPLE_TIMEOUT = 1.0  # a normal request unanswered by then counts as a timeout
SAMPLE_INTERVAL = 0.2
SETTLE = 0.5  # seconds between opening the slow clients and the first normal request
TRICKLE = 1.0  # seconds between two bytes of a slow-headers client
CUT_MARGIN = 2.0  # stalled-cut waits the read timeout and this much longer
BURST_PAUSE = 1.0  # seconds between the end of wrk and the fresh request
WRK_TIMEOUT = "2s"
SHUTDOWN_DELAY = 1.0
IN_FLIGHT_WAIT = 0.5  # seconds between sending the slow calls and SIGTERM
READY_TIMEOUT = 0.5
EXIT_MARGIN = 10.0  # beyond the graceful timeout, seconds the sigterm probe waits for the exit
HEADERS, BODY = "headers", "body"
HEADERS_START = b"POST /square HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
BODY_START = HEADERS_START + b'Content-Length: 1000\r\n\r\n{"n": '
DESCRIPTION = "Probe servers with slow clients, bursts and SIGTERM; time normal requests meanwhile."


@dataclass(frozen=True)
class Sizes:
    """How big the probes are: the full run or the smoke run of ``--quick``."""

    clients: int  # of each kind: slow headers, stalled bodies
    samples: int  # normal requests per probe
    burst_connections: int
    burst_seconds: int
    calls: int  # slow calls in flight at SIGTERM
    call_seconds: float
    cut_wait: float | None  # the most stalled-cut waits; None: the read timeout + CUT_MARGIN


FULL = Sizes(100, 5, 1000, 3, 10, 2.0, None)
QUICK = Sizes(20, 3, 100, 1, 3, 1.0, 3.0)


def gunicorn_options() -> tuple[str, ...]:
    """Options that let gunicorns run side by side: gunicorn >= 25 has one control socket a user."""
    names = {setting.name for setting in KNOWN_SETTINGS}
    return ("--no-control-socket",) if "control_socket_disable" in names else ()


@dataclass(frozen=True)
class Target:
    """A server to probe: the firefly command with ``options``, or raw gunicorn's sync worker."""

    name: str
    options: tuple[str, ...] = ()
    firefly: bool = True
    granian: bool = False  # must not be served by gunicorn

    def command(self, port: int, extra: Sequence[str]) -> list[str]:
        """The command line serving square and slow on ``port``; ``extra`` goes to firefly."""
        bind = f"{HOST}:{port}"
        if self.firefly:
            return [
                *(sys.executable, "-m", "firefly", "--bind", bind),
                *self.options,
                *extra,
                *FUNCTIONS,
            ]
        gunicorn = (sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", "1")
        return [*gunicorn, *gunicorn_options(), "firefly.main:app"]


TARGETS = {
    target.name: target
    for target in (
        Target("firefly"),
        Target("firefly-w4", ("-w", "4")),
        Target("firefly-threads8", ("--threads", "8")),
        Target("firefly-granian", ("--server", "granian"), granian=True),
        Target("gunicorn-sync", firefly=False),
    )
}
DEFAULT_TARGET = "firefly"


class StartError(Exception):
    """A target did not start, or is not the server it names: its probes are skipped."""


@dataclass
class Server:
    """A running target, in a process group of its own."""

    target: Target
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 10) -> str:
        """The end of the server's output, to explain a failure."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Reply:
    """A server's answer to one request, or what went wrong: ``timeout``, ``reset``, ``refused``."""

    status: str
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


def request(port: int, method: str, path: str, body: str | None, timeout: float) -> Reply:
    """Send one request on a new connection and read the whole answer."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Reply(str(response.status), time.perf_counter() - started, headers)
    except TimeoutError:
        status = "timeout"
    except ConnectionRefusedError:
        status = "refused"
    except (ConnectionError, http.client.HTTPException):  # closed or reset before the answer
        status = "reset"
    finally:
        connection.close()
    return Reply(status, time.perf_counter() - started)


def square(port: int) -> Reply:
    """The normal request: ``POST /square {"n": 4}``."""
    return request(port, "POST", "/square", SQUARE_BODY, SAMPLE_TIMEOUT)


def sample(port: int, count: int) -> list[Reply]:
    """``count`` normal requests, one after another, SAMPLE_INTERVAL apart."""
    replies = []
    for index in range(count):
        if index:
            time.sleep(SAMPLE_INTERVAL)
        replies.append(square(port))
    return replies


def start_server(target: Target, extra: Sequence[str], log_dir: Path) -> Server:
    """Start ``target`` and wait until it answers the normal request; raises StartError."""
    port = free_port()
    log_path = log_dir / f"{target.name}-{port}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREFLY_")}
    if not target.firefly:
        env["FIREFLY_FUNCTIONS"] = ",".join(FUNCTIONS)
    with open(log_path, "wb") as log:  # a file, not a pipe nobody reads: the access log fills it
        process = subprocess.Popen(
            target.command(port, extra),
            cwd=TARGETS_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the group ourselves
        )
    server = Server(target, port, process, log_path)
    try:
        wait_until_serving(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_serving(server: Server) -> None:
    """Wait for a 200 to the normal request; check that granian is not gunicorn."""
    deadline = time.monotonic() + START_TIMEOUT
    while (reply := square(server.port)).status != "200":
        if server.process.poll() is not None:
            raise StartError(f"exited with code {server.process.returncode}: {server.log_tail(1)}")
        if time.monotonic() > deadline:
            raise StartError(f"no 200 within {START_TIMEOUT:.0f}s:\n{server.log_tail()}")
        time.sleep(0.1)
    if server.target.granian and "gunicorn" in reply.headers.get("server", ""):
        raise StartError("--server granian is served by gunicorn: granian support is not in yet")


def stop_server(server: Server) -> None:
    """Stop the server's process group: gently, then by force."""
    stop_group(server.process, STOP_TIMEOUT)


@dataclass(eq=False)
class SlowClient:
    """One slow connection and what the server sent it before closing it."""

    kind: str  # HEADERS or BODY
    sock: socket.socket
    opened: float
    sent: int = 0  # bytes of the slow headers sent
    received: bytearray = field(default_factory=bytearray)
    closed: float | None = None  # when the server closed the connection


class SlowClients:
    """Slow connections to one port, driven by one thread, closed on exit.

    A HEADERS client sends request headers one byte every TRICKLE seconds and never ends
    them; a BODY client sends whole headers announcing 1000 bytes and a few bytes of body,
    then stalls. With ``hold``, clients the server disconnects are replaced once a second,
    so that the server keeps having as many.
    """

    def __init__(self, port: int, headers: int, bodies: int, hold: bool) -> None:
        self.port = port
        self.wanted = {HEADERS: headers, BODY: bodies}
        self.hold = hold
        self.open: list[SlowClient] = []
        self.cut: list[SlowClient] = []  # closed by the server
        self.failed = 0  # connections that could not be opened
        self.selector = selectors.DefaultSelector()
        self.stopping = threading.Event()
        self.all_cut = threading.Event()
        self.thread = threading.Thread(target=self.run, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        try:
            self.top_up()
            self.thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread and close every connection still open."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        for client in self.open:
            client.sock.close()
        self.selector.close()

    def wait_cut(self, timeout: float) -> None:
        """Wait until the server has closed every connection, or ``timeout`` seconds."""
        self.all_cut.wait(timeout)

    def top_up(self) -> None:
        """Open connections until there are as many of each kind as wanted."""
        for kind, wanted in self.wanted.items():
            for _ in range(wanted - sum(client.kind == kind for client in self.open)):
                self.connect(kind)

    def connect(self, kind: str) -> None:
        """Open one slow connection and send its first bytes."""
        try:
            sock = socket.create_connection((HOST, self.port), timeout=CONNECT_TIMEOUT)
        except OSError:
            self.failed += 1
            return
        client = SlowClient(kind, sock, time.monotonic())
        self.open.append(client)
        try:
            if kind == BODY:
                sock.sendall(BODY_START)
            else:
                self.trickle(client)
        except OSError:
            self.closed(client)
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, client)

    def trickle(self, client: SlowClient) -> None:
        """Send the next byte of a HEADERS client's headers, which never end."""
        next_byte = HEADERS_START[client.sent : client.sent + 1] or b"x"
        client.sock.send(next_byte)
        client.sent += 1

    def run(self) -> None:
        """Read what the server sends, trickle the headers, replace the cut clients."""
        next_tick = time.monotonic() + TRICKLE
        while not self.stopping.is_set():
            for key, _ in self.selector.select(min(0.1, max(0.0, next_tick - time.monotonic()))):
                self.read(key.data)
            if not self.open and not self.hold:
                self.all_cut.set()
            if time.monotonic() < next_tick:
                continue
            next_tick += TRICKLE
            for client in [client for client in self.open if client.kind == HEADERS]:
                try:
                    self.trickle(client)
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed(client)
            if self.hold:
                self.top_up()

    def read(self, client: SlowClient) -> None:
        """Keep what the server sent; a closed connection is a cut client."""
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            client.received += data
        else:
            self.closed(client)

    def closed(self, client: SlowClient) -> None:
        """The server closed ``client``'s connection."""
        client.closed = time.monotonic()
        self.open.remove(client)
        self.cut.append(client)
        try:
            self.selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass  # never registered
        client.sock.close()


def describe_answer(data: bytes) -> str:
    """What a cut client received: ``408 JSON error``, ``400 (12 bytes)``, ``nothing``."""
    if not data:
        return "nothing"
    head, _, body = data.partition(b"\r\n\r\n")
    words = head.split(b"\r\n", 1)[0].split()
    status = words[1].decode(errors="replace") if len(words) > 1 else "garbage"
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if isinstance(error, dict) and "error" in error:
        return f"{status} JSON error"
    return f"{status} ({len(body)} bytes of body)"


@dataclass(frozen=True)
class Result:
    """What a probe measured: its normal requests and a line of what it found."""

    replies: list[Reply]
    finding: str


@dataclass(frozen=True)
class Settings:
    """What the probes need besides the server: their sizes and the server's read timeout."""

    sizes: Sizes
    read_timeout: float


def probe_slow(server: Server, settings: Settings, headers: int, bodies: int) -> Result:
    """Normal requests while ``headers`` slow-headers and ``bodies`` stalled-body clients wait."""
    with SlowClients(server.port, headers, bodies, hold=True) as clients:
        time.sleep(SETTLE)
        replies = sample(server.port, settings.sizes.samples)
    return Result(
        replies,
        f"{headers + bodies} slow clients held; the server closed {len(clients.cut)} meanwhile;"
        f" {clients.failed} could not connect",
    )


def probe_slow_headers(server: Server, settings: Settings) -> Result:
    """Slow-headers clients only."""
    return probe_slow(server, settings, settings.sizes.clients, 0)


def probe_stalled_bodies(server: Server, settings: Settings) -> Result:
    """Stalled-body clients only."""
    return probe_slow(server, settings, 0, settings.sizes.clients)


def probe_both(server: Server, settings: Settings) -> Result:
    """Slow-headers and stalled-body clients together."""
    return probe_slow(server, settings, settings.sizes.clients, settings.sizes.clients)


def probe_stalled_cut(server: Server, settings: Settings) -> Result:
    """How long the server lets the slow clients hang on, and what it tells them when it cuts."""
    sizes = settings.sizes
    wait = settings.read_timeout + CUT_MARGIN
    if sizes.cut_wait is not None:
        wait = min(wait, sizes.cut_wait)
    with SlowClients(server.port, sizes.clients, sizes.clients, hold=False) as clients:
        started = time.monotonic()
        time.sleep(SETTLE)
        replies = sample(server.port, sizes.samples)
        clients.wait_cut(max(0.0, started + wait - time.monotonic()))
    parts = []
    for kind in (HEADERS, BODY):
        cut = [client for client in clients.cut if client.kind == kind]
        if not cut:
            parts.append(f"{kind}: none cut within {wait:.0f} s")
            continue
        after = statistics.median((client.closed or 0.0) - client.opened for client in cut)
        answers = Counter(describe_answer(bytes(client.received)) for client in cut)
        answer, count = answers.most_common(1)[0]
        parts.append(
            f"{kind}: {len(cut)}/{sizes.clients} cut after {after:.1f} s (median),"
            f" {count} received {answer}"
        )
    return Result(replies, "; ".join(parts))


def probe_burst(server: Server, settings: Settings) -> Result:
    """A wrk burst on /square, then a fresh request BURST_PAUSE seconds after it ends."""
    sizes = settings.sizes
    if shutil.which("wrk") is None:
        return Result([], "skipped: wrk not found on PATH")
    command = [
        *("wrk", "--threads", "2", "--connections", str(sizes.burst_connections)),
        *("--duration", f"{sizes.burst_seconds}s", "--timeout", WRK_TIMEOUT),
        *("--script", str(WRK_SCRIPT), f"http://{HOST}:{server.port}/square"),
    ]
    wrk = subprocess.run(
        command,
        env={**os.environ, "BENCH_BODY": SQUARE_BODY},
        capture_output=True,
        text=True,
        timeout=sizes.burst_seconds + 30,
    )
    if wrk.returncode != 0:
        return Result([], f"wrk failed: {wrk.stderr.strip() or wrk.stdout.strip()}")
    time.sleep(BURST_PAUSE)
    replies = sample(server.port, sizes.samples)

    def count(pattern: str) -> int:
        found = re.search(pattern, wrk.stdout)
        return sum(int(number) for number in found.groups()) if found else 0

    answers = count(r"(\d+) requests in")
    refused = count(r"Non-2xx or 3xx responses: (\d+)")
    busy = count(r"503 with Retry-After: (\d+)")
    errors = count(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return Result(
        replies,
        f"wrk -c{sizes.burst_connections} -d{sizes.burst_seconds}s: {answers} answers,"
        f" {refused} non-2xx, {busy} 503 with Retry-After, {errors} socket errors",
    )


def probe_sigterm(server: Server, settings: Settings) -> Result:
    """Slow calls in flight, then SIGTERM: which calls got their answer, was /-/ready 503."""
    sizes = settings.sizes
    # a target with one thread answers the calls one after another, also while it drains
    call_timeout = sizes.calls * sizes.call_seconds + CONNECT_TIMEOUT
    body = json.dumps({"seconds": sizes.call_seconds})
    with ThreadPoolExecutor(sizes.calls) as pool:
        calls = [
            pool.submit(request, server.port, "POST", "/slow", body, call_timeout)
            for _ in range(sizes.calls)
        ]
        time.sleep(IN_FLIGHT_WAIT)
        server.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        ready: Counter[str] = Counter()
        replies = []
        while time.monotonic() < stopped + SHUTDOWN_DELAY:
            ready[request(server.port, "GET", "/-/ready", None, READY_TIMEOUT).status] += 1
            replies.append(square(server.port))
            time.sleep(SAMPLE_INTERVAL)
        statuses = Counter(call.result().status for call in calls)
    graceful_timeout = Config().timeout + SHUTDOWN_DELAY
    try:
        code = server.process.wait(timeout=graceful_timeout + EXIT_MARGIN)
        exit_line = f"exit {code} {time.monotonic() - stopped:.1f} s after SIGTERM"
    except subprocess.TimeoutExpired:
        exit_line = f"still running {graceful_timeout + EXIT_MARGIN:.0f} s after SIGTERM"
    others = ", ".join(f"{count} {status}" for status, count in statuses.items() if status != "200")
    return Result(
        replies,
        f"{statuses['200']}/{sizes.calls} calls answered 200{', ' if others else ''}{others};"
        f" /-/ready during the delay: {format_counts(ready)}; {exit_line}",
    )


@dataclass(frozen=True)
class Probe:
    """A probe and the options it adds to the firefly targets' command."""

    name: str
    run: Callable[[Server, Settings], Result]
    options: tuple[str, ...] = ()


PROBES = {
    probe.name: probe
    for probe in (
        Probe("slow-headers", probe_slow_headers),
        Probe("stalled-bodies", probe_stalled_bodies),
        Probe("both", probe_both),
        Probe("stalled-cut", probe_stalled_cut),
        Probe("burst", probe_burst),
        Probe("sigterm", probe_sigterm, ("--shutdown-delay", str(SHUTDOWN_DELAY))),
    )
}


def format_counts(counts: Counter[str]) -> str:
    """``200 x3, timeout x2``: how often each status came, the commonest first."""
    return ", ".join(f"{status} x{count}" for status, count in counts.most_common()) or "-"


@dataclass(frozen=True)
class Row:
    """One target and probe: its normal requests and its finding."""

    target: str
    probe: str
    result: Result


def format_table(rows: Sequence[Row]) -> str:
    """The normal requests of each probe as a reStructuredText simple table."""
    header = ("target", "probe", "normal request", "median ms", "max ms")
    cells = []
    for row in rows:
        seconds = [reply.seconds for reply in row.result.replies]
        numbers = (
            (f"{statistics.median(seconds) * 1000:.1f}", f"{max(seconds) * 1000:.1f}")
            if seconds
            else ("-", "-")
        )
        statuses = Counter(reply.status for reply in row.result.replies)
        cells.append((row.target, row.probe, format_counts(statuses), *numbers))
    return simple_table(header, cells, names=3)


def read_timeout(extra: Sequence[str]) -> float:
    """The read timeout the firefly targets run with: ``--read-timeout`` in ``extra``, or firefly's
    default."""
    for index, arg in enumerate(extra):
        if arg == "--read-timeout" and index + 1 < len(extra):
            return float(extra[index + 1])
        if arg.startswith("--read-timeout="):
            return float(arg.partition("=")[2])
    return float(Config().read_timeout)


def describe_settings(sizes: Sizes, extra: Sequence[str], timeout: float) -> str:
    """The sizes, options and software of this run, printed above the table."""
    software = [f"Python {platform.python_version()}"]
    for name in ("gunicorn", "granian", "firefly-python"):
        try:
            software.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    source = Path(firefly.__file__).resolve().parent.parent
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=source, capture_output=True, text=True
    )
    commit = described.stdout.strip() if described.returncode == 0 else "not a git checkout"
    return (
        f"{sizes.clients} slow-headers + {sizes.clients} stalled-body clients;"
        f" {sizes.samples} normal requests a probe (timeout {SAMPLE_TIMEOUT:.0f} s);"
        f" burst: wrk -c{sizes.burst_connections} -d{sizes.burst_seconds}s;"
        f" sigterm: {sizes.calls} calls of {sizes.call_seconds:g} s, --shutdown-delay"
        f" {SHUTDOWN_DELAY:g}\n"
        f"extra options of the firefly targets: {' '.join(extra) or 'none'}"
        f" (read timeout {timeout:g} s)\n"
        f"{', '.join(software)}; {os.cpu_count()} CPUs; firefly from {source} ({commit})"
    )


def run(targets: Sequence[Target], probes: Sequence[Probe], sizes: Sizes, extra: list[str]) -> None:
    """Run every probe on every target, each on a fresh server; print the table and findings."""
    settings = Settings(sizes, read_timeout(extra))
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="firefly-slowclients-") as log_dir:
        for target in targets:
            for probe in probes:
                progress(f"{target.name}: {probe.name}")
                options = [*probe.options, *extra] if target.firefly else []
                try:
                    server = start_server(target, options, Path(log_dir))
                except StartError as err:
                    notes.append(f"{target.name}: skipped, {err}")
                    break
                try:
                    rows.append(Row(target.name, probe.name, probe.run(server, settings)))
                finally:
                    stop_server(server)
    print(describe_settings(sizes, extra, settings.read_timeout), end="\n\n")
    if rows:
        print(format_table(rows), end="\n\n")
    for row in rows:
        print(f"{row.target} {row.probe}: {row.result.finding}")
    print("\n".join(notes))


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The command line options, and the unknown ones, for the firefly targets."""
    parser = argparse.ArgumentParser(description=DESCRIPTION, allow_abbrev=False)
    parser.add_argument(
        "--target",
        choices=TARGETS,
        action="append",
        help=f"a target to probe, may be repeated (default {DEFAULT_TARGET})",
    )
    parser.add_argument("--all", action="store_true", help="probe every target")
    parser.add_argument(
        "--probe", choices=PROBES, action="append", help="a probe to run, may be repeated (all)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK.clients} + {QUICK.clients} slow clients,"
        f" {QUICK.samples} normal requests, wrk -c{QUICK.burst_connections},"
        f" {QUICK.calls} calls at SIGTERM",
    )
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the probes the command line names."""
    args, extra = parse_args(argv)
    names = list(TARGETS) if args.all else args.target or [DEFAULT_TARGET]
    probes = [PROBES[name] for name in args.probe or PROBES]
    # SIGTERM unwinds like Ctrl-C, so the servers are stopped either way
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run([TARGETS[name] for name in names], probes, QUICK if args.quick else FULL, extra)
    except KeyboardInterrupt:
        sys.exit("interrupted: every server was stopped")


if __name__ == "__main__":
    main()
