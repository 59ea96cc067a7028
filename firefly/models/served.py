"""The loaded versions of every model, and their reload.

Models are loaded when the app is created: before the server forks its
workers, so that the workers share the loaded models' memory. On reload
(SIGHUP to the ``firefly`` command), the files are looked at again in the
process that forks the workers: a new version folder or a replaced file is
loaded, a removed version is dropped, and a version that fails to load keeps
the previously loaded one serving, with the error reported by ``/-/ready``
and the log. The workers started after the reload serve the new state.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.options import MODEL_METHODS
from ..config.settings import ModelConfig
from ..errors import ConfigError, LoadError
from ..loader import load_function
from .frames import FrameSchema, results
from .loaders import load_model
from .repository import ModelSource, VersionSource, find_models, natural_key

logger = logging.getLogger("firefly")

#: A model method as the endpoints call it: ``predict(frame=DataFrame)``, one plain JSON value
#: per row out.
Predict = Callable[..., list[Any]]


@dataclass(frozen=True)
class FileStamp:
    """What tells a replaced model file from the one loaded: its size and modification time."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        """The stamp of ``path`` now."""
        stat = path.stat()
        return cls(stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class LoadedVersion:
    """One model version, loaded: the model, its methods and features, and where it came from."""

    source: VersionSource
    model: Any
    methods: tuple[str, ...]
    schema: FrameSchema
    classes: tuple[Any, ...] | None
    sha256: str
    stamp: FileStamp
    loaded_at: str
    preprocess: Callable[[Any], Any] | None = None
    postprocess: Callable[[list[Any]], Any] | None = None

    @property
    def name(self) -> str:
        """The model's name."""
        return self.source.model

    @property
    def version(self) -> str:
        """The version's name."""
        return self.source.version

    def method(self, method: str) -> Predict:
        """``method`` of the model, with the pre- and postprocessors around it."""
        call = getattr(self.model, method)
        preprocess, postprocess, classes = self.preprocess, self.postprocess, self.classes

        def predict(*, frame: Any) -> list[Any]:
            if preprocess is not None:
                frame = preprocess(frame)
            answer = results(call(frame), method, classes)
            return postprocess(answer) if postprocess is not None else answer

        predict.__name__ = method
        predict.__qualname__ = f"{self.name}.{self.version}.{method}"
        return predict

    def describe(self) -> dict[str, Any]:
        """``GET /<name>/<version>``: what is served, from which file, since when."""
        options = self.source.options
        return {
            "name": self.name,
            "version": self.version,
            "methods": list(self.methods),
            "features": [
                {"name": name, "dtype": dtype} for name, dtype in self.schema.features.items()
            ],
            "classes": [_plain(label) for label in self.classes] if self.classes else None,
            "file": self.source.file.name,
            "format": self.source.file.suffix.lstrip("."),
            "sha256": self.sha256,
            "loaded_at": self.loaded_at,
            "meta": options.meta or {},
            "training": dict(self.source.training),
        }


@dataclass
class ServedModel:
    """A model's loaded versions, in natural order, and its default version."""

    name: str
    versions: dict[str, LoadedVersion]
    default_version: str

    @property
    def default(self) -> LoadedVersion:
        """The version ``POST /<name>/<method>`` serves."""
        return self.versions[self.default_version]

    def describe(self) -> dict[str, Any]:
        """``GET /<name>``: its versions, the default one, and what the default serves."""
        default = self.default.describe()
        return {
            "name": self.name,
            "versions": list(self.versions),
            "default_version": self.default_version,
            "methods": default["methods"],
            "features": default["features"],
            "meta": default["meta"],
        }


