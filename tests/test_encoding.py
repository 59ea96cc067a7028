import datetime
import sys

import numpy as np
import pandas as pd
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


def test_encoding_module_does_not_import_numpy_or_pandas(tmp_path):
    import subprocess

    code = (
        "import sys, firefly.encoding as e; e.dumps({'a': 1});"
        "print('numpy' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
