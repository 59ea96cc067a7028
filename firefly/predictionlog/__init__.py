"""The prediction log: every call of a logged function or model, one row each, with its outcome.

- :mod:`~firefly.predictionlog.table`: the ``firefly_predictions`` table;
- :mod:`~firefly.predictionlog.database`: the engine for its URL, and the table created or
  migrated on start (:mod:`firefly.database` does both for any feature that keeps data);
- :mod:`~firefly.predictionlog.recorder`: what a logged call does on the request path,
  which is only putting its row on a queue;
- :mod:`~firefly.predictionlog.writer`: the thread that writes the queued rows in batches,
  retrying while the database is down and counting what it drops;
- :mod:`~firefly.predictionlog.queries`: the filters and pages shared by ``GET /-/predictions``
  and ``firefly log export``;
- :mod:`~firefly.predictionlog.export`: its rows as JSON lines or CSV (``firefly log export``);
- :mod:`~firefly.predictionlog.feedback`: ``POST /-/feedback``, outcomes joined to their rows;
- :mod:`~firefly.predictionlog.stats`: counts, latency, accuracy and drift, for
  ``firefly log stats`` and the dashboard;
- :mod:`~firefly.predictionlog.dashboard`: ``/-/dashboard``;
- :mod:`~firefly.predictionlog.feature`: the feature that puts them together.

Importing this package loads nothing heavy: SQLAlchemy is imported when the log starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .feature import DEFAULT_URL, PredictionLogFeature

if TYPE_CHECKING:
    from ..config import Config
    from ..features import Feature


def logs_models(settings: Config, features: Iterable[Feature]) -> bool:
    """Whether a model served asks for the log (``log: true`` in its config or ``model.yml``)."""
    if not settings.models:
        return False
    from ..models.feature import ModelsFeature  # loaded already: models are served

    return any(isinstance(f, ModelsFeature) and f.logs_calls for f in features)


__all__ = ["DEFAULT_URL", "PredictionLogFeature", "logs_models"]