@dataclass
class Models:
    """Every model served, by name; :meth:`reload` looks at the files again."""

    configs: tuple[ModelConfig, ...]
    models: dict[str, ServedModel] = field(default_factory=dict)
    #: Why a version could not be (re)loaded, by ``"<name>/<version>"``; it is not served
    #: or the previously loaded file still is.
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, configs: Iterable[ModelConfig]) -> Models:
        """Find and load every model ``configs`` name; raises ConfigError on the first problem."""
        models = cls(tuple(configs))
        for source in find_models(models.configs):
            versions = {version.version: load_version(version) for version in source.versions}
            models.models[source.name] = ServedModel(source.name, versions, source.default_version)
        return models

    def __iter__(self) -> Any:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def reload(self) -> None:
        """Look at the files again: serve new and replaced versions, keep what fails to load."""
        with self._lock:
            try:
                sources = {source.name: source for source in find_models(self.configs)}
            except ConfigError as err:
                self.errors["repository"] = str(err)
                logger.error("model reload: %s; the loaded models keep serving", err)
                return
            self.errors.pop("repository", None)
            for name, source in sources.items():
                if name not in self.models:
                    self.errors[name] = f"model {name!r} is new: restart the server to serve it"
                    logger.warning("model reload: %s", self.errors[name])
                    continue
                self._reload_model(self.models[name], source)

    def _reload_model(self, served: ServedModel, source: ModelSource) -> None:
        versions: dict[str, LoadedVersion] = {}
        for version_source in source.versions:
            key = f"{served.name}/{version_source.version}"
            loaded = served.versions.get(version_source.version)
            if loaded is not None and _unchanged(loaded, version_source):
                versions[version_source.version] = loaded
                self.errors.pop(key, None)
                continue
            try:
                versions[version_source.version] = load_version(version_source)
            except ConfigError as err:
                self.errors[key] = str(err)
                kept = "the loaded file keeps serving" if loaded else "it is not served"
                logger.error("model reload: %s; %s", err, kept)
                if loaded is not None:
                    versions[version_source.version] = loaded
                continue
            self.errors.pop(key, None)
            logger.info("model reload: serving %s from %s", key, version_source.file)
        ordered = sorted(versions, key=natural_key)
        default = source.default_version if source.default_version in versions else ordered[-1]
        served.versions = {version: versions[version] for version in ordered}
        served.default_version = default


def _unchanged(loaded: LoadedVersion, source: VersionSource) -> bool:
    try:
        stamp = FileStamp.of(source.file)
    except OSError:
        return False
    return loaded.source == source and loaded.stamp == stamp


def load_version(source: VersionSource) -> LoadedVersion:
    """Load one version: its file, methods, features and processors; raises ConfigError."""
    what = f"model {source.model!r} version {source.version!r}"
    options = source.options
    try:
        stamp = FileStamp.of(source.file)
        sha256 = _sha256(source.file)
    except OSError as err:
        raise ConfigError(f"{what}: cannot read {str(source.file)!r}: {err.strerror}") from None
    model = load_model(source.file, options.trusted or (), what)
    features = _features(model, options.features, options.preprocess is not None, what)
    return LoadedVersion(
        source=source,
        model=model,
        methods=_methods(model, options.methods, what),
        schema=FrameSchema(features, options.extra == "forbid", options.max_rows),
        classes=tuple(model.classes_) if hasattr(model, "classes_") else None,
        sha256=sha256,
        stamp=stamp,
        loaded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        preprocess=_processor(options.preprocess, "preprocess", what),
        postprocess=_processor(options.postprocess, "postprocess", what),
    )


def _methods(model: Any, configured: Sequence[str] | None, what: str) -> tuple[str, ...]:
    has = tuple(method for method in MODEL_METHODS if callable(getattr(model, method, None)))
    if configured is None:
        if not has:
            raise ConfigError(
                f"{what}: {type(model).__name__} has none of the methods firefly serves"
                f" ({', '.join(MODEL_METHODS)})"
            )
        return has
    for method in configured:
        if method not in has:
            raise ConfigError(
                f"{what}: {type(model).__name__} has no method {method!r}"
                f" (it has: {', '.join(has) or 'none of ' + ', '.join(MODEL_METHODS)})"
            )
    return tuple(configured)


def _features(
    model: Any, configured: Mapping[str, str | None] | None, preprocessed: bool, what: str
) -> dict[str, str | None]:
    """The features records must have, in the model's order, with their dtypes if known.

    Configured features (``model.yml``) give the dtypes; without a preprocessor
    they must be the model's own ``feature_names_in_``, which give the order.
    """
    dtypes: Mapping[str, str] = getattr(model, "feature_dtypes", {})  # ONNX models know theirs
    names = getattr(model, "feature_names_in_", None)
    if configured is not None:
        if names is not None and not preprocessed:
            own = [str(name) for name in names]
            if set(own) != set(configured):
                missing = [name for name in own if name not in configured]
                extra = [name for name in configured if name not in own]
                raise ConfigError(
                    f"{what}: the features listed in model.yml are not the model's"
                    f" (feature_names_in_): missing {missing}, not the model's {extra}"
                )
            configured = {name: configured[name] for name in own}
        return {name: dtype or dtypes.get(name) for name, dtype in configured.items()}
    if names is None:
        raise ConfigError(
            f"{what}: {type(model).__name__} has no feature names: fit it on a pandas DataFrame"
            " (so that feature_names_in_ is set), or list its features in model.yml"
        )
    return {str(name): dtypes.get(str(name)) for name in names}


def _processor(dotted: str | None, kind: str, what: str) -> Callable[[Any], Any] | None:
    if dotted is None:
        return None
    try:
        return load_function(dotted)
    except LoadError as err:
        raise ConfigError(f"{what}: {kind}: {err}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
