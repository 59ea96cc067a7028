"""docs/training.rst runs as written: its training module, on the test CSV, gives what it shows.

The console blocks are run with the real ``firefly train`` in a fresh folder
holding the page's ``train.py`` and ``titanic.csv`` (tests/test_training.py's
data); only the seconds a fit took, and the ONNX copy's difference, may vary.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from firefly.cli.train import train_command

from .conftest import firefly_command
from .test_docs import DOCS, console_calls, named_block, read
from .test_training import csv_text

PAGE = DOCS / "training.rst"
SECONDS = re.compile(r" in \d+\.\d s$", re.M)
DIFFERENCE = re.compile(r"\b\d\.\d+e-\d+\b")


def prepare(folder: Path) -> None:
    """The page's train.py, titanic.csv, and old.csv (its errors' example: no sex column)."""
    (folder / "train.py").write_text(named_block(PAGE, "train-module") + "\n")
    (folder / "titanic.csv").write_text(csv_text(60))
    (folder / "old.csv").write_text("age,fare,survived\n3,4.5,1\n")


def run_block(folder: Path, name: str) -> list[tuple[str, str]]:
    """Run each command of the console block ``name`` in ``folder``: its output, and the shown."""
    results = []
    for words, shown in console_calls(named_block(PAGE, name)):
        assert words[:2] == ["firefly", "train"], words
        result = subprocess.run(
            firefly_command(*words[1:]),
            cwd=folder,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # in the order a terminal shows them
            text=True,
            timeout=120,
        )
        results.append((result.stdout.rstrip("\n"), shown))
    return results


def normalized(text: str) -> str:
    return DIFFERENCE.sub("D", SECONDS.sub(" in S s", text))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder where the page's main example has run."""
    folder = tmp_path_factory.mktemp("training-docs")
    prepare(folder)
    for printed, shown in run_block(folder, "train-example"):
        assert normalized(printed) == normalized(shown)
    return folder


def test_the_training_example_prints_what_the_page_shows(trained):
    assert sorted(p.name for p in (trained / "models" / "titanic").iterdir()) == ["v1", "v2"]


def test_the_model_yml_shown_is_the_one_written(trained):
    written = yaml.safe_load((trained / "models" / "titanic" / "v2" / "model.yml").read_text())
    shown = yaml.safe_load(named_block(PAGE, "train-model-yml"))
    sex = str(pd.read_csv(trained / "titanic.csv")["sex"].dtype)  # str in pandas 3, else object
    assert written["features"] == {**shown["features"], "sex": sex}
    assert list(written) == list(shown)
    assert list(written["training"]) == list(shown["training"])
    for key in ("methods", "meta"):
        assert written[key] == shown[key]
    for key in ("function", "data", "data_sha256", "rows", "metrics"):
        assert written["training"][key] == shown["training"][key], key
    assert list(written["training"]["libraries"]) == list(shown["training"]["libraries"])


def test_the_error_examples_are_the_real_lines(tmp_path):
    prepare(tmp_path)
    for printed, shown in run_block(tmp_path, "train-errors"):
        assert printed == shown


def test_the_onnx_example_prints_what_the_page_shows(tmp_path):
    for module in ("skl2onnx", "onnxruntime", "firefly.models.onnx"):
        pytest.importorskip(module, reason=f"--onnx needs {module}")
    prepare(tmp_path)
    for printed, shown in run_block(tmp_path, "train-onnx-example"):
        assert normalized(printed) == normalized(shown)


def test_every_train_option_is_in_the_cli_docs():
    text = read(DOCS / "cli.rst")
    section = text[text.index(".. _cli-train:") :]
    for param in train_command.params:
        for option in param.opts + param.secondary_opts:
            if option.startswith("-"):
                assert f"``{option}" in section, f"docs/cli.rst's train section lacks {option}"


def test_the_training_page_names_every_option():
    text = read(PAGE)
    for param in train_command.params:
        for option in param.opts:
            if option.startswith("--") and option != "--help":
                assert f"--{option.lstrip('-')}" in text, option
