"""Models served from files: a repository of ``<name>/<version>/`` folders, one model file each.

- :mod:`~firefly.models.repository`: finds the versions a config names, and their ``model.yml``;
- :mod:`~firefly.models.loaders`: loads a model file by its kind (joblib, pickle, skops, ONNX);
- :mod:`~firefly.models.frames`: JSON records to the DataFrame a model expects, results to JSON;
- :mod:`~firefly.models.served`: the loaded versions of every model, reloaded on SIGHUP;
- :mod:`~firefly.models.endpoint`: ``POST /<name>[/<version>]/<method>`` on the fast path;
- :mod:`~firefly.models.feature`: the feature that serves them, describes them and reports them;
- :mod:`~firefly.models.onnx`: ONNX files on onnxruntime, and conversion with skl2onnx;
- :mod:`~firefly.models.v2`: the Open Inference Protocol (V2) for them; its infer endpoint
  (``v2infer``), request (``v2request``), tensors (``v2tensors``), metadata and OpenAPI;
- :mod:`~firefly.models.training`: ``firefly train``, which writes a new version.
"""
