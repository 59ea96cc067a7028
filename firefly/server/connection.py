"""A worker's connections and the complete requests read from them, as the event loop sees them.

A :class:`Connection` belongs to the event loop while its next request is
read, and to a thread while that request is served; a :class:`Job` is one
complete request between the two, whose state says who answers it (the
thread, or the loop at the timeout).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from gunicorn import util


class Connection:
    """One client connection, owned by the event loop while its next request is read."""

    __slots__ = (
        "buffer",
        "client",
        "continued",
        "deadline",
        "expected",
        "reading",
        "server",
        "sock",
        "started",
    )

    def __init__(self, sock: socket.socket, client: Any, server: Any, deadline: float):
        self.sock = sock
        self.client = client
        self.server = server
        self.buffer = bytearray()
        self.deadline = deadline  #: when it is cut if the request is still not all there
        self.expected = 0  #: the request's length once its headers give one
        self.continued = False  #: ``100 Continue`` was sent for the request being read
        self.reading = False  #: some of a request has arrived
        self.started = 0.0  #: ``perf_counter()`` when it began to arrive

    def close(self) -> None:
        util.close(self.sock)


class Job:
    """A complete request on its way through a thread."""

    __slots__ = (
        "arrived",
        "complete",
        "connection",
        "data",
        "environ",
        "lock",
        "queued",
        "started",
        "state",
    )

    def __init__(self, connection: Connection, data: bytes, complete: bool):
        self.connection = connection
        self.data = data
        self.complete = complete  #: False: close the connection after the answer
        self.queued = time.monotonic()
        self.arrived = connection.started  #: ``perf_counter()`` when it began to arrive
        self.started = 0.0
        self.environ: dict[str, Any] | None = None
        self.lock = threading.Lock()
        self.state = "waiting"  # then running, then responding or timed out

    def claim(self, state: str) -> bool:
        """Move from running to ``state``; False if the other side got there first."""
        with self.lock:
            if self.state != "running":
                return False
            self.state = state
            return True


def get_path(request: bytes) -> bytes | None:
    """The path of a GET request, from its request line; None for other methods."""
    if not request.startswith(b"GET /"):
        return None
    end = request.find(b" ", 4, 4100)
    return request[4:end].split(b"?", 1)[0] if end > 0 else None


def client_left(sock: socket.socket) -> bool:
    """Whether the client closed its connection (while its request waited)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
