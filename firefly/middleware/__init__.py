"""The WSGI middleware around every request, one a module: request ids, CORS, the token.

:mod:`firefly.app` wraps them around the app once, outermost first: request id,
telemetry, CORS, token.
"""
