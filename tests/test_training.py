"""``firefly train``'s work (firefly.models.training) and its command, through click's runner."""

from __future__ import annotations

import hashlib
import re
import sys
import textwrap
import uuid
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

from firefly.cli import cli
from firefly.errors import ConfigError
from firefly.models import training

#: A training module: each function is one way a user's function can behave.
TRAINING_MODULE = '''
import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

FEATURES = ["fare", "age", "sex"]


def fit(frame):
    """A pipeline over three columns, in another order than the CSV's, with metrics."""
    model = make_pipeline(
        make_column_transformer((StandardScaler(), ["fare", "age"]), (OneHotEncoder(), ["sex"])),
        LogisticRegression(),
    ).fit(frame[FEATURES], frame["survived"])
    accuracy = model.score(frame[FEATURES], frame["survived"])
    return model, {"accuracy": np.float64(accuracy), "classes": np.int64(2), "note": "ok"}


def plain(frame):
    return LogisticRegression().fit(frame[["age", "fare"]], frame["survived"])


def regression(frame):
    return LinearRegression().fit(frame[["age", "fare"]], frame["age"] * 1.5 + frame["fare"])


def raises(frame):
    raise KeyError("churned")


def raises_lines(frame):
    raise ValueError("first line\\n  second line")


def returns_none(frame):
    return None


def returns_three(frame):
    return plain(frame), {}, 1


def returns_list_metrics(frame):
    return plain(frame), [0.5]


def unfitted(frame):
    return LogisticRegression()


def on_arrays(frame):
    return LogisticRegression().fit(frame[["age", "fare"]].to_numpy(), frame["survived"])


def bad_metric(frame):
    return plain(frame), {"model": object()}


def derived(frame):
    frame["ratio"] = frame["fare"] / frame["age"]
    return LogisticRegression().fit(frame[["ratio"]], frame["survived"])


def unpicklable(frame):
    model = plain(frame)
    model.hook = lambda: None
    return model


not_callable = 3
'''


def csv_text(rows: int = 60) -> str:
    """A small Titanic-like CSV: age (int), sex (text), fare (float), survived (0 or 1)."""
    lines = ["age,sex,fare,survived"]
    for i in range(rows):
        age, fare = 5 + (i * 7) % 70, round(10 + (i * 13.37) % 90, 2)
        sex = "male" if i % 3 else "female"
        survived = int(fare / 100 - age / 80 + (0.3 if sex == "female" else 0) > 0)
        survived = 1 - survived if i % 7 == 3 else survived  # not quite separable
        lines.append(f"{age},{sex},{fare},{survived}")
    return "\n".join(lines) + "\n"


