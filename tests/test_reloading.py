"""SIGHUP's reload where the workers are forked from: the servers' hooks, without processes.

The servers themselves reload in tests/e2e/test_model_reload.py.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from firefly import Firefly
from firefly.config import Config
from firefly.features import Feature
from firefly.server.gunicorn import WORKER_CLASS, FireflyApplication
from firefly.server.reloading import on_reload, reload_app


class Files(Feature):
    """A feature that counts its reloads, and fails them when told to."""

    def __init__(self, error: Exception | None = None):
        self.reloads = 0
        self.error = error

    def reload(self) -> None:
        self.reloads += 1
        if self.error is not None:
            raise self.error


def app_with(feature: Feature) -> Firefly:
    app = Firefly(metrics=False)
    app.add_feature(feature)
    return app


def test_reloading_an_app_reloads_its_features():
    files = Files()
    reload_app(app_with(files))
    assert files.reloads == 1


def test_a_reload_that_raises_is_logged_and_the_server_goes_on(caplog):
    files = Files(OSError("disk gone"))
    with caplog.at_level(logging.ERROR, logger="firefly"):
        reload_app(app_with(files))  # does not raise: it runs in the server's main loop
    assert files.reloads == 1
    (record,) = caplog.records
    assert record.getMessage() == "reload failed: the new workers serve what was loaded before"
    assert "OSError: disk gone" in caplog.text


def test_without_an_app_there_is_nothing_to_reload():
    reload_app(None)  # reload on, or spawned workers: each worker builds its own


@pytest.mark.parametrize("preloaded", [True, False], ids=["preload", "no-preload"])
def test_gunicorns_hook_reloads_the_app_the_arbiter_preloaded(preloaded):
    files = Files()
    app = app_with(files)
    arbiter = SimpleNamespace(app=SimpleNamespace(callable=app if preloaded else None))
    on_reload(arbiter)
    assert files.reloads == (1 if preloaded else 0)


def test_gunicorns_hook_leaves_another_wsgi_app_alone():
    on_reload(SimpleNamespace(app=SimpleNamespace(callable=lambda environ, start_response: [])))


def test_the_firefly_commands_gunicorn_reloads_its_settings_then_the_app():
    files = Files()
    application = FireflyApplication(Config(metrics=False, workers=3), app_with(files))
    first = application.cfg
    application.reload()
    assert files.reloads == 1
    assert application.cfg is not first  # gunicorn read the settings again: ours are there
    assert application.cfg.worker_class_str == WORKER_CLASS
    assert application.cfg.workers == 3
    assert application.cfg.worker_exit == application.worker_stopped


def test_with_reload_on_the_firefly_commands_gunicorn_has_no_app_to_reload():
    application = FireflyApplication(Config(metrics=False, reload=True))
    assert application.application is None
    application.reload()  # each new worker builds its own app


def test_the_granian_server_reloads_the_app_its_workers_are_forked_from():
    pytest.importorskip("granian")
    from firefly.server.granian import GranianServer

    files = Files()
    server = GranianServer(Config(metrics=False), app_with(files))
    server.reload()
    assert files.reloads == 1
