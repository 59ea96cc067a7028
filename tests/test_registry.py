import pytest

from firefly.errors import ConfigError
from firefly.registry import FunctionSpec, Registry


def square(n):
    """Return the square.

    Indented details.
    """
    return n**2


def options(a, b=2, *args, c=None, d=object, **kwargs):
    return a


def test_spec_defaults_name_and_path_from_the_function():
    spec = FunctionSpec.create(square)
    assert (spec.name, spec.path) == ("square", "/square")
    assert spec.doc == "Return the square.\n\nIndented details."


def test_describe_lists_parameters_with_kind_and_default():
    described = FunctionSpec.create(options, name="opts", path="/o").describe()
    assert described["path"] == "/o"
    assert described["parameters"] == [
        {"name": "a", "kind": "POSITIONAL_OR_KEYWORD"},
        {"name": "b", "kind": "POSITIONAL_OR_KEYWORD", "default": 2},
        {"name": "args", "kind": "VAR_POSITIONAL"},
        {"name": "c", "kind": "KEYWORD_ONLY", "default": None},
        {"name": "d", "kind": "KEYWORD_ONLY", "default": "<class 'object'>"},
        {"name": "kwargs", "kind": "VAR_KEYWORD"},
    ]


def test_load_imports_the_function():
    spec = FunctionSpec.load("tests.apps.funcs.cube", name="c", path="/c")
    assert spec.func(n=2) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "square"}, "must start with '/'"),
    ],
)
def test_invalid_paths_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FunctionSpec.create(square, **kwargs)


def test_positional_only_parameters_without_default_are_refused():
    def f(x, /):
        return x

    with pytest.raises(ConfigError, match="positional-only parameter 'x'"):
        FunctionSpec.create(f)


def test_registry_refuses_a_taken_path_or_name():
    registry = Registry()
    registry.add(FunctionSpec.create(square))
    here = __name__
    with pytest.raises(
        ConfigError,
        match=rf"path '/square' is served twice: by 'square' \({here}.square\) and 'options'"
        rf" \({here}.options\)",
    ):
        registry.add(FunctionSpec.create(options, path="/square"))
    with pytest.raises(
        ConfigError, match=rf"name 'square' is used twice: by {here}.square and {here}.options"
    ):
        registry.add(FunctionSpec.create(options, name="square", path="/other"))
    assert [spec.name for spec in registry] == ["square"]