def write_project(folder: Path, rows: int = 60) -> str:
    """Write ``data.csv`` and a training module of a unique name in ``folder``; return its name."""
    module = f"fit_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(textwrap.dedent(TRAINING_MODULE))
    (folder / "data.csv").write_text(csv_text(rows))
    return module


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The working directory of a run: a training module (its name returned) and data.csv."""
    module = write_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path is restored afterwards
    yield module
    sys.modules.pop(module, None)


def read_model_yml(folder: Path) -> dict:
    return yaml.safe_load((folder / "model.yml").read_text())


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error")]


# The version folder and model.yml


def test_train_writes_the_model_and_model_yml(project, tmp_path):
    folder = training.train(f"{project}.fit", "data.csv", "titanic")
    assert folder == Path("models/titanic/v1")
    assert sorted(p.name for p in folder.iterdir()) == ["model.joblib", "model.yml"]
    frame = pd.read_csv("data.csv")
    model = joblib.load(folder / "model.joblib")
    assert list(model.predict(frame[["fare", "age", "sex"]])) == list(
        sys.modules[project].fit(frame)[0].predict(frame[["fare", "age", "sex"]])
    )
    described = read_model_yml(folder)
    assert list(described) == ["features", "methods", "meta", "training"]
    assert described["features"] == {
        "fare": "float64",
        "age": "int64",
        "sex": str(frame["sex"].dtype),  # object in pandas 2, str in pandas 3
    }
    assert list(described["features"]) == ["fare", "age", "sex"]  # the model's order
    assert described["methods"] == ["predict", "predict_proba", "decision_function"]
    assert described["meta"] == {}
    trained = described["training"]
    assert list(trained) == [
        "function",
        "data",
        "data_sha256",
        "rows",
        "metrics",
        "trained_at",
        "libraries",
    ]
    assert trained["function"] == f"{project}.fit"
    assert trained["data"] == "data.csv"
    assert trained["data_sha256"] == hashlib.sha256(Path("data.csv").read_bytes()).hexdigest()
    assert trained["rows"] == 60
    assert trained["metrics"]["classes"] == 2 and trained["metrics"]["note"] == "ok"
    assert type(trained["metrics"]["accuracy"]) is float and 0.5 < trained["metrics"]["accuracy"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", trained["trained_at"])
    assert list(trained["libraries"]) == [
        "python",
        "scikit-learn",
        "pandas",
        "numpy",
        "joblib",
        "firefly",
    ]
    assert all(isinstance(version, str) for version in trained["libraries"].values())


def test_model_yml_has_the_documented_shape(project):
    folder = training.train(f"{project}.plain", "data.csv", "titanic")
    text = (folder / "model.yml").read_text()
    assert "!!" not in text  # plain YAML: no Python tags
    assert text.startswith("features:\n  age: int64\n  fare: float64\nmethods: [predict,")
    assert "\nmeta: {}\ntraining:\n  function: " in text
    assert "\n  metrics: {}\n" in text
    assert re.search(r"\n  libraries: \{python: [\d.]+, scikit-learn: ", text)


def test_the_server_reads_the_version_written(project):
    repository = pytest.importorskip("firefly.models.repository")
    from firefly.config.options import ModelOptions

    folder = training.train(f"{project}.fit", "data.csv", "titanic")
    source = repository.read_version("titanic", folder, ModelOptions())
    assert source.file == folder / "model.joblib"
    assert list(source.options.features) == ["fare", "age", "sex"]
    assert source.options.methods == ("predict", "predict_proba", "decision_function")
    assert source.training["rows"] == 60


def test_a_regressor_has_predict_only(project):
    folder = training.train(f"{project}.regression", "data.csv", "fares")
    assert read_model_yml(folder)["methods"] == ["predict"]


def test_the_repository_folder_and_version_can_be_named(project):
    folder = training.train(f"{project}.plain", "data.csv", "m", models="repo/x", version="2024")
    assert folder == Path("repo/x/m/2024") and (folder / "model.joblib").is_file()


# Versions


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "v1"),
        (["v1"], "v2"),
        (["v1", "v2"], "v3"),
        (["1", "2"], "3"),
        (["1"], "2"),
        (["v9"], "v10"),
        (["v1", "v10", "v9"], "v11"),
        (["v009"], "v010"),
        (["latest"], "v1"),
        (["v2", "latest"], "v3"),
        (["7", "v2"], "v3"),  # the highest in natural order: the one a server serves by default
        (["v2", ".v3.tmp-0a1b2c3d"], "v3"),  # a version being written is not one yet
    ],
)
def test_the_next_version(tmp_path, existing, expected):
    for name in existing:
        (tmp_path / "churn" / name).mkdir(parents=True)
    (tmp_path / "churn").mkdir(exist_ok=True)
    (tmp_path / "churn" / "v99").write_text("a file, not a version")
    assert training.next_version(tmp_path / "churn") == expected


def test_natural_order():
    names = ["v10", "v9", "v1", "v2", "v100"]
    assert sorted(names, key=training.natural_key) == ["v1", "v2", "v9", "v10", "v100"]


def test_each_run_writes_the_next_version(project):
    assert training.train(f"{project}.plain", "data.csv", "churn").name == "v1"
    assert training.train(f"{project}.plain", "data.csv", "churn").name == "v2"
    assert training.train(f"{project}.plain", "data.csv", "churn", version="v7").name == "v7"
    assert training.train(f"{project}.plain", "data.csv", "churn").name == "v8"


@pytest.mark.parametrize("version", ["predict", "predict_proba", "decision_function", "transform"])
def test_a_version_named_like_a_method_is_refused(version):
    message = f"version {version!r} is named like a method"
    with pytest.raises(ConfigError, match=message):
        training.check_name("version", version)


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "-v1", "v 1", "v1/"])
def test_a_name_that_is_not_one_folder_is_refused(name):
    with pytest.raises(ConfigError, match="use letters, digits"):
        training.check_name("model", name)


@pytest.mark.parametrize("name", ["v2", "docs", "openapi.json", "static"])
def test_a_model_named_like_a_path_of_firefly_is_refused(name):
    with pytest.raises(ConfigError, match=f"model name {name!r} is reserved"):
        training.check_name("model", name)


def test_an_existing_version_is_refused_and_left_as_it_was(project):
    folder = training.train(f"{project}.plain", "data.csv", "churn")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(training.TrainingError, match="'models/churn/v1' exists already"):
        training.train(f"{project}.fit", "data.csv", "churn", version="v1")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_failed_write_leaves_no_folder(project):
    with pytest.raises(training.TrainingError, match="cannot save the LogisticRegression"):
        training.train(f"{project}.unpicklable", "data.csv", "churn")
    assert list(Path("models/churn").iterdir()) == []  # nor a hidden, half-written one


# Progress


class Recorder(training.Progress):
    def __init__(self):
        self.events: list[tuple] = []

    def start(self, step, total=None):
        self.events.append(("start", step, total))

    def advance(self, amount):
        self.events.append(("advance", amount))

    def done(self, summary):
        self.events.append(("done", summary))


def test_progress_reports_each_step_and_the_bytes_read(project):
    Path("data.csv").write_text(csv_text(60_000))  # over 1 MB: read in several chunks
    recorder = Recorder()
    training.train(f"{project}.plain", "data.csv", "churn", progress=recorder)
    size = Path("data.csv").stat().st_size
    steps = [event for event in recorder.events if event[0] != "advance"]
    assert steps == [
        ("start", "reading data.csv", size),
        ("done", "read data.csv: 60000 rows, 4 columns"),
        ("start", f"fitting {project}.plain", None),
        ("done", steps[3][1]),
        ("start", "writing models/churn/v1", None),
        ("done", "wrote models/churn/v1: model.joblib, model.yml"),
    ]
    assert re.fullmatch(rf"fitted {project}.plain: LogisticRegression in \d+\.\d s", steps[3][1])
    advances = [event[1] for event in recorder.events if event[0] == "advance"]
    assert sum(advances) == size and len(advances) > 1


# The command: output and one-line errors


def test_the_command_prints_the_folder_and_one_line_per_step(runner, project):
    result = runner.invoke(cli, ["train", f"{project}.fit", "data.csv", "--model", "titanic"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "models/titanic/v1\n"
    assert result.stderr.splitlines() == [
        "read data.csv: 60 rows, 4 columns",
        result.stderr.splitlines()[1],
        "wrote models/titanic/v1: model.joblib, model.yml",
    ]
    assert result.stderr.splitlines()[1].startswith(f"fitted {project}.fit: Pipeline in ")


def test_the_models_folder_comes_from_firefly_models(runner, project, monkeypatch):
    monkeypatch.setenv("FIREFLY_MODELS", "elsewhere")
    result = runner.invoke(cli, ["train", f"{project}.plain", "data.csv", "--model", "churn"])
    assert result.stdout == "elsewhere/churn/v1\n"
    flag = ["--models", "here"]
    result = runner.invoke(cli, ["train", f"{project}.plain", "data.csv", "--model", "c", *flag])
    assert result.stdout == "here/c/v1\n"


def test_help_shows_an_example_the_defaults_and_the_environment_variable(runner):
    result = runner.invoke(cli, ["train", "--help"])
    assert result.exit_code == 0
    for text in [
        "MODULE.FUNCTION DATA.csv",
        "--model",
        "--version",
        "--models DIR",
        "[env: FIREFLY_MODELS; default: models]",
        "--onnx",
        "--onnx-tolerance FLOAT",
        "[default: 0.0001]",
        "--traceback",
        "$ firefly train train.fit titanic.csv --model titanic",
    ]:
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch.fit", "data.csv"], "cannot load 'nosuch.fit': no module named 'nosuch'"),
        (["{m}.fitt", "data.csv"], "has no attribute 'fitt'; did you mean 'fit'?"),
        (["{m}.not_callable", "data.csv"], "'not_callable' is not callable"),
        (["fit", "data.csv"], "invalid function 'fit': write it as MODULE.FUNCTION"),
        (["{m}.fit", "missing.csv"], "cannot read 'missing.csv': No such file or directory"),
        (["{m}.fit", "."], "cannot read '.': Is a directory"),
        (["{m}.fit", "empty.csv"], "'empty.csv' is empty: expected a CSV with a header line"),
        (["{m}.fit", "header.csv"], "'header.csv' has no rows"),
        (["{m}.fit", "ragged.csv"], "cannot read 'ragged.csv' as CSV: Error tokenizing data."),
        (["{m}.fit", "latin1.csv"], "cannot read 'latin1.csv' as CSV: 'utf-8' codec can't decode"),
        (["{m}.raises", "data.csv"], "{m}.raises raised KeyError: 'churned' (--traceback shows"),
        (["{m}.raises_lines", "data.csv"], "raised ValueError: first line second line (--"),
        (["{m}.returns_none", "data.csv"], "{m}.returns_none returned NoneType, which has none"),
        (["{m}.returns_three", "data.csv"], "returned a tuple (LogisticRegression, dict, int)"),
        (["{m}.returns_list_metrics", "data.csv"], "returned a tuple (LogisticRegression, list)"),
        (["{m}.unfitted", "data.csv"], "returned an unfitted LogisticRegression: fit it first"),
        (["{m}.on_arrays", "data.csv"], "has no feature_names_in_: fit it on a DataFrame"),
        (["{m}.bad_metric", "data.csv"], "metric 'model' is object: metrics must be numbers"),
        (["{m}.derived", "data.csv"], "features that are not columns of 'data.csv': 'ratio'"),
        (["{m}.fit", "data.csv", "--version", "predict"], "is named like a method"),
        (
            ["{m}.fit", "data.csv", "--version", "../v1"],
            "version name '../v1' cannot be a URL path segment",
        ),
        (
            ["{m}.fit", "data.csv", "--model", "a/b"],
            "model name 'a/b' cannot be a URL path segment",
        ),
        (["{m}.fit", "data.csv", "--version", "v1"], "'models/titanic/v1' exists already"),
        (["{m}.fit", "data.csv", "--models", "file.txt"], "cannot write 'file.txt/titanic/v1'"),
        (["{m}.fit", "data.csv", "--onnx-tolerance", "-1"], "-1.0 is not in the range x>=0"),
    ],
)
def test_every_error_is_one_line(runner, project, args, message):
    Path("empty.csv").write_bytes(b"")
    Path("header.csv").write_text("age,sex,fare,survived\n")
    Path("ragged.csv").write_text("a,b\n1,2\n1,2,3\n")
    Path("latin1.csv").write_bytes("name,age\nJosé,3\n".encode("latin-1"))
    Path("file.txt").write_text("not a folder")
    Path("models/titanic/v1").mkdir(parents=True)
    args = [arg.format(m=project) for arg in args]
    if "--model" not in args:
        args += ["--model", "titanic"]
    result = runner.invoke(cli, ["train", *args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    (line,) = error_lines(result.output)
    assert message.format(m=project) in line
    assert not any(Path("models").rglob("model.yml"))  # nothing written


def test_a_library_missing_is_one_line_saying_how_to_install_it(runner, project, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    result = runner.invoke(cli, ["train", f"{project}.plain", "data.csv", "--model", "m"])
    assert result.exit_code == 1
    assert error_lines(result.output) == ["Error: firefly train needs pandas: pip install pandas"]


def test_traceback_shows_where_the_function_raised(runner, project):
    args = ["train", f"{project}.raises", "data.csv", "--model", "m", "--traceback"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.count("Traceback (most recent call last):") == 1
    assert f'{project}.py", line ' in result.stderr
    assert 'raise KeyError("churned")' in result.stderr
    assert "firefly/models/training.py" not in result.stderr  # the user's frames only
    assert error_lines(result.stderr) == [f"Error: {project}.raises raised KeyError: 'churned'"]


def test_traceback_shows_an_import_error(runner, project):
    Path("broken_module.py").write_text("import nosuchdependency\n")
    args = ["train", "broken_module.fit", "data.csv", "--model", "m", "--traceback"]
    result = runner.invoke(cli, args)
    sys.modules.pop("broken_module", None)
    assert result.exit_code == 1
    assert "ModuleNotFoundError: No module named 'nosuchdependency'" in result.stderr
    assert len(error_lines(result.stderr)) == 1


# --onnx


@pytest.fixture
def onnx_module():
    """firefly.models.onnx, or a skip saying what --onnx needs that is missing."""
    pytest.importorskip("skl2onnx", reason="--onnx needs skl2onnx (firefly-python[onnx])")
    pytest.importorskip("onnxruntime", reason="--onnx needs onnxruntime (firefly-python[onnx])")
    return pytest.importorskip("firefly.models.onnx")


def test_onnx_writes_model_onnx_and_names_it(project, onnx_module):
    folder = training.train(f"{project}.fit", "data.csv", "churn", onnx=True)
    assert sorted(p.name for p in folder.iterdir()) == ["model.joblib", "model.onnx", "model.yml"]
    described = read_model_yml(folder)
    assert list(described) == ["file", "features", "methods", "meta", "training"]
    assert described["file"] == "model.onnx"
    assert described["methods"] == ["predict", "predict_proba"]  # the ONNX copy's: it is served
    check = described["training"]["onnx"]
    assert set(check) == {"max_difference", "tolerance"}
    assert 0 <= check["max_difference"] <= check["tolerance"] == training.DEFAULT_ONNX_TOLERANCE
    assert {"skl2onnx", "onnxruntime"} <= set(described["training"]["libraries"])
    served = onnx_module.OnnxModel(folder / "model.onnx")
    frame = pd.read_csv("data.csv")
    expected = joblib.load(folder / "model.joblib").predict_proba(frame)
    assert abs(served.predict_proba(frame) - expected).max() == check["max_difference"]


def test_an_onnx_copy_that_differs_refuses_the_version(runner, project, onnx_module):
    # float32 ONNX probabilities differ from scikit-learn's float64 ones by a little, never 0
    args = ["train", f"{project}.fit", "data.csv", "--model", "churn", "--onnx"]
    result = runner.invoke(cli, [*args, "--onnx-tolerance", "0"])
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result.output)
    assert re.search(r"differs from scikit-learn by up to [0-9.e-]+ in predict_proba", line)
    assert "beyond the tolerance 0; nothing was written" in line
    assert not Path("models/churn").exists() or list(Path("models/churn").iterdir()) == []
