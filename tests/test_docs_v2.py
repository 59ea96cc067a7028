"""docs/v2.rst runs as written: its metadata, its curl calls, and its tritonclient example.

The models are trained here on made-up rows shaped like examples/models/
(a Titanic model whose features' dtypes are recorded, and churn versions of
five scores), with labels that depend on the columns as the examples' do, so
that the calls the page shows give the answers it shows (the probabilities
within 0.1 of those the page shows, which are the example's).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from firefly import Firefly

from .modelfiles import save_version
from .test_docs import DOCS, console_calls, named_block

PAGE = DOCS / "v2.rst"
ADDRESS = "127.0.0.1:8000"
TITANIC_DTYPES = {
    "pclass": "int64",
    "sex": "object",
    "age": "float64",
    "sibsp": "int64",
    "parch": "int64",
    "fare": "float64",
    "embarked": "object",
}
PRINTED = re.compile(r"^print\(.*\)  # (?P<shown>.*)$")


def titanic_model() -> Any:
    rng = np.random.default_rng(0)
    rows = 400
    frame = pd.DataFrame(
        {
            "pclass": rng.choice([1, 2, 3], size=rows),
            "sex": rng.choice(["male", "female"], size=rows).astype(object),
            "age": np.round(rng.uniform(1, 80, size=rows)),
            "sibsp": rng.choice([0, 1, 2], size=rows),
            "parch": rng.choice([0, 1, 2], size=rows),
            "fare": np.round(rng.uniform(5, 250, size=rows), 2),
            "embarked": rng.choice(["S", "C", "Q"], size=rows).astype(object),
        }
    )
    frame.loc[rng.random(rows) < 0.2, "age"] = np.nan
    survived = 2.4 * (frame.sex == "female") - 1.0 * (frame.pclass - 1) - 0.6 > 0
    numbers = ["pclass", "age", "sibsp", "parch", "fare"]
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["sex", "embarked"]),
            ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
        ]
    )
    return make_pipeline(columns, LogisticRegression()).fit(frame, survived.astype(int))


def churn_model(c: float) -> Any:
    """Made as examples/models/ makes its churn versions (v2: C=0.01), on other rows."""
    rng = np.random.default_rng(1)
    scores = np.round(rng.uniform(0, 100, size=(400, 5)), 1)
    frame = pd.DataFrame(scores, columns=[f"score_{number}" for number in range(1, 6)])
    logit = (scores - 50) @ np.array([0.05, -0.04, 0.03, -0.02, 0.01]) + rng.normal(0, 1, 400)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c))
    return model.fit(frame, (logit > 0).astype(int))


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("v2docs") / "models"
    save_version(models, "titanic", "1", titanic_model(), {"features": TITANIC_DTYPES})
    save_version(models, "churn", "v1", churn_model(c=1.0))
    save_version(models, "churn", "v2", churn_model(c=0.01))
    return models


@pytest.fixture(scope="module")
def client(repository: Path) -> Any:
    return Firefly(models=str(repository)).test_client()


def curl(client: Any, name: str) -> list[tuple[Any, str]]:
    """Each ``curl -d BODY URL`` of the block ``name``, sent: the answer, and the output shown."""
    answers = []
    for words, shown in console_calls(named_block(PAGE, name)):
        assert words[:2] == ["curl", "-d"] and len(words) == 4, words
        path = "/" + words[3].split("/", 3)[3]
        answers.append((client.post(path, data=words[2]), shown))
    return answers


def test_the_documented_metadata_is_the_real_one(client: Any) -> None:
    documented = json.loads(named_block(PAGE, "v2-metadata-example"))
    assert client.get("/v2/models/titanic").json == documented


def test_the_documented_column_call_gives_what_it_shows(client: Any) -> None:
    ((response, shown),) = curl(client, "v2-columns-example")
    assert response.status_code == 200
    assert response.json == json.loads(shown)


def test_the_documented_matrix_call_gives_the_documented_response(client: Any) -> None:
    ((response, shown),) = curl(client, "v2-matrix-example")
    assert shown == ""
    documented = json.loads(named_block(PAGE, "v2-response-example"))
    answer = response.json
    proba, documented_proba = answer["outputs"][1], documented["outputs"][1]
    # The page shows examples/models' v2; this one, made alike on other rows, is close.
    assert proba.pop("data") == pytest.approx(documented_proba.pop("data"), abs=0.1)
    assert answer == documented


def test_the_tritonclient_example_prints_what_its_comments_say(
    firefly_server, repository: Path
) -> None:
    example = named_block(PAGE, "v2-tritonclient-example")
    shown = [match["shown"] for line in example.splitlines() if (match := PRINTED.match(line))]
    assert len(shown) == 4
    with firefly_server("--models", str(repository)) as server:
        address = server.url.removeprefix("http://").rstrip("/")
        code = compile(example.replace(ADDRESS, address), "docs/v2.rst", "exec")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(code, {"__name__": "docs_v2_example"})
    assert output.getvalue().splitlines() == shown
