"""`ALLOWED_MODELS`: which models a job may ask for (patterns; none set allows any).

A pattern is `owner/name` with fnmatch wildcards (`black-forest-labs/*`), optionally with
`:version`; one without a version allows every version of what it matches, one with a
version allows only that version (a model named without a version runs the latest, which
such a pattern does not name).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from fastapi import HTTPException, status


def model_allowed(model_name: str, patterns: Sequence[str]) -> bool:
    """Whether `model_name` (`owner/name[:version]`) matches one of the patterns."""
    if not patterns:
        return True
    name, _, version = model_name.partition(":")
    for pattern in patterns:
        pattern_name, has_version, pattern_version = pattern.strip().partition(":")
        if not fnmatchcase(name, pattern_name.lower()):
            continue
        if not has_version or (version and fnmatchcase(version, pattern_version)):
            return True
    return False


def require_allowed_model(model_name: str, patterns: Sequence[str]) -> None:
    """Raise a 422 naming `model_name` and the allowed models when it is not one of them.

    Raises:
        HTTPException: 422, shaped like the request's other validation errors.
    """
    if model_allowed(model_name, patterns):
        return
    msg = f"model {model_name} is not allowed here; allowed models: {', '.join(patterns)}"
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["body", "model_name"], "msg": msg, "type": "value_error"}],
    )
