#!/usr/bin/env python
"""Callers of benchmarks/executions.py: each submits an execution, waits for its result, again.

Every caller (a thread, with a connection of its own) submits ``POST /FUNCTION`` with
``Prefer: respond-async``, then reads ``GET /-/executions/<id>?wait=60`` until the execution
has finished, and checks that it succeeded with the expected result; the time from the submit
to the result is one latency. The callers start together and stop submitting after
``--seconds``; each finishes the execution it waits for. Prints one JSON object:
``{"latencies": [seconds, ...], "seconds": from the start to the last caller's end,
"errors": [what went wrong, ...]}``.

    python benchmarks/callers.py URL FUNCTION BODY EXPECTED --callers 16 --seconds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

#: Seconds one ``?wait=`` asks for: the server's most.
WAIT = 60
FINISHED = ("succeeded", "failed", "cancelled")


def call(connection: http.client.HTTPConnection, path: str, body: str) -> tuple[str, Any]:
    """Submit ``body`` to ``path``, wait for the execution to finish: its status and result
    (or error)."""
    headers = {"Content-Type": "application/json", "Prefer": "respond-async"}
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 202:
        raise RuntimeError(f"POST {path} answered {response.status}: {answer}")
    while True:
        connection.request("GET", f"/-/executions/{answer['id']}?wait={WAIT}")
        response = connection.getresponse()
        execution = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"GET /-/executions/{answer['id']} answered {response.status}")
        if execution["status"] in FINISHED:
            return execution["status"], execution.get("result", execution.get("error"))


def caller(
    url: str, path: str, body: str, expected: Any, deadline: float, latencies: list[float],
    errors: list[str],
) -> None:  # fmt: skip
    """Call until ``deadline``, adding each call's latency (or what went wrong) to the lists."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.netloc, timeout=WAIT + 10)
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status, result = call(connection, path, body)
            except (OSError, RuntimeError, ValueError, http.client.HTTPException) as error:
                errors.append(f"{type(error).__name__}: {error}")
                return
            if status != "succeeded" or result != expected:
                errors.append(f"an execution {status} with {result!r}, expected {expected!r}")
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()


def run(url: str, path: str, body: str, expected: Any, callers: int, seconds: float) -> dict:
    """Run ``callers`` callers for ``seconds``: the latencies, the time taken, the errors."""
    latencies: list[float] = []  # list.append is atomic: the threads share them
    errors: list[str] = []
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=caller,
            args=(url, path, body, expected, started + seconds, latencies, errors),
            daemon=True,
        )
        for _ in range(callers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "seconds": time.monotonic() - started, "errors": errors}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the callers the command line describes and print what they measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server's base URL")
    parser.add_argument("function", help="the function's path, without the leading slash")
    parser.add_argument("body", help="the JSON body of each submit")
    parser.add_argument("expected", help="the JSON result each execution must have")
    parser.add_argument("--callers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    measured = run(
        args.url.rstrip("/"), f"/{args.function}", args.body, json.loads(args.expected),
        args.callers, args.seconds,
    )  # fmt: skip
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
