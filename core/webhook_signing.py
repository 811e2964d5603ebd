"""Signing the calls to users' webhooks as Standard Webhooks (and Replicate) sign theirs.

The signature is `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`,
keyed with the base64-decoded part of the secret after `whsec_`; any Standard Webhooks
library verifies it (the README shows one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh secret: `whsec_` and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one call."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one call."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def signed_event(
    secret: str, msg_id: str, event: str, document: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """The body (the JSON `document`) and headers of one call, signed now."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return body, {**headers(secret, msg_id, int(time.time()), body), "webhook-event": event}
