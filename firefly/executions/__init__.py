"""Asynchronous executions: any function call run in the background, with an id to come back to.

- :mod:`~firefly.executions.model`: an execution, its statuses and the backend interface;
- :mod:`~firefly.executions.endpoint`: the ``202`` path of a function call asking for it;
- :mod:`~firefly.executions.table` and :mod:`~firefly.executions.store`: the embedded
  backend's table and its transactions;
- :mod:`~firefly.executions.embedded`: the embedded backend, run by threads of the server's
  workers, with leases that find lost workers;
- :mod:`~firefly.executions.rqbackend`: the distributed backend, RQ queues on Redis run by
  ``firefly worker``;
- :mod:`~firefly.executions.metrics`: their numbers in ``/-/metrics``;
- :mod:`~firefly.executions.feature`: the feature, and ``/-/executions``.

Importing this package loads nothing heavy: SQLAlchemy or RQ is imported when a worker starts.
"""

from __future__ import annotations

from .feature import ExecutionsFeature

__all__ = ["ExecutionsFeature"]
