"""What a function accepts and returns, from its type hints: JSON Schemas and validation.

pydantic does the work. At start-up the parameters of a function become the
keys of a ``TypedDict`` (required ones without a default, the others
``NotRequired``), and one pydantic validator is built for it; each request then
costs one call to that validator, which coerces in lax mode (``"4"`` becomes
``4`` for an ``int``) and returns only the arguments the caller gave, so the
function's own defaults apply as in plain Python. docs/validation.rst is the
user's side of this module.

pydantic is imported only when a schema is built, so ``import firefly`` stays
light.
"""

from __future__ import annotations

import inspect
import io
import logging
import types
import typing
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeGuard, Union, get_args, get_origin

from werkzeug.datastructures import FileStorage

from .errors import ValidationError
from .protocol import MAX_LISTED_ERRORS, argument_error, arguments_error

if TYPE_CHECKING:
    from pydantic import TypeAdapter

FILE_SCHEMA: dict[str, Any] = {"type": "string", "format": "binary"}
"""The JSON Schema of a file parameter or result (OpenAPI 3.1's multipart upload)."""

logger = logging.getLogger("firefly")

DEFAULT_REF_TEMPLATE = "#/$defs/{model}"
LONG_NUMBER = 20
"""Numbers of more characters than this are shortened in messages (``1e+100``, not 101 digits)."""

# pydantic's message of each limit error, before the limit it names (its ``ctx`` key).
_LIMIT_MESSAGES = {
    "greater_than": ("gt", "Input should be greater than "),
    "greater_than_equal": ("ge", "Input should be greater than or equal to "),
    "less_than": ("lt", "Input should be less than "),
    "less_than_equal": ("le", "Input should be less than or equal to "),
    "multiple_of": ("multiple_of", "Input should be a multiple of "),
}

_UNION_TYPES = (Union, types.UnionType)


