"""What happened to each request, for the people who run the app.

- :mod:`~firefly.telemetry.observer`: the record of a finished request, the
  observer interface, and the middleware that times requests and reports them;
- :mod:`~firefly.telemetry.accesslog`: the access log feature and its line formats;
- :mod:`~firefly.telemetry.logfile`: where its lines go (stderr, a rotated file);
- :mod:`~firefly.telemetry.metrics`: Prometheus metrics at ``/-/metrics``.
"""
