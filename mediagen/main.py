"""The `mediagen` command: the root app, which only mounts each group of sub-commands."""

from __future__ import annotations

import typer

from mediagen import keys

app = typer.Typer(
    name="mediagen",
    no_args_is_help=True,
    # A traceback's locals may hold a key just made or the database URL's password.
    pretty_exceptions_show_locals=False,
)
app.add_typer(keys.app, name="keys")


@app.callback()
def root() -> None:
    """mediagen: operate and use the media generation service."""
