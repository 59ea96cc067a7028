"""SIGHUP: the app reads its files again in the process that forks the workers.

gunicorn's arbiter and granian's main process answer SIGHUP the same way:
they start new workers and stop the old ones gracefully. The new workers are
forked from the process that holds the app, so the app reloads there first
(:meth:`firefly.Firefly.reload`: the model files are looked at again), and the
new workers serve what it read while the old ones finish what they hold.

The ``firefly`` command's servers do this themselves. For ``gunicorn --preload
firefly.main:app``, name :func:`on_reload` in a gunicorn config file::

    # gunicorn.conf.py
    from firefly.server.reloading import on_reload
"""

from __future__ import annotations

import logging
from typing import Any

from ..app import Firefly

logger = logging.getLogger("firefly")


def reload_app(app: Firefly | None) -> None:
    """Have ``app`` read its files again; an error is logged, and what was loaded serves on.

    The server calls it from its main loop: an exception escaping it would
    stop the whole server, so none does.
    """
    if app is None:  # each worker builds its own app (reload on, or spawned workers)
        return
    try:
        app.reload()
    except Exception:
        logger.exception("reload failed: the new workers serve what was loaded before")


def on_reload(server: Any) -> None:
    """gunicorn's ``on_reload`` hook: reload the preloaded app before the new workers fork.

    Without ``--preload`` the arbiter holds no app, and each new worker loads
    the files itself: there is nothing to do here.
    """
    app = getattr(server.app, "callable", None)
    if isinstance(app, Firefly):
        reload_app(app)
