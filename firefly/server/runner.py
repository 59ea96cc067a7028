"""What a worker's thread does with a complete request: parse it, run the app, send the answer.

The request's bytes are all in memory (the event loop read them), so
gunicorn's own parser reads them with no socket involved, the body is read
before the app runs (a malformed chunk is a 400 from here, not an error
inside the app) and the app gets it as ``wsgi.input``. The answer goes out
on the connection's socket with ``read_timeout`` as its send timeout.
"""

from __future__ import annotations

import contextlib
import errno
import io
from collections.abc import Callable
from typing import Any

from gunicorn.http import errors as parse_errors
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from ..errors import error_for_status
from .answers import PLAIN_SERVER_ERROR_APP, close_body, error_environ, parse_error, render
from .connection import Job


class RequestRunner:
    """Serves complete requests with ``app``, on gunicorn's parser and response.

    :param count_request: called once per request that reaches the app;
        False means the worker is stopping, so the connection closes after it.
    """

    def __init__(
        self,
        cfg: Any,
        log: Any,
        app: Any,
        error_app: Any,
        read_timeout: float,
        count_request: Callable[[], bool],
    ):
        self.cfg = cfg
        self.log = log
        self.app = app
        self.error_app = error_app
        self.read_timeout = read_timeout
        self.count_request = count_request

    def run(self, job: Job) -> bool:
        """Parse and serve one request; whether its connection can serve another."""
        connection = job.connection
        sock = connection.sock
        try:
            request = next(RequestParser(self.cfg, [job.data], connection.client))
            body = request.body.read() if request.body is not None else b""
        except (parse_errors.ParseException, parse_errors.NoMoreData, StopIteration) as err:
            if not isinstance(err, StopIteration):
                self.answer(job, parse_error(err))
            return False
        if connection.continued:
            request._expected_100_continue = False  # sent by the loop already
        try:
            sock.settimeout(self.read_timeout)
            response, environ = wsgi.create(
                request, sock, connection.client, connection.server, self.cfg
            )
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.multithread"] = True
            job.environ = environ
            if not (self.count_request() and job.complete and self.cfg.keepalive):
                response.force_close()
            body_iterator = self.app(environ, response.start_response)
            if not job.claim("responding"):
                close_body(body_iterator)
                return False
            try:
                if isinstance(body_iterator, environ["wsgi.file_wrapper"]):
                    response.write_file(body_iterator)
                else:
                    for chunk in body_iterator:
                        response.write(chunk)
                response.close()
            finally:
                close_body(body_iterator)
            return not response.should_close()
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF, None):
                self.log.exception("Socket error serving a request.")
            return False
        except Exception:
            self.log.exception("Error handling request %s", request.uri)
            if job.state == "running" and job.claim("responding"):
                # telemetry has recorded the 500 already: answer without recording it again
                self.answer(job, internal_error(), PLAIN_SERVER_ERROR_APP)
            return False
        finally:
            if job.state != "timed out":
                with contextlib.suppress(OSError):  # the client has closed it already
                    sock.setblocking(False)

    def answer(self, job: Job, error: Any, app: Any = None) -> None:
        """Answer ``error`` from the thread that has the connection (the app's error app)."""
        connection = job.connection
        environ = error_environ(job.data, connection.client, job.environ)
        answer = render(app or self.error_app, environ, error, job.arrived)
        with contextlib.suppress(OSError):  # a client gone cannot be answered
            connection.sock.settimeout(self.read_timeout)
            connection.sock.sendall(answer)


def internal_error() -> Any:
    """The 500 for an app that raised instead of answering."""
    return error_for_status(500, "internal server error")
