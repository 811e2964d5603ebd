"""A fake of Replicate's HTTP predictions API, for local development and tests.

It speaks enough of `https://api.replicate.com/v1` for the official `replicate` client to work
against it unchanged (`replicate.Client(api_token="x", base_url="http://127.0.0.1:8100")`; our
service's base URL is `http://127.0.0.1:8100/v1`). Predictions are computed from timestamps,
outputs are rendered when downloaded, and faults are injected by rate (settings) or on request
(the `fake` input key, see `options.py`). `Cancel-After` deadlines and the list's
`created_after`/`created_before` filters behave as Replicate documents them; `/_fake/state`
shows tests what happened. Run it with `python -m devstack.fake_replicate`.
"""

from devstack.fake_replicate.app import create_app
from devstack.fake_replicate.settings import FakeReplicateSettings

__all__ = ["FakeReplicateSettings", "create_app"]
