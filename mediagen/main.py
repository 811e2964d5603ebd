"""The `mediagen` command: the root app, which only mounts the commands of each module."""

from __future__ import annotations

import typer

from mediagen import jobs, keys

app = typer.Typer(
    name="mediagen",
    no_args_is_help=True,
    # A traceback's locals may hold a key just made or the database URL's password.
    pretty_exceptions_show_locals=False,
)
app.add_typer(keys.app, name="keys")
for command in jobs.COMMANDS:
    app.command()(command)


@app.callback()
def root() -> None:
    """mediagen: operate and use the media generation service."""
