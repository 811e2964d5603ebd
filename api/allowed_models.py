"""`ALLOWED_MODELS`: which models a job may ask for (patterns; none set allows any).

A pattern is `owner/name` with fnmatch wildcards (`black-forest-labs/*`), optionally with
`:version`. One without a version allows what it matches named without a version (the
model's latest); a version is allowed only by a pattern that names it (wildcards allowed:
`owner/name:*`). A create with a version sends the provider the version id alone, which
names whatever model it belongs to: the model name before it proves nothing, so a pattern
must say it trusts versions.
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
        if (not version and not has_version) or (
            version and has_version and fnmatchcase(version, pattern_version)
        ):
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
