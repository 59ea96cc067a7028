"""Where models come from: the version folders a config names, each with its ``model.yml``.

A repository is a folder of ``<name>/<version>/`` folders, each holding one
model file (``model.joblib``, ``model.pkl``, ``model.skops``, ``model.onnx``)
and optionally ``model.yml``::

    models/
      churn/
        v1/model.joblib
        v2/model.joblib
        v2/model.yml

Hidden folders (a name starting with ``.``) are left out, so that a version
can be written in one beside its place and renamed into it when complete.
Versions are ordered naturally (``v10`` after ``v9``); the default version is
the highest, unless the config names one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config.options import MODEL_METHODS, ModelOptions
from ..config.parsers import describe
from ..config.settings import ModelConfig
from ..errors import ConfigError

#: Model file suffixes, by the kind of file they are.
MODEL_SUFFIXES = (".joblib", ".pkl", ".skops", ".onnx")
MANIFEST_NAME = "model.yml"
#: A model's name or version: one URL path segment, not starting with ``-`` (``/-/`` is firefly's).
SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.~-]*$")
#: Names that would hide firefly's own paths.
RESERVED_NAMES = frozenset({"v2", "docs", "openapi.json", "static"})


@dataclass(frozen=True)
class VersionSource:
    """One version of a model, as found on disk: its file and its options."""

    model: str
    version: str
    file: Path
    options: ModelOptions = field(default_factory=ModelOptions)
    #: What ``firefly train`` recorded in ``model.yml`` (features, rows, metrics, ...).
    training: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSource:
    """A model's versions, in natural order, and the one served by default."""

    name: str
    versions: tuple[VersionSource, ...]
    default_version: str

    def version(self, version: str) -> VersionSource | None:
        """The version named ``version``, if there is one."""
        return next((source for source in self.versions if source.version == version), None)


def natural_key(version: str) -> tuple[Any, ...]:
    """Sort key of a version name: numbers by value, so that ``v10`` comes after ``v9``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", version)
        if part
    )


def find_models(configs: Iterable[ModelConfig]) -> tuple[ModelSource, ...]:
    """Every model the configs name, with its versions; raises ConfigError on the first problem."""
    models: dict[str, ModelSource] = {}
    for config in configs:
        for model in _models_of(config):
            if model.name in models:
                raise ConfigError(
                    f"model {model.name!r} is named twice: in {config.path!r} and before it;"
                    " give one of them another name"
                )
            models[model.name] = model
    return tuple(models.values())


def _models_of(config: ModelConfig) -> list[ModelSource]:
    path = Path(config.path)
    if config.name is None:
        if not path.is_dir():
            raise ConfigError(f"model repository {config.path!r} is not a folder")
        folders = sorted(child for child in path.iterdir() if _is_folder(child))
        if not folders:
            raise ConfigError(
                f"model repository {config.path!r} holds no model: expected"
                f" {config.path.rstrip('/')}/<name>/<version>/model.joblib"
            )
        return [_model_folder(folder.name, folder, config) for folder in folders]
    check_name("model", config.name)
    if path.is_dir():
        return [_model_folder(config.name, path, config)]
    if not path.exists():
        raise ConfigError(f"model {config.name!r}: {config.path!r} does not exist")
    _check_suffix(path, config.name)
    check_name("version", config.version, config.name)
    source = VersionSource(config.name, config.version, path, config.options)
    return [ModelSource(config.name, (source,), config.version)]


def _model_folder(name: str, folder: Path, config: ModelConfig) -> ModelSource:
    check_name("model", name)
    version_folders = [child for child in folder.iterdir() if _is_folder(child)]
    if not version_folders:
        raise ConfigError(
            f"model {name!r}: {str(folder)!r} holds no version folder: expected"
            f" {folder}/<version>/model.joblib"
        )
    versions = sorted(
        (read_version(name, child, config.options) for child in version_folders),
        key=lambda source: natural_key(source.version),
    )
    names = [source.version for source in versions]
    default = config.default_version or names[-1]
    if default not in names:
        raise ConfigError(
            f"model {name!r}: the default version {default!r} was not found;"
            f" versions: {', '.join(names)}"
        )
    return ModelSource(name, tuple(versions), default)


def read_version(name: str, folder: Path, overrides: ModelOptions) -> VersionSource:
    """The version in ``folder``: its ``model.yml`` read, under the config's ``overrides``."""
    version = folder.name
    check_name("version", version, name)
    manifest, training = read_manifest(folder / MANIFEST_NAME)
    options = overrides.over(manifest)
    return VersionSource(name, version, _model_file(name, folder, options.file), options, training)


def read_manifest(path: Path) -> tuple[ModelOptions, dict[str, Any]]:
    """A version's ``model.yml``: its options, and what training recorded; none when absent."""
    if not path.exists():
        return ModelOptions(), {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {str(path)!r}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None
    if document is None:
        return ModelOptions(), {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping, got {describe(document)}")
    training = document.pop("training", None) or {}
    if not isinstance(training, dict):
        raise ConfigError(f"{path}: training: expected a mapping, got {describe(training)}")
    return ModelOptions.parse(document, str(path)), training


def _model_file(name: str, folder: Path, chosen: str | None) -> Path:
    if chosen is not None:
        path = folder / chosen
        if not path.is_file():
            raise ConfigError(
                f"model {name!r}: file {str(path)!r} (named by 'file') does not exist"
            )
        _check_suffix(path, name)
        return path
    files = sorted(child for child in folder.iterdir() if child.suffix in MODEL_SUFFIXES)
    if not files:
        others = sorted(child.name for child in folder.iterdir() if child.name != MANIFEST_NAME)
        found = f"; found: {', '.join(others)}" if others else ""
        raise ConfigError(
            f"model {name!r} version {folder.name!r}: no model file in {str(folder)!r}"
            f" (expected one of {', '.join('model' + suffix for suffix in MODEL_SUFFIXES)}){found}"
        )
    if len(files) > 1:
        raise ConfigError(
            f"model {name!r} version {folder.name!r}: {str(folder)!r} holds several model files"
            f" ({', '.join(file.name for file in files)}): name the one to serve with 'file:'"
            f" in {MANIFEST_NAME}"
        )
    return files[0]


def _is_folder(path: Path) -> bool:
    """A folder to look into: hidden ones (``.staging-...`` of a version being written) are not."""
    return path.is_dir() and not path.name.startswith(".")


def _check_suffix(path: Path, model: str) -> None:
    if path.suffix not in MODEL_SUFFIXES:
        raise ConfigError(
            f"model {model!r}: file {str(path)!r}: unknown kind {path.suffix or '(no suffix)'!r};"
            f" expected one of {', '.join(MODEL_SUFFIXES)}"
        )


def check_name(kind: str, value: str, model: str | None = None) -> str:
    """``value`` if it can name a ``kind`` (model or version) folder and URL segment.

    :param model: the model a version belongs to, for the message.
    :raises ConfigError: naming the problem.
    """
    where = f"model {model!r}: " if model else ""
    if not SEGMENT.match(value):
        raise ConfigError(
            f"{where}{kind} name {value!r} cannot be a URL path segment: use letters, digits,"
            " '_', '.', '-' and '~', not starting with '-' or '.'"
        )
    if kind == "version" and value in MODEL_METHODS:
        raise ConfigError(
            f"{where}version {value!r} is named like a method: POST /{model or '<model>'}/{value}"
            " would be ambiguous; rename it"
        )
    if kind == "model" and value in RESERVED_NAMES:
        raise ConfigError(f"model name {value!r} is reserved for firefly's own paths: rename it")
    return value
