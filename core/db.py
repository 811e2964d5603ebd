"""The async engine and session factory, built by a function, never at import time."""

from __future__ import annotations

import re

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.config import Settings

SessionFactory = async_sessionmaker[AsyncSession]
# PostgreSQL's DETAIL often quotes the row or key it refused ("Failing row contains (...)");
# asyncpg's own refusal of an argument quotes the value ("query argument $2: 'a fox'").
_DETAIL = re.compile(r"\nDETAIL:.*?(?=\nHINT:|\Z)", re.DOTALL)
_ARGUMENT = re.compile(r"(query argument \$\d+): .*?( \([^()]*\))?(?=\n|\Z)", re.DOTALL)


def _redact(message: str) -> str:
    message = _DETAIL.sub("", message)
    return _ARGUMENT.sub(lambda m: f"{m[1]}: (value hidden){m[2] or ''}", message)


def _hide_values(context: ExceptionContext) -> None:
    """Strip the values a refused statement's error quotes, through its whole chain.

    `hide_parameters` drops the bound parameters from SQLAlchemy's message; the database
    and the driver quote values too, in the errors that SQLAlchemy's wraps. Those are
    redacted in place, so that every log line and Temporal failure built from them is clean.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [
        context.sqlalchemy_exception,
        context.original_exception,
    ]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if not isinstance(error, StatementError) and getattr(error, "detail", None):
            error.detail = None  # type: ignore[attr-defined]  # asyncpg's: str() appends it
        if error.args and isinstance(error.args[0], str):
            error.args = (_redact(error.args[0]), *error.args[1:])
        pending += [error.__cause__, error.__context__]


def make_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine whose pool checks connections before use (PostgreSQL may restart).

    Its errors never carry their statement's values (`hide_parameters`, `_hide_values`):
    those are prompts and webhook URLs, and the errors end up in logs and activity failures.
    """
    engine = create_async_engine(
        settings.database_url,
        hide_parameters=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 10},
    )
    event.listen(engine.sync_engine, "handle_error", _hide_values)
    return engine


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)
