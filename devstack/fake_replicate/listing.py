"""`GET /v1/predictions` filters: `created_after` (inclusive) and `created_before` (exclusive).

Both are ISO 8601 date-times, as Replicate documents them; one without a UTC offset is taken as
UTC, and a bare date as its midnight. They compare with `created_at` as rendered (to the
microsecond), so a prediction's own `created_at` passed as `created_after` includes it. The
`next` and `previous` URLs carry the filters, so paging keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from devstack.fake_replicate.prediction import Prediction
from devstack.fake_replicate.problems import InvalidField, ProblemError

FILTERS = ("created_after", "created_before")


def _instant(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProblemError(
            400,
            "Bad request",
            f"{name} must be an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z; got {value!r}",
            invalid_fields=[InvalidField("format", name, "Must be an ISO 8601 date-time")],
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def created_filter(after: str | None, before: str | None) -> Callable[[Prediction], bool]:
    """Which predictions the filters keep; a 400 naming the parameter if one is malformed."""
    low = _instant("created_after", after) if after is not None else None
    high = _instant("created_before", before) if before is not None else None

    def keep(prediction: Prediction) -> bool:
        created = datetime.fromtimestamp(prediction.created_wall, UTC)
        return (low is None or created >= low) and (high is None or created < high)

    return keep


def page_url(base_url: str, filters: dict[str, str | None], cursor: str | None) -> str | None:
    """The URL of another page: the filters as given, plus its cursor."""
    if cursor is None:
        return None
    query = {k: v for k, v in filters.items() if v is not None} | {"cursor": cursor}
    return f"{base_url}/v1/predictions?{urlencode(query)}"
