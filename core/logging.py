"""Structured logging: one line per event, JSON with `LOG_FORMAT=json`, the job id on every line.

The job id comes from a context variable the API sets per request, or from the workflow
id that Temporal's `workflow.logger` and `activity.logger` attach to their records (the
workflow id is the job id), so API, workflow and activity lines of one job all carry it.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from core.config import Settings

job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "job_id"}


class JobIdFilter(logging.Filter):
    """Sets `record.job_id` from the request context or from Temporal's extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = job_id_var.get()
        for extra in _TEMPORAL_EXTRAS:
            info = getattr(record, extra, None)
            if isinstance(info, dict) and info.get("workflow_id"):
                job_id = info["workflow_id"]
        record.__dict__["job_id"] = job_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's extras as fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id:
            line["job_id"] = job_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _TEMPORAL_EXTRAS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        job_id = getattr(record, "job_id", None)
        return f"{text} job_id={job_id}" if job_id else text


def configure_logging(settings: Settings) -> None:
    """Install the one handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(JobIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs every request at INFO; the access log covers ours.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # pyvips forwards libvips' internals at INFO ("threadpool completed", several per image).
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
