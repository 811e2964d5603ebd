"""A statement the database refuses is logged, and fails an activity, without its values.

Prompts and webhook URLs are bound to the service's statements; an error that showed its
parameters would copy them into logs and into workflow histories (activity failures).
"""

from __future__ import annotations

import traceback
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter

from activities.errors import to_application_error
from core.config import Settings
from core.db import make_engine, make_session_factory
from core.models import Job


def _secrets() -> tuple[str, str]:
    mark = uuid.uuid4().hex
    return f"a fox, sk-live-prompt-{mark}", f"https://hooks.example.com/sk-live-hook-{mark}"


def _everything_said(exc: BaseException) -> str:
    """The exception as logs and Temporal see it: message, repr, traceback, failure chain."""
    failure = Failure()
    converter = DataConverter.default
    converter.failure_converter.to_failure(
        to_application_error(exc if isinstance(exc, Exception) else Exception(exc), 1),
        converter.payload_converter,
        failure,
    )
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc)), str(failure)])


async def test_a_refused_insert_shows_neither_prompt_nor_webhook_url(settings: Settings) -> None:
    prompt, hook = _secrets()
    engine = make_engine(settings)
    try:
        async with make_session_factory(engine)() as session:
            # The model name overflows its column: PostgreSQL refuses the whole row.
            session.add(Job(prompt=prompt, webhook_url=hook, model_name="x/" + "y" * 300))
            with pytest.raises(DBAPIError) as caught:
                await session.commit()
    finally:
        await engine.dispose()

    said = _everything_said(caught.value)
    assert "INSERT INTO jobs" in said  # the statement is there, with placeholders only
    assert "sk-live" not in said, said


async def test_a_value_the_driver_refuses_is_not_quoted(settings: Settings) -> None:
    prompt, hook = _secrets()
    engine = make_engine(settings)
    try:
        async with engine.connect() as connection:
            # asyncpg itself refuses a string for an integer, and its message quotes it.
            with pytest.raises(DBAPIError) as caught:
                await connection.execute(
                    text("SELECT CAST(:prompt AS integer), CAST(:hook AS integer)"),
                    {"prompt": prompt, "hook": hook},
                )
    finally:
        await engine.dispose()

    said = _everything_said(caught.value)
    assert "query argument $1: (value hidden)" in said
    assert "sk-live" not in said, said


async def test_the_api_logs_a_refused_submit_without_the_prompt(api, stack, sessions) -> None:
    prompt, _ = _secrets()
    mark = prompt.rpartition("-")[2]
    constraint = f"test_refuse_{mark}"
    async with sessions() as session, session.begin():
        # Only this test's prompt is refused (NOT VALID: existing rows are not checked).
        await session.execute(
            text(
                f"ALTER TABLE jobs ADD CONSTRAINT {constraint}"
                f" CHECK (prompt NOT LIKE '%{mark}%') NOT VALID"
            )
        )
    try:
        response = await api.post("/api/v1/generate", json={"prompt": prompt})
    finally:
        async with sessions() as session, session.begin():
            await session.execute(text(f"ALTER TABLE jobs DROP CONSTRAINT {constraint}"))

    assert response.status_code == 500, response.text
    assert mark not in response.text
    log = (stack.data_dir / "logs" / "api.log").read_text(errors="replace")
    assert constraint in log  # the refusal was logged ...
    assert "sk-live" not in log  # ... without the values of its statement
