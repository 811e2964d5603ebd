"""Our webhook signatures verify with the Standard Webhooks library and with plain HMAC code."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.webhook_signing import PREFIX, headers, new_secret, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example key


def test_the_spec_example_signs_as_the_spec_says():
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_a_standard_webhooks_receiver_verifies_our_headers():
    secret = new_secret()
    body = json.dumps({"id": "j", "status": "completed"}).encode()
    sent = headers(secret, "j:completed", int(time.time()), body)
    assert Webhook(secret).verify(body, sent) == {"id": "j", "status": "completed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", sent)


def test_independent_hmac_agrees():
    secret = new_secret()
    assert secret.startswith(PREFIX)
    assert len(base64.b64decode(secret[len(PREFIX) :])) == 32
    key = base64.b64decode(secret[len(PREFIX) :])
    digest = hmac.new(key, b"id.1700000000.{}", hashlib.sha256).digest()
    assert sign(secret, "id", 1700000000, b"{}") == "v1," + base64.b64encode(digest).decode()


def test_secrets_differ():
    assert new_secret() != new_secret()
