"""``firefly worker``: run the executions queued on Redis, with the config of the server."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..app import create_app
from ..config import load_config, settings
from ..errors import FireflyError
from ..logs import configure_logging
from .serve import HAND_WRITTEN_OPTIONS, FunctionNameType, setting_option

#: The settings a worker reads: where the queue is, and how long a heartbeat holds a job. The
#: others (timeout, retention, retries) travel with each job from the server that queued it.
WORKER_SETTINGS = ("executions", "execution_lease")
NEEDS_REDIS = (
    "firefly worker needs --executions redis://HOST:PORT/DB (or FIREFLY_EXECUTIONS, or"
    " 'executions:' in the config file), the URL the server queues executions on"
)


def worker_options() -> list[click.Parameter]:
    """The functions argument and ``--config`` of ``serve``, its settings a worker reads, and
    the worker's own options."""
    config = next(option for option in HAND_WRITTEN_OPTIONS if option.name == "config")
    return [
        click.Argument(["functions"], nargs=-1, type=FunctionNameType()),
        config,
        *(setting_option(field) for field in settings() if field.name in WORKER_SETTINGS),
        click.Option(
            ["-w", "--workers"],
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="RQ worker processes, each running one execution at a time.",
        ),
        click.Option(
            ["--burst"],
            is_flag=True,
            help="Exit once the queue is empty, instead of waiting for more executions.",
        ),
    ]


@click.command(
    "worker",
    params=worker_options(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Example: firefly worker -c config.yml --executions redis://127.0.0.1:6379/0"
        "  (the server: firefly -c config.yml --executions redis://127.0.0.1:6379/0)"
    ),
)
def worker_command(workers: int, burst: bool, **flags: Any) -> None:
    """Run the executions a server queued on Redis: RQ workers, on any number of machines.

    Give it the server's config (or MODULE.FUNCTION names) and the same --executions
    redis:// URL. SIGTERM stops it once each worker has finished its execution.
    """
    from ..executions.feature import ExecutionsFeature, is_redis

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        config = load_config(flags, os.environ)
    except FireflyError as err:
        raise click.ClickException(str(err)) from None
    url = config.executions
    if url is None or not is_redis(url):
        raise click.ClickException(NEEDS_REDIS)
    try:
        from redis.exceptions import RedisError

        from ..executions.rqbackend import RQBackend
        from ..executions.rqjob import serve
        from ..executions.rqjobs import connect, redacted
        from ..executions.rqworker import run_workers
    except ImportError as err:
        raise click.ClickException(
            f"firefly worker runs RQ, which is not installed ({err}):"
            " pip install 'firefly-python[redis]'"
        ) from None
    try:
        redis, queue = connect(url)
        redis.ping()
    except (RedisError, ValueError) as err:
        raise click.ClickException(f"cannot reach Redis at {redacted(url)}: {err}") from None
    try:
        app = create_app(config)
        app.prepare()
    except FireflyError as err:
        raise click.ClickException(str(err)) from None
    feature = next(f for f in app.features if isinstance(f, ExecutionsFeature))
    backend = feature.backend
    assert isinstance(backend, RQBackend) and backend.run is not None
    serve(backend.run)
    configure_logging()
    run_workers(
        redis,
        queue,
        lease=config.execution_lease,
        workers=workers,
        burst=burst,
        logging_level="INFO",
    )
