"""The ``firefly`` command: a click group whose default command is ``serve``.

``firefly funcs.square`` and ``firefly -c config.yml`` serve, as
``firefly serve ...`` does: a first argument that names no command (one with a
dot, or an option) goes to ``serve``. Each further command is a module here.
"""

from __future__ import annotations

import click
from click_default_group import DefaultGroup

from ..version import __version__
from .call import call_command
from .executions import executions_group
from .log import log_group
from .serve import serve_command
from .train import train_command
from .worker import worker_command


@click.group(
    cls=DefaultGroup,
    default="serve",
    default_if_no_args=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Run 'firefly COMMAND --help' for a command's options.",
)
@click.version_option(__version__, "--version", prog_name="firefly", message="%(prog)s %(version)s")
def cli() -> None:
    """Serve Python functions and machine-learning models as web APIs.

    Without a command, the arguments go to 'serve': 'firefly funcs.square'
    is 'firefly serve funcs.square'.
    """


cli.add_command(serve_command)
cli.add_command(train_command)
cli.add_command(log_group)
cli.add_command(worker_command)
cli.add_command(call_command)
cli.add_command(executions_group)


def main() -> None:
    """Entry point of the ``firefly`` command."""
    cli(prog_name="firefly")


__all__ = ["cli", "main", "serve_command"]