class FunctionSchema:
    """What a function accepts and returns, from its type hints; built once at start-up.

    :param name: the function's name, used in error messages and titles.
    :param arguments: the pydantic adapter of the arguments ``TypedDict``.
    :param result: the pydantic adapter of the return annotation, if it has one.
    :param defaults: the parameters' defaults that have a JSON form, in that form.
    """

    def __init__(
        self,
        name: str,
        arguments: TypeAdapter[Any],
        result: TypeAdapter[Any] | None,
        *,
        hinted: bool,
        declared: tuple[str, ...],
        defaults: dict[str, Any],
        files: frozenset[str],
        returns_file: bool,
        doc: str,
    ):
        from pydantic_core import ValidationError as PydanticValidationError

        self.name = name
        self.hinted = hinted
        self.declared = declared
        self.files = files
        self.returns_file = returns_file
        self.doc = doc
        self.summary, self.description = _split_docstring(doc)
        self._arguments = arguments
        self._result = result
        self._defaults = defaults
        self._validate = arguments.validator.validate_python
        self._invalid = PydanticValidationError

    @classmethod
    def for_function(
        cls, name: str, func: Callable[..., Any], signature: inspect.Signature
    ) -> FunctionSchema:
        """Build the schema of ``func`` served as ``name``.

        Annotations pydantic cannot resolve or build a schema for are taken as
        ``Any``, so an unusual hint never stops the server from starting.
        """
        hinted = signature.return_annotation is not signature.empty or any(
            parameter.annotation is not parameter.empty
            for parameter in signature.parameters.values()
        )
        resolved = _resolve_annotations(func, signature)
        module = getattr(func, "__module__", None) or __name__
        fields: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        files: set[str] = set()
        extra_items: Any = None
        for parameter in resolved.parameters.values():
            kind = parameter.kind
            if kind is parameter.VAR_POSITIONAL or kind is parameter.POSITIONAL_ONLY:
                continue  # never passed by name: firefly cannot fill them
            annotation = _field_type(name, parameter, module)
            if _is_file(parameter.annotation):
                files.add(parameter.name)
            if kind is parameter.VAR_KEYWORD:
                extra_items = annotation
            elif parameter.default is parameter.empty:
                fields[parameter.name] = annotation
            else:
                fields[parameter.name] = _not_required(annotation)
                defaults[parameter.name] = parameter.default
        arguments = _typed_dict_adapter(f"{name} arguments", module, fields, extra_items)
        return_annotation = resolved.return_annotation
        return cls(
            name,
            arguments,
            _result_adapter(return_annotation),
            hinted=hinted,
            declared=tuple(fields),
            defaults=_json_defaults(arguments, defaults),
            files=frozenset(files),
            returns_file=_is_file(return_annotation),
            doc=inspect.getdoc(func) or "",
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated (lax-coerced) keyword arguments; raises firefly.errors.ValidationError."""
        try:
            validated: dict[str, Any] = self._validate(arguments)
        except self._invalid as error:
            raise self._validation_error(error, arguments) from None
        return validated

    def arguments_json_schema(self, ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
        """The JSON Schema of the request's JSON object: one property per argument.

        ``ref_template`` places the definitions of nested models (pydantic's
        ``{model}`` placeholder), e.g. ``"#/components/schemas/{model}"``.
        """
        schema = self._arguments.json_schema(ref_template=ref_template)
        for name, default in self._defaults.items():
            schema["properties"][name]["default"] = default
        return schema

    def result_json_schema(self, ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
        """The JSON Schema of the return value as firefly encodes it; ``{}`` when unannotated."""
        if self.returns_file:
            return dict(FILE_SCHEMA)
        if self._result is None:
            return {}
        return self._result.json_schema(mode="serialization", ref_template=ref_template)

    def _validation_error(self, error: Any, arguments: dict[str, Any]) -> ValidationError:
        """The 422 of pydantic's ``error``: its first problems, and how many more there are."""
        dropped = 0  # errors of the arguments left out: one each, unless **kwargs has a hint
        if error.error_count() > MAX_LISTED_ERRORS:  # list those of fewer arguments, the first
            first = self._first_arguments(arguments)
            try:
                if len(first) < len(arguments):
                    self._validate(first)
            except self._invalid as first_error:
                dropped = error.error_count() - first_error.error_count()
                error, arguments = first_error, first
        errors = error.errors(include_url=False, include_context=True, include_input=True)
        described, unlisted = _first_problems(errors, arguments)
        return arguments_error(self.name, described, unlisted + dropped)

    def _first_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The declared arguments sent and the first few others, found without reading them all."""
        first = {name: arguments[name] for name in self.declared if name in arguments}
        others = (name for name in arguments if name not in first)
        first.update((name, arguments[name]) for name in islice(others, MAX_LISTED_ERRORS))
        return first


def _split_docstring(doc: str) -> tuple[str, str]:
    """The summary (first paragraph, on one line) and the description (the rest)."""
    first, _, rest = doc.strip().partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _resolve_annotations(
    func: Callable[..., Any], signature: inspect.Signature
) -> inspect.Signature:
    """The signature with string annotations (``from __future__ import annotations``) evaluated."""
    try:
        return inspect.signature(func, eval_str=True)
    except Exception:  # evaluating user annotations can raise anything; pydantic retries each
        return signature


def _is_file(annotation: Any) -> bool:
    """Whether ``annotation`` names a file object (``X | None`` included)."""
    if get_origin(annotation) in _UNION_TYPES:
        members = [member for member in get_args(annotation) if member is not type(None)]
        return bool(members) and all(_is_file(member) for member in members)
    cls = get_origin(annotation) or annotation
    if not isinstance(cls, type):
        return False
    return issubclass(cls, (typing.IO, io.IOBase, FileStorage))


def _field_type(function_name: str, parameter: inspect.Parameter, module: str) -> Any:
    """What pydantic validates a parameter as: its annotation when pydantic can, else Any."""
    annotation = parameter.annotation
    if annotation is parameter.empty:
        return Any
    if _is_file(annotation):
        return _file_type()
    from pydantic import PydanticUserError

    try:
        _typed_dict_adapter("probe", module, {"value": annotation}, None).json_schema()
    except (PydanticUserError, NameError, TypeError, ValueError) as error:
        logger.warning(
            "%s(): argument %r accepts any value: its hint %r has no pydantic schema (%s)",
            function_name,
            parameter.name,
            annotation,
            str(error).partition("\n")[0],
        )
        return Any
    return annotation


def _file_type() -> Any:
    """A file object as it arrives, unchanged; anything without ``read()`` is refused."""
    from typing import Annotated

    from pydantic import PlainValidator, WithJsonSchema
    from pydantic_core import PydanticCustomError

    def check_file(value: Any) -> Any:
        if callable(getattr(value, "read", None)):
            return value
        raise PydanticCustomError(
            "file_type", "Input should be a file: send it as a multipart/form-data file part"
        )

    return Annotated[Any, PlainValidator(check_file), WithJsonSchema(FILE_SCHEMA)]


def _not_required(annotation: Any) -> Any:
    from typing_extensions import NotRequired

    return NotRequired[annotation]


def _typed_dict_adapter(
    title: str, module: str, fields: dict[str, Any], extra_items: Any
) -> TypeAdapter[Any]:
    """The adapter of a TypedDict of ``fields``, closed unless ``extra_items`` types extra keys."""
    from pydantic import ConfigDict, TypeAdapter
    from typing_extensions import TypedDict

    # The functional form, because the keys are parameter names known only at run
    # time; typed as Any because mypy accepts that form only with a literal dict.
    make_typed_dict: Any = TypedDict
    if extra_items is None:
        typed_dict = make_typed_dict(title, fields, closed=True)
    else:
        typed_dict = make_typed_dict(title, fields, extra_items=extra_items)
    typed_dict.__module__ = module  # forward references resolve in the function's module
    typed_dict.__pydantic_config__ = ConfigDict(title=title)
    return TypeAdapter(typed_dict)


def _json_defaults(arguments: TypeAdapter[Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Each default in its JSON form, as its argument's type serializes it; others are left out."""
    from pydantic_core import PydanticSerializationError

    encoded = {}
    for name, default in defaults.items():
        try:
            dumped = arguments.dump_python({name: default}, mode="json", warnings=False)
        except (PydanticSerializationError, TypeError, ValueError):
            continue
        encoded[name] = dumped[name]
    return encoded


def _result_adapter(annotation: Any) -> TypeAdapter[Any] | None:
    """The adapter of a return annotation that pydantic can describe, else None."""
    if annotation is inspect.Signature.empty or _is_file(annotation):
        return None
    from pydantic import PydanticUserError, TypeAdapter

    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        adapter.json_schema(mode="serialization")
    except (PydanticUserError, NameError, TypeError, ValueError):
        return None
    return adapter


def _describe_error(error: Any, location: list[Any]) -> dict[str, Any]:
    """One pydantic error at ``location`` as ``{"argument", "location", "message", "type"}``."""
    return argument_error(
        location[0] if location else None, _message(error), error["type"], location[1:]
    )


def _message(error: Any) -> str:
    """pydantic's message, with the numbers it would print in full digits kept short.

    pydantic prints float limits digit by digit (``le=1e100`` as 101 digits),
    and calls a float too large for an integer an "input string". Both get a
    short message here, with the numbers as :func:`repr` writes them.
    """
    kind, message, value = error["type"], error["msg"], error.get("input")
    if kind == "int_parsing_size" and _is_number(value):
        return (
            f"Input should be a valid integer, got {_short_number(value)}, which is out of range"
            " (a float must be below 2**63 in magnitude)"
        )
    if kind in _LIMIT_MESSAGES:
        key, prefix = _LIMIT_MESSAGES[kind]
        limit = (error.get("ctx") or {}).get(key)
        printed = message.removeprefix(prefix)
        if _is_number(limit) and message.startswith(prefix) and len(printed) > LONG_NUMBER:
            return prefix + _short_number(limit)
    return str(message)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short_number(value: int | float) -> str:
    """``value`` as a caller would write it: ``1e+200``, ``2.5``, ``1e+120`` for ``10**120``."""
    if isinstance(value, float):
        return repr(value)
    if abs(value) < 10**LONG_NUMBER:
        return str(value)
    from decimal import Decimal  # str() of an int of thousands of digits raises

    return f"{Decimal(value).normalize():e}"


def _input_location(
    location: tuple[Any, ...], arguments: dict[str, Any], missing: bool
) -> list[Any]:
    """The steps of pydantic's ``loc`` that are keys and indexes of the input.

    For a union (``int | float``) pydantic adds the name of each member it
    tried (``"int"``, ``"constrained-float"``); those name no place in the
    input, so they are left out. The last step of a ``missing`` error is the
    absent key, and is kept.
    """
    steps: list[Any] = []
    value: Any = arguments
    for index, step in enumerate(location):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        elif not (missing and index == len(location) - 1):
            continue
        steps.append(step)
    return steps


def _first_problems(
    errors: list[Any], arguments: dict[str, Any]
) -> tuple[list[dict[str, Any]], int]:
    """The first places in error, one entry each ("A, or b" for a union), and how many others."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    unlisted: set[tuple[Any, ...]] = set()
    for error in errors:
        location = _input_location(error["loc"], arguments, missing=error["type"] == "missing")
        place = tuple(location)
        if place in merged:
            message = _message(error)
            merged[place]["message"] += f", or {message[0].lower()}{message[1:]}"
        elif len(merged) < MAX_LISTED_ERRORS:
            merged[place] = _describe_error(error, location)
        else:
            unlisted.add(place)
    return list(merged.values()), len(unlisted)
