import re

import pytest

from firefly.errors import LoadError
from firefly.loader import load_function, split_function_name


def test_loads_a_function_by_module_and_name():
    function = load_function("tests.apps.funcs.square")
    assert function(n=3) == 9


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("square", "write it as MODULE.FUNCTION"),
        ("funcs.", "write it as MODULE.FUNCTION"),
        ("nosuchmodule.square", "no module named 'nosuchmodule'"),
        ("tests.apps.funcs.nosuch", "has no attribute 'nosuch'"),
        ("tests.apps.funcs.squar", "did you mean 'square'?"),
        ("tests.apps.broken.anything", "raised ZeroDivisionError"),
        ("tests.apps.funcs.ANSWER", "'ANSWER' is not callable (it is of type 'int')"),
        ("tests.apps.needs_missing.f", "importing 'tests.apps.needs_missing' failed"),
    ],
)
def test_errors_name_the_module_and_attribute(spec, message):
    with pytest.raises(LoadError, match=re.escape(message)):
        load_function(spec)


def test_split_function_name_keeps_packages():
    assert split_function_name("a.b.c") == ("a.b", "c")
