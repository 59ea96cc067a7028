"""The features that are Flask routes, fed data rather than the app: index, health, docs.

:mod:`~firefly.routes.openapi` builds the OpenAPI document they and the
functions make up; :mod:`~firefly.routes.docs` serves it with the docs page.
"""
