import dataclasses
import datetime
import enum
import sys
import uuid

import numpy as np
import pandas as pd
import pydantic
import pytest

from firefly import encoding


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2.5, None, True, "x"]}, b'{"a":[1,2.5,null,true,"x"]}'),
        (np.int64(3), b"3"),
        (np.float64(0.25), b"0.25"),
        (np.bool_(True), b"true"),
        (np.arange(4).reshape(2, 2), b"[[0,1],[2,3]]"),
        (np.arange(10)[::3], b"[0,3,6,9]"),  # not contiguous: through default()
        (np.array(["a", "b"]), b'["a","b"]'),  # a dtype orjson does not take natively
        (pd.Series([1, 2]), b"[1,2]"),
        (pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), b'[{"x":1,"y":"a"},{"x":2,"y":"b"}]'),
        (pd.Timestamp("2024-01-02T03:04:05"), b'"2024-01-02T03:04:05"'),
        (datetime.date(2024, 1, 2), b'"2024-01-02"'),
        ({1: "a"}, b'{"1":"a"}'),
        ({3}, b"[3]"),
    ],
)
def test_dumps_gives_plain_json(value, expected):
    assert encoding.dumps(value) == expected


def test_dumps_refuses_unknown_objects_with_type_error():
    with pytest.raises(TypeError, match="object"):
        encoding.dumps(object())


def test_loads_raises_a_value_error_on_malformed_json():
    with pytest.raises(ValueError):
        encoding.loads(b"{nope")
    assert encoding.loads(b'{"n": 4}') == {"n": 4}


def test_encoding_module_does_not_import_numpy_pandas_or_pydantic(tmp_path):
    import subprocess

    code = (
        "import sys, firefly.encoding as e; e.dumps({'a': 1}); e.dumps(2**64);"
        "print([m in sys.modules for m in ('numpy', 'pandas', 'pydantic')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[False, False, False]"


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Item(pydantic.BaseModel):
    name: str
    price: float
    tags: set[str] = set()
    made: datetime.date | None = None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Color.RED, b'"red"'),
        (Point(1), b'{"x":1,"y":0}'),
        (
            Item(name="a", price=2, made="2024-01-02"),
            b'{"name":"a","price":2.0,"tags":[],"made":"2024-01-02"}',
        ),
        ([Item(name="b", price=1.5)], b'[{"name":"b","price":1.5,"tags":[],"made":null}]'),
    ],
)
def test_dumps_encodes_enums_dataclasses_and_pydantic_models(value, expected):
    assert encoding.dumps(value) == expected


BIG = 2**64


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (BIG, b"18446744073709551616"),
        (-(2**63) - 1, b"-9223372036854775809"),
        ([1, BIG, 2.5, None, True, "é"], '[1,18446744073709551616,2.5,null,true,"é"]'.encode()),
        (
            {"when": datetime.datetime(2024, 1, 2, 3, 4, 5), "day": datetime.date(2024, 1, 2)},
            b'{"when":"2024-01-02T03:04:05","day":"2024-01-02"}',
        ),
        (
            {"color": Color.RED, "id": uuid.UUID(int=1), "keys": {7: BIG}},
            b'{"color":"red","id":"00000000-0000-0000-0000-000000000001",'
            b'"keys":{"7":18446744073709551616}}',
        ),
        (Point(BIG), b'{"x":18446744073709551616,"y":0}'),
        (
            Item(name="c", price=1e300, tags={"t"}, made="2024-01-02"),
            b'{"name":"c","price":1e+300,"tags":["t"],"made":"2024-01-02"}',
        ),
        (
            [Item(name="d", price=1), BIG],
            b'[{"name":"d","price":1.0,"tags":[],"made":null},18446744073709551616]',
        ),
        (np.arange(2), b"[0,1]"),
    ],
)
def test_integers_beyond_64_bits_encode_through_the_standard_library(value, expected):
    assert encoding.dumps(value) == expected
    assert encoding.dumps([value, BIG]) == b"[" + expected + b",18446744073709551616]"


def test_the_standard_library_path_keeps_refusing_what_json_cannot_hold():
    with pytest.raises(TypeError, match="not JSON serializable"):
        encoding.dumps([BIG, object()])
    with pytest.raises(TypeError, match="Out of range float"):
        encoding.dumps([BIG, float("nan")])


@pytest.mark.parametrize(
    "data", [b"[1, 12345678901234567890123, 0.5]", "[1, 12345678901234567890123, 0.5]"]
)
def test_loads_keeps_integers_beyond_64_bits_exact(data):
    assert encoding.loads(data) == [1, 12345678901234567890123, 0.5]
    assert type(encoding.loads(data)[1]) is int


def test_loads_refuses_an_integer_of_more_digits_than_python_converts():
    with pytest.raises(ValueError, match="an integer has more than 4300 digits") as info:
        encoding.loads(b"[1%s]" % (b"0" * 4300))
    assert not isinstance(info.value, encoding.JSONDecodeError)


def test_dumps_names_the_digit_limit_of_a_huge_integer():
    with pytest.raises(TypeError, match="an integer has more than 4300 digits"):
        encoding.dumps([10**4300])
