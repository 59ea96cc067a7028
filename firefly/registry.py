"""What an app calls: one :class:`FunctionSpec` per function, in a :class:`Registry`, and one
:class:`ModelSpec` per method of a model version it serves."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .config.options import FunctionOptions
from .errors import ConfigError
from .loader import load_function
from .schema import FunctionSchema


@dataclass(frozen=True)
class FunctionSpec:
    """A function served at ``path`` under ``name``, with what is known of it at start-up."""

    name: str
    path: str
    func: Callable[..., Any]
    signature: inspect.Signature
    schema: FunctionSchema
    options: FunctionOptions = field(default_factory=FunctionOptions)

    @classmethod
    def create(
        cls,
        func: Callable[..., Any],
        name: str | None = None,
        path: str | None = None,
        options: FunctionOptions | None = None,
    ) -> FunctionSpec:
        """Describe ``func``; ``name`` defaults to its ``__name__``, ``path`` to ``/<name>``."""
        name = name or getattr(func, "__name__", None)
        if not name:
            raise ConfigError(f"{func!r} has no __name__: give it a name")
        path = path or f"/{name}"
        if not path.startswith("/"):
            raise ConfigError(f"path {path!r} of function {name!r} must start with '/'")
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"cannot read the signature of {name!r}: {err}") from None
        _check_callable_by_name(name, signature)
        schema = FunctionSchema.for_function(name, func, signature)
        return cls(name, path, func, signature, schema, options or FunctionOptions())

    @classmethod
    def load(
        cls,
        function: str,
        name: str | None = None,
        path: str | None = None,
        options: FunctionOptions | None = None,
    ) -> FunctionSpec:
        """Import ``function`` (MODULE.FUNCTION) and describe it."""
        return cls.create(load_function(function), name=name, path=path, options=options)

    @property
    def doc(self) -> str:
        """The function's docstring, cleaned of indentation; empty when it has none."""
        return self.schema.doc

    @property
    def origin(self) -> str:
        """Where the function is defined, as ``module.qualname`` (for error messages)."""
        module = getattr(self.func, "__module__", None) or "?"
        return f"{module}.{getattr(self.func, '__qualname__', self.name)}"

    def describe(self) -> dict[str, Any]:
        """The function's entry in ``GET /``: path, doc and parameters."""
        return {"path": self.path, "doc": self.doc, "parameters": self.parameters()}

    def parameters(self) -> list[dict[str, Any]]:
        """Each parameter as ``{"name", "kind", "default"?}`` (DESIGN.md)."""
        described = []
        for parameter in self.signature.parameters.values():
            entry: dict[str, Any] = {"name": parameter.name, "kind": parameter.kind.name}
            if parameter.default is not parameter.empty:
                entry["default"] = _json_safe(parameter.default)
            described.append(entry)
        return described


@dataclass(frozen=True)
class ModelSpec:
    """A method of a model version, served at ``path``: what features see of a model call.

    Its ``func`` takes the DataFrame of a request's records by keyword
    (``func(frame=...)``) and returns one plain JSON value per record.
    """

    model: str
    version: str
    method: str
    path: str
    func: Callable[..., Any]
    #: Whether its calls go to the prediction log (the ``log`` option); None: the app's setting.
    log: bool | None = None

    @property
    def name(self) -> str:
        """``<model>/<version>/<method>``: how logs and metrics name its calls."""
        return f"{self.model}/{self.version}/{self.method}"


#: What a call pipeline is built for: a function, or a model method.
CallSpec = FunctionSpec | ModelSpec


def _check_callable_by_name(name: str, signature: inspect.Signature) -> None:
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.POSITIONAL_ONLY and parameter.default is parameter.empty:
            raise ConfigError(
                f"function {name!r} has the positional-only parameter {parameter.name!r};"
                " firefly passes arguments by name"
            )


class Registry:
    """The served functions, by path, refusing two functions at one path or name."""

    def __init__(self) -> None:
        self._by_path: dict[str, FunctionSpec] = {}

    def add(self, spec: FunctionSpec) -> None:
        """Add ``spec``; raises ConfigError when its name or path is taken."""
        taken = self._by_path.get(spec.path)
        if taken is not None:
            raise ConfigError(
                f"path {spec.path!r} is served twice: by {taken.name!r} ({taken.origin}) and"
                f" {spec.name!r} ({spec.origin})"
            )
        for existing in self:
            if existing.name == spec.name:
                raise ConfigError(
                    f"function name {spec.name!r} is used twice: by {existing.origin} and"
                    f" {spec.origin}; give one of them another name"
                )
        self._by_path[spec.path] = spec

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._by_path.values())

    def __len__(self) -> int:
        return len(self._by_path)


def _json_safe(value: Any) -> Any:
    """``value`` when JSON can hold it as it is, else its repr (for the index)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return repr(value)
