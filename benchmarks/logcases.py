"""What benchmarks/predictionlog.py loads and checks: its targets and set-ups, the PostgreSQL
databases it makes, and whether every call a logged server answered has its row."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from models import Server
from prometheus_client.parser import text_string_to_metric_families
from report import stop_group
from run import FUNCTIONS, METRICS_PATH, STOP_TIMEOUT, BenchmarkError, Function, Results

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "FIREFLY_TEST_POSTGRES_URL"
HARNESS_POSTS = 1  # each target's answer checked once per server before the load
SETTLE_SECONDS = 0.2  # between two scrapes that must agree: the last calls in flight answered


@dataclass(frozen=True)
class Target:
    """What wrk calls: its request, and the names its calls go by in the metrics and the log."""

    name: str  # the log's ``function`` column
    function: Function
    metric: str  # the ``function`` label of firefly_requests_total


@dataclass(frozen=True)
class Setup:
    """A server and where it logs (``url``: None with the log off)."""

    server: str
    log: str
    url: str | None

    @property
    def name(self) -> str:
        """How the setup reads in the progress lines and the checks: ``gunicorn sqlite``."""
        return f"{self.server} {self.log}"


CHURN_RECORD = {"score_1": 0.8, "score_2": -0.3, "age": 41}


def save_model(repository: Path) -> Target:
    """Save the churn pipeline of tests/modelfiles.py as ``churn`` v1: its target, whose expected
    answer is the pipeline's own prediction."""
    sys.path.insert(0, str(ROOT))  # tests/ is a package of the repository, not installed
    import pandas as pd

    from tests.modelfiles import CHURN_FEATURES, churn_model, save_version

    model = churn_model()
    save_version(repository, "churn", "v1", model, {"features": CHURN_FEATURES})
    expected = model.predict(pd.DataFrame([CHURN_RECORD])).tolist()[0]
    function = Function("churn/predict", json.dumps(CHURN_RECORD), expected)
    return Target("churn/predict", function, "churn/v1/predict")


SQUARE = Target("square", FUNCTIONS["square"], "square")


@contextlib.contextmanager
def postgres_database(server: str, name: str) -> Iterator[str]:
    """A fresh database ``name`` on the PostgreSQL server ``server`` (a URL), dropped after:
    its URL."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    base = make_url(server).set(drivername="postgresql+psycopg")
    admin = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError), admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_unavailable(server: str | None) -> str | None:
    """Why the PostgreSQL rows are left out, or None when ``server`` answers."""
    if not server:
        return f"no PostgreSQL server: give --postgres URL or set {POSTGRES_ENV}"
    import sqlalchemy
    from sqlalchemy.engine import make_url

    engine = sqlalchemy.create_engine(make_url(server).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect():
            return None
    except sqlalchemy.exc.SQLAlchemyError as err:
        return f"PostgreSQL at {make_url(server)!r} does not answer: {str(err).splitlines()[0]}"
    finally:
        engine.dispose()


def scrape(server: Server) -> dict[tuple[str, str], int]:
    """The server's counters: ``(firefly_requests_total, function)`` summed over the statuses,
    ``(firefly_prediction_log_dropped_total, reason)`` and the like."""
    with urllib.request.urlopen(f"{server.url}{METRICS_PATH}", timeout=STOP_TIMEOUT) as response:
        text = response.read().decode()
    counts: dict[tuple[str, str], int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # the calls by function and the rows by reason; not the scrapes (function "")
            label = sample.labels.get("function") or sample.labels.get("reason")
            if sample.name.endswith("_total") and label:
                counts[sample.name, label] = counts.get((sample.name, label), 0) + int(sample.value)
    return counts


def answered(server: Server, name: str) -> dict[tuple[str, str], int]:
    """The counters once two scrapes agree: the calls in flight when wrk stopped are answered."""
    deadline = time.monotonic() + STOP_TIMEOUT
    counts = scrape(server)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        again = scrape(server)
        if again == counts:
            return counts
        counts = again
    raise BenchmarkError(f"{name}: the counters still moved {STOP_TIMEOUT:.0f}s after the load")


def logged_rows(url: str) -> dict[str, int]:
    """The rows of the prediction log at ``url``, by function."""
    from sqlalchemy import func, select

    from firefly.predictionlog.database import connect
    from firefly.predictionlog.table import predictions

    engine = connect(url)
    try:
        with engine.connect() as connection:
            query = select(predictions.c.function, func.count()).group_by(predictions.c.function)
            return {function: count for function, count in connection.execute(query)}
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Check:
    """What a logged server wrote of one target's calls, against what it answered."""

    rows: int
    requests: int  # calls answered: firefly_requests_total
    least: int  # wrk's count of answers and the harness's requests
    most: int  # and the calls in flight when each wrk run stopped (one per connection)
    dropped: int  # firefly_prediction_log_dropped_total, all reasons

    @property
    def verified(self) -> bool:
        """Every call answered has its row, and wrk's count agrees."""
        return self.rows == self.requests and self.least <= self.rows <= self.most


Checks = dict[tuple[str, str], Check]  # by setup name and target name


def check_rows(
    setup: Setup, server: Server, targets: Sequence[Target], loads: Results, connections: int
) -> dict[tuple[str, str], Check]:
    """Scrape ``server``, stop it with SIGTERM (its worker writes what waits), count its rows."""
    assert setup.url is not None  # only logged servers have rows
    counts = answered(server, setup.name)
    dropped = sum(n for (name, _), n in counts.items() if "prediction_log_dropped" in name)
    stop_group(server.process, STOP_TIMEOUT)
    if server.process.returncode != 0:
        raise BenchmarkError(
            f"{setup.name} exited with {server.process.returncode}:\n{server.log_tail()}"
        )
    rows = logged_rows(setup.url)
    checks = {}
    for target in targets:
        runs = loads[setup.name, target.name]
        least = sum(run.requests for run in runs) + HARNESS_POSTS
        checks[setup.name, target.name] = Check(
            rows=rows.get(target.name, 0),
            requests=counts.get(("firefly_requests_total", target.metric), 0),
            least=least,
            most=least + len(runs) * connections,
            dropped=dropped,
        )
    return checks
