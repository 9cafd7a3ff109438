"""Root of the ``grokscope`` command. Imports stay light so ``--help`` and argument errors are instant."""

from typing import Optional

import typer

from . import ablate, analyze, import_model, listing, sweep, train
from .errors import OneLineUsageErrors

app = typer.Typer(
    name="grokscope",
    cls=OneLineUsageErrors,  # usage errors of every command: one line, exit code 2
    help="Train small transformers until they grok, then open them up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: Optional[bool]) -> None:
    if value:
        from grokscope.version import __version__

        typer.echo(f"grokscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="print grokscope's version and exit"
    ),
) -> None:
    """Train small transformers until they grok, then open them up."""


app.registered_commands += train.app.registered_commands
app.registered_commands += listing.app.registered_commands
app.registered_commands += ablate.app.registered_commands
app.registered_commands += import_model.app.registered_commands
app.add_typer(analyze.app, name="analyze")
app.add_typer(sweep.app, name="sweep")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
