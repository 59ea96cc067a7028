"""Models served from files: a repository of ``<name>/<version>/`` folders, one model file each.

- :mod:`~firefly.models.repository`: finds the versions a config names, and their ``model.yml``;
- :mod:`~firefly.models.loaders`: loads a model file by its kind (joblib, pickle, skops, ONNX);
- :mod:`~firefly.models.frames`: JSON records to the DataFrame a model expects, results to JSON;
- :mod:`~firefly.models.served`: the loaded versions of every model, reloaded on SIGHUP;
- :mod:`~firefly.models.endpoint`: ``POST /<name>[/<version>]/<method>`` on the fast path;
- :mod:`~firefly.models.feature`: the feature that serves them, describes them and reports them;
- :mod:`~firefly.models.onnx`: ONNX files on onnxruntime; :mod:`~firefly.models.onnxconvert`
  writes and checks them with skl2onnx;
- :mod:`~firefly.models.v2`: the Open Inference Protocol (V2) for them; its infer endpoint
  (``v2infer``), request (``v2request``), tensors (``v2tensors``), metadata and OpenAPI;
- :mod:`~firefly.models.training`: ``firefly train``, which writes a new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from ..features import Feature

#: What serving models imports beyond firefly's own requirements (the ``models`` extra).
MODELS_NEED = ("numpy", "pandas")


def model_features(settings: Config) -> list[Feature]:
    """The features that serve ``settings.models``: the models, and V2 over the same ones.

    Importing this package loads nothing heavy: NumPy and pandas are imported
    here, only when models are served.

    :raises ConfigError: a model cannot be served, or NumPy or pandas is missing.
    """
    try:
        from .feature import ModelsFeature
    except ModuleNotFoundError as err:
        if err.name not in MODELS_NEED:
            raise
        raise ConfigError(
            f"serving models needs {err.name}: pip install firefly-python[models]"
        ) from None
    from .v2 import V2Feature

    served = ModelsFeature(settings)
    return [served, V2Feature(settings, served.models)]
