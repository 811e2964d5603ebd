"""The Jinja2 environment of the `/ui` pages and the view helpers their templates use.

One environment per process, autoescaping every template (a prompt, a file name or an error
message is the user's text and is rendered as such). Undefined names raise instead of
rendering as nothing, so a template that names a field the view does not pass fails its test.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.config import Settings
from core.schemas import JobPublic

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
GALLERY_PAGE_SIZE = 12
_UNITS = ("bytes", "KB", "MB", "GB")


def file_size(size: int | None) -> str:
    """`1245760` as `1.2 MB` (decimal units, as a file manager shows them)."""
    if size is None:
        return "—"
    value = float(size)
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def duration(start: datetime | None, end: datetime | None) -> str:
    """The time between two instants, as `2.35 s` (`—` if either is missing)."""
    if start is None or end is None:
        return "—"
    return f"{(end - start).total_seconds():.2f} s"


def timestamp(moment: datetime | None) -> str:
    """An instant as UTC to the second (the page shows it beside a `<time datetime>`)."""
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def workflow_url(settings: Settings, job_id: str) -> str:
    """The job's workflow in the Temporal Web UI (the workflow id is the job id)."""
    base = settings.temporal_ui_url.rstrip("/")
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(job_id, safe='')}"


def job_title(job: JobPublic) -> str:
    """What names a job to a person: its prompt, or an upload's file name."""
    if job.prompt:
        return job.prompt
    filename = job.parameters.get("filename")
    return f"upload {filename}" if isinstance(filename, str) and filename else "upload"


def thumbnail(job: JobPublic) -> str | None:
    """The URL of the job's first `thumbnail` variant, if it has one."""
    return next((variant.url for variant in job.variants if variant.name == "thumbnail"), None)


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        file_size=file_size, timestamp=timestamp, pretty_json=pretty_json, job_title=job_title
    )
    environment.globals.update(duration=duration, thumbnail=thumbnail)
    return environment


ENVIRONMENT = make_environment()


def render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)


def content_security_policy(settings: Settings) -> str:
    """Only the API's own scripts, styles and connections; images also from the public base
    URL (media URLs are signed absolute URLs, which may name another host than the page's)."""
    media = settings.public_base_url.rstrip("/")
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src 'self' {media}",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
