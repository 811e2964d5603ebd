"""`GET /api/v1/webhooks/secret`: the key that signs the calls to the caller's webhooks."""

from __future__ import annotations

from pydantic import BaseModel

from api.auth import CallerDep, keyed_router
from api.deps import SessionDep
from api.openapi import example, responses
from core.webhook_secrets import webhook_secret

router = keyed_router(prefix="/api/v1", tags=["webhooks"])
EXAMPLE_KEY = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD2xBVZ1BMxi8="


class WebhookSecretOut(BaseModel):
    """A Standard Webhooks secret: `whsec_` and the base64 HMAC key."""

    key: str


@router.get("/webhooks/secret", responses={**example({"key": EXAMPLE_KEY}), **responses(503)})
async def get_webhook_secret(caller: CallerDep, session: SessionDep) -> WebhookSecretOut:
    """The secret that signs every call to this owner's `webhook_url`s (made on first ask).

    Each call carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
    (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the Standard Webhooks scheme):
    check the signature and the timestamp's age before trusting the body. The body is the
    final job document; `webhook-event` says `job.completed`, `job.failed` or `job.canceled`.
    """
    return WebhookSecretOut(key=await webhook_secret(session, caller.owner))
