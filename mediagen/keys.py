"""`mediagen keys ...`: operators make, list and revoke API keys.

The commands work on the configured database (`DATABASE_URL`) directly, not through the
API: the API takes nothing but keys, so the first key has to be made this way.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core.api_keys import NAME_MAX, create_key, get_key, list_keys, revoke_key
from core.config import Settings, get_settings
from core.db import make_engine, make_session_factory
from core.models import ApiKey

T = TypeVar("T")
PIPED_WIDTH = 200

app = typer.Typer(
    help="Make, list and revoke API keys (works on the database directly).",
    no_args_is_help=True,
)

# Names and owners are the operator's text: printed with markup and highlighting off, so
# a name like "[red]x" is shown as typed. Piped output is not cut to 80 columns (rich's
# guess without a terminal), so a key's row stays one line for grep; a terminal, or
# COLUMNS, still sets the width.
out = Console(
    highlight=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH,
)
err = Console(stderr=True, highlight=False)

# Everything the database or its driver raises when it cannot be reached or used.
DATABASE_ERRORS = (
    OSError,
    TimeoutError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 1 (no traceback: the operator needs the reason only)."""
    err.print(f"mediagen: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


def _where(settings: Settings) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(settings.database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "DATABASE_URL (not a valid URL)"


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong: the driver's own error rather than SQLAlchemy's
    wrapper, whose text also carries the SQL, its parameters and a link."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        fail(f"invalid setting {where}: {first['msg']}")


def run(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `action` in a session of the configured database, and dispose of the engine."""
    settings = _settings()

    async def in_session() -> T:
        engine = make_engine(settings)
        try:
            async with make_session_factory(engine)() as session:
                return await action(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(in_session())
    except DATABASE_ERRORS as exc:
        fail(f"cannot use the database at {_where(settings)}: {_reason(exc)}")


def _text(value: str | None) -> str | None:
    """Validates --name and --owner: what the `api_keys` columns hold, and not blank."""
    if value is not None and not (value.strip() and len(value) <= NAME_MAX):
        raise typer.BadParameter(f"must be 1 to {NAME_MAX} characters, not blank")
    return value


def _when(moment: datetime | None, never: str = "-") -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else never


def _limit(value: int | None, default: str = "default") -> str:
    """A per-key override, or the service's default (its settings, not this command's)."""
    return default if value is None else str(value)


@app.command()
def create(
    name: Annotated[
        str, typer.Option(help="What the key is for (1-100 characters).", callback=_text)
    ],
    owner: Annotated[
        str | None,
        typer.Option(
            help="Whose jobs the key submits and sees (1-100 characters); default: the name.",
            callback=_text,
        ),
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="The key sees every owner's jobs.")
    ] = False,
    rate_limit: Annotated[
        int | None,
        typer.Option(min=1, help="Submits per minute, instead of the service's default."),
    ] = None,
    max_active: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs pending or processing at once, instead of the default."),
    ] = None,
) -> None:
    """Make a key. It is printed alone on the last line, and only this once."""

    async def make(session: AsyncSession) -> tuple[ApiKey, str]:
        new = await create_key(
            session,
            name=name,
            owner=owner,
            admin=admin,
            rate_limit_per_minute=rate_limit,
            max_active_jobs=max_active,
        )
        return new.record, new.token

    record, token = run(make)
    kind = "admin key" if record.is_admin else "key"
    out.print(
        f"Created {kind} {record.id} named {record.name!r} for owner {record.owner!r}"
        f" (submits per minute: {_limit(record.rate_limit_per_minute)},"
        f" active jobs: {_limit(record.max_active_jobs)}).",
        markup=False,
    )
    out.print(
        "Store the key now: only its hash is kept, so it cannot be shown again.", markup=False
    )
    out.print(token, markup=False, soft_wrap=True)


@app.command("list")
def list_() -> None:
    """Show every key, revoked ones included (never a secret: none is stored)."""
    records = run(list_keys)
    if not records:
        out.print(
            "No API keys yet: make one with `mediagen keys create --name NAME`.", markup=False
        )
        return
    # An id never wraps (a folded id is hard to copy); on a narrow terminal the rest wrap.
    table = Table(
        title="API keys (times in UTC)",
        caption="A limit of - is the service's default.",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("ID", no_wrap=True)
    table.add_column("Name", overflow="fold")
    table.add_column("Owner", overflow="fold")
    table.add_column("Admin")
    table.add_column("Rate/min", justify="right")
    table.add_column("Max active", justify="right")
    for heading in ("Created", "Last used", "Revoked"):
        table.add_column(heading)
    for record in records:
        table.add_row(
            record.id,
            Text(record.name),
            Text(record.owner),
            "yes" if record.is_admin else "no",
            _limit(record.rate_limit_per_minute, default="-"),
            _limit(record.max_active_jobs, default="-"),
            _when(record.created_at),
            _when(record.last_used_at, never="never"),
            _when(record.revoked_at),
        )
    out.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id.")]) -> None:
    """Revoke a key; the API refuses it within a second. Revoking twice is harmless."""

    async def revoke_once(session: AsyncSession) -> tuple[ApiKey | None, bool]:
        before = await get_key(session, key_id)
        if before is None:
            return None, False
        already = before.revoked_at is not None
        return await revoke_key(session, key_id), already

    record, already = run(revoke_once)
    if record is None:
        fail(f"no API key has the id {key_id!r} (`mediagen keys list` shows them)")
    if already:
        out.print(
            f"Key {record.id} ({record.name!r}) was already revoked at {_when(record.revoked_at)} UTC.",
            markup=False,
        )
    else:
        out.print(
            f"Revoked key {record.id} ({record.name!r}, owner {record.owner!r}).", markup=False
        )
