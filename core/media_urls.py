"""Signed media URLs: `/media/{name}?exp=…&sig=…` works without a key until it expires.

The signature is an HMAC-SHA256 over the path and the expiry, so a URL cannot be moved to
another object nor kept alive longer. URLs are signed with the first of
`MEDIA_SIGNING_SECRETS` and checked against all of them, so a secret rotates without
breaking the links handed out just before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from core.config import Settings
from core.keys import media_name

MEDIA_PATH = "/media/"
_EXPIRY = re.compile(r"[0-9]{1,12}")


def _path(name: str) -> str:
    """The path that is signed: the URL's own, percent-encoded as it is handed out."""
    return MEDIA_PATH + quote(name)


class Refusal(StrEnum):
    """Why a media URL is refused (the 403's detail)."""

    UNSIGNED = "this media URL is not signed: take the url from the job document"
    EXPIRED = "this media URL has expired: read the job document again for a fresh one"
    TAMPERED = "this media URL's signature does not match it"


class MediaSigner:
    """Signs and checks the media URLs of job documents."""

    def __init__(self, secrets: Sequence[str], *, ttl_seconds: int, base_url: str) -> None:
        if not secrets:
            raise ValueError("at least one media signing secret is needed")
        self._keys = [secret.encode() for secret in secrets]
        self.ttl_seconds = ttl_seconds
        self._base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSigner:
        return cls(
            [secret.get_secret_value() for secret in settings.media_signing_secrets],
            ttl_seconds=settings.media_url_ttl_seconds,
            base_url=settings.public_base_url,
        )

    def _signature(self, key: bytes, path: str, expires: int) -> str:
        digest = hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, object_key: str, *, now: float | None = None) -> str:
        """The absolute, signed URL of a media object, valid for the TTL from `now`."""
        path = _path(media_name(object_key))
        expires = int(now if now is not None else time.time()) + self.ttl_seconds
        sig = self._signature(self._keys[0], path, expires)
        return f"{self._base_url}{path}?exp={expires}&sig={sig}"

    def signed_outputs(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stored outputs (each with its object `key`) with their `url` signed afresh."""
        return [
            {**output, "url": self.url(output["key"])} if "key" in output else output
            for output in outputs
        ]

    def check(
        self, name: str, exp: str | None, sig: str | None, *, now: float | None = None
    ) -> Refusal | None:
        """Why a request for `/media/{name}` with these query values is refused, or None."""
        path = _path(name)
        if not exp or not sig:
            return Refusal.UNSIGNED
        if not _EXPIRY.fullmatch(exp) or not sig.isascii():
            return Refusal.TAMPERED
        expires = int(exp)
        if not any(
            hmac.compare_digest(self._signature(key, path, expires), sig) for key in self._keys
        ):
            return Refusal.TAMPERED
        if expires < (now if now is not None else time.time()):
            return Refusal.EXPIRED
        return None
