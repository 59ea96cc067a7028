"""The servers the ``firefly`` command embeds: gunicorn today (:mod:`~firefly.server.gunicorn`)."""

from .gunicorn import AppConfigError, FireflyApplication, build_app

__all__ = ["AppConfigError", "FireflyApplication", "build_app"]
