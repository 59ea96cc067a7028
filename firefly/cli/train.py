"""``firefly train``: fit a model with a function of yours, and write it as a new version."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import click

from ..errors import FireflyError
from ..models import training
from .serve import FunctionNameType

MODELS_ENV = "FIREFLY_MODELS"


class NameType(click.ParamType):
    """A model or version name: one folder, and one segment of a URL."""

    def __init__(self, kind: str):
        self.kind = kind
        self.name = kind.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return training.check_name(self.kind, str(value))
        except FireflyError as err:
            self.fail(str(err), param, ctx)


class LineProgress(training.Progress):
    """Not on a terminal: one line on ``stream`` as each step ends."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def done(self, summary: str) -> None:
        click.echo(summary, file=self.stream)


class TerminalProgress(training.Progress):
    """On a terminal: a bar of the bytes read, a spinner while fitting, a line as each step ends."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        class WhenCounted(ProgressColumn):
            """A column shown for a step that counts bytes (a bar), hidden for one that spins."""

            def __init__(self, column: ProgressColumn):
                super().__init__()
                self.column = column

            def render(self, task: Task) -> Any:
                return Text() if task.total is None else self.column.render(task)

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            WhenCounted(BarColumn()),
            WhenCounted(DownloadColumn()),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task: Any = None

    def __enter__(self) -> TerminalProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def start(self, step: str, total: int | None = None) -> None:
        self.task = self.bar.add_task(step, total=total)

    def advance(self, amount: int) -> None:
        self.bar.advance(self.task, amount)

    def done(self, summary: str) -> None:
        self.bar.remove_task(self.task)
        self.bar.console.print(f"[green]✓[/green] {summary}", highlight=False, markup=True)


EXAMPLE = """\b
Example, with this fit in train.py in the current directory:
  def fit(frame):
      X, y = frame[["age", "fare"]], frame["survived"]
      model = LogisticRegression().fit(X, y)
      return model, {"accuracy": model.score(X, y)}
  $ firefly train train.fit titanic.csv --model titanic
  models/titanic/v1
Then 'firefly --models models' serves it at POST /titanic/predict.
"""


@click.command(
    "train",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXAMPLE,
)
@click.argument("function", metavar="MODULE.FUNCTION", type=FunctionNameType())
@click.argument("data", metavar="DATA.csv")
@click.option(
    "--model",
    "model",
    required=True,
    type=NameType("model"),
    help="Name of the model: the version is written in MODELS/NAME/.",
)
@click.option(
    "--version",
    "version",
    type=NameType("version"),
    help="Version to write; it must not exist. [default: the next number: v1, v2 -> v3; 1 -> 2]",
)
@click.option(
    "--models",
    "models",
    metavar="DIR",
    default="models",
    envvar=MODELS_ENV,
    help=f"The model repository folder, as 'firefly --models' serves it."
    f" [env: {MODELS_ENV}; default: models]",
)
@click.option(
    "--onnx",
    is_flag=True,
    help="Also write model.onnx (skl2onnx; pip install 'firefly-python[onnx]'), served instead"
    " of model.joblib; the version is refused if its outputs on DATA.csv differ from the"
    " model's by more than --onnx-tolerance. [default: off]",
)
@click.option(
    "--onnx-tolerance",
    type=click.FloatRange(min=0),
    default=training.DEFAULT_ONNX_TOLERANCE,
    metavar="FLOAT",
    help="Largest difference allowed between an output of model.onnx and the model's."
    f" [default: {training.DEFAULT_ONNX_TOLERANCE:g}]",
)
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    help="On an error, print the traceback of its cause (your function's exception, an"
    " import error) before the error line. [default: off]",
)
def train_command(
    function: str,
    data: str,
    model: str,
    version: str | None,
    models: str,
    onnx: bool,
    onnx_tolerance: float,
    show_traceback: bool,
) -> None:
    """Fit a model with MODULE.FUNCTION on DATA.csv and write it as a new version.

    The function is called with the CSV as a pandas DataFrame and returns the
    fitted estimator, or (estimator, metrics) with a dict of metrics. The
    version folder MODELS/NAME/VERSION gets model.joblib and model.yml
    (features and dtypes, methods, rows, the CSV's SHA-256, metrics, library
    versions), all at once: a server never sees half a version. Its path is
    printed when done; progress goes to stderr.
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    def run(progress: training.Progress) -> Path:
        return training.train(
            function,
            data,
            model,
            models=models,
            version=version,
            onnx=onnx,
            onnx_tolerance=onnx_tolerance,
            progress=progress,
        )

    try:
        if sys.stderr.isatty():
            with TerminalProgress() as progress:
                folder = run(progress)
        else:
            folder = run(LineProgress(sys.stderr))
    except FireflyError as err:
        raise click.ClickException(error_line(err, show_traceback)) from None
    click.echo(str(folder))


def error_line(err: FireflyError, show_traceback: bool) -> str:
    """The message of ``err``; with ``show_traceback``, its cause's traceback goes first."""
    cause = err.__cause__
    if cause is None:
        return str(err)
    if show_traceback:
        frames = cause.__traceback__
        if isinstance(err, training.TrainingFunctionError) and frames is not None:
            frames = frames.tb_next or frames  # from the user's function on, not firefly's call
        traceback.print_exception(type(cause), cause, frames, file=sys.stderr)
        return str(err)
    if isinstance(err, training.TrainingFunctionError):
        return f"{err} (--traceback shows where)"
    return str(err)
