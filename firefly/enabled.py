"""Which features the settings switch on, and in which order: the one place that chooses them."""

from __future__ import annotations

from .config import Config
from .executions import ExecutionsFeature
from .features import Feature
from .models import model_features
from .predictionlog import PredictionLogFeature, logs_models
from .routes.docs import DocsFeature
from .routes.health import HealthFeature
from .routes.index import IndexFeature
from .telemetry.accesslog import AccessLogFeature
from .telemetry.metrics import MetricsFeature


def enabled_features(settings: Config) -> tuple[Feature, ...]:
    """The features ``settings`` switch on, in the order they wrap calls and observe requests."""
    features: list[Feature] = [IndexFeature(settings), HealthFeature(settings)]
    if settings.models:
        features += model_features(settings)
    if settings.docs:
        features.append(DocsFeature(settings))
    if settings.access_log:
        features.append(AccessLogFeature(settings))
    if settings.metrics:
        features.append(MetricsFeature(settings))
    if settings.executions:  # before the prediction log, which does not log a 202
        features.append(ExecutionsFeature(settings))
    if settings.prediction_log or logs_models(settings, features):
        features.append(PredictionLogFeature(settings))
    return tuple(features)
