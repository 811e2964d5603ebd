"""Every timeout and retry policy of the job workflow, declared together.

They are behaviour, not configuration: reviewed in code and pinned by the replay tests,
so they stay out of `.env`. Each step's policy sits beside its timeouts in one `Step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

# Errors that repeating cannot fix: the provider refused the request (4xx but 429), an
# output file is gone (its URL expired) or redirects, or the prediction failed because of
# the user's input (invalid input, NSFW). (An unreadable image says so itself: InvalidImage.)
NON_RETRYABLE = ["ProviderRejected", "OutputUnavailable", "OutputRefused", "UserInputError"]


@dataclass(frozen=True)
class Step:
    """How one activity runs: its timeouts and its retry policy."""

    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    # All tries together, waits included (None: no limit but the retry policy's).
    schedule_to_close: timedelta | None = None


def _backoff(
    *, initial: float = 1, maximum: float = 30, attempts: int = 5, coefficient: float = 2.0
) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial),
        backoff_coefficient=coefficient,
        maximum_interval=timedelta(seconds=maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=NON_RETRYABLE,
    )


# Creating a prediction costs money: few attempts. The timeout covers `Prefer: wait`
# (at most 10 s, see Settings) plus the client's 30 s, and no more: a worker that dies
# mid-create is noticed after this long.
CREATE_PREDICTION = Step(timedelta(seconds=45), _backoff(attempts=5))
# A poll is cheap and idempotent; a provider outage of a few minutes is ridden out.
GET_PREDICTION = Step(timedelta(seconds=30), _backoff(attempts=10))
# Cancelling is best effort: the job is canceled on our side whatever the provider says.
CANCEL_PREDICTION = Step(timedelta(seconds=30), _backoff(attempts=5, maximum=10))
# Large files take a while; the heartbeat notices a stuck transfer long before the timeout.
STORE_OUTPUT = Step(timedelta(minutes=15), _backoff(attempts=10), heartbeat=timedelta(seconds=30))
# Deleting a failed job's outputs is cheap and idempotent; best effort past these tries.
DELETE_OUTPUTS = Step(timedelta(seconds=30), _backoff(attempts=5))
WRITE_METADATA = Step(timedelta(seconds=30), _backoff(attempts=10))
# The status mirror must never be lost: it retries until PostgreSQL is back (no limit),
# checking every 10 s at most so a recovered database is caught up quickly.
MIRROR_STATUS = Step(timedelta(seconds=30), _backoff(attempts=0, maximum=10))
# Image steps read from the bucket and decode: a storage outage of a minute or two is ridden
# out; an image libvips cannot read is final (InvalidImage). A variant heartbeats, so a
# worker killed mid-variant is noticed in 30 s, not at the timeout.
PROBE_IMAGE = Step(timedelta(minutes=2), _backoff(attempts=10))
MAKE_VARIANT = Step(timedelta(minutes=5), _backoff(attempts=10), heartbeat=timedelta(seconds=30))
# The user's webhook is theirs to keep up: tried with backoff (2 s, 4 s, … then every
# 10 min) for up to an hour, then given up. Its tries are not the job's retries and its
# failure never fails the job. One try is capped at ~20 s by the sender itself.
NOTIFY_WEBHOOK = Step(
    timedelta(seconds=30),
    _backoff(initial=2, maximum=600, attempts=0),
    schedule_to_close=timedelta(hours=1),
)
# The reconciler's page of rows (workflows/reconcile.py): a few tries, since the schedule
# runs it again a minute later anyway; it heartbeats per row, so a stuck describe shows soon.
RECONCILE_BATCH = Step(
    timedelta(minutes=2), _backoff(attempts=3, maximum=10), heartbeat=timedelta(seconds=30)
)

# A prediction that fails for a reason that is not the user's (say the provider ran out of
# GPU memory) is run again as a new prediction, with this backoff between runs.
PREDICTION_RERUN = _backoff(initial=5, maximum=60, attempts=3)

# Waiting on the provider costs no worker slot: the workflow sleeps on a timer and wakes
# on the provider's webhook signal or the next poll, whichever comes first. With webhooks
# the polls are only a safety net for a lost webhook, so the first comes after the longest
# interval and they are rare (each poll costs a timer, an activity and two workflow tasks).
POLL_INITIAL = timedelta(seconds=1)
POLL_COEFFICIENT = 1.5
POLL_MAXIMUM = timedelta(seconds=10)
POLL_MAXIMUM_WITH_WEBHOOK = timedelta(seconds=30)
# Longest a job may wait on the provider before it is failed as timed out.
PREDICTION_DEADLINE = timedelta(hours=1)
# The provider cancels a prediction itself this long after its create (`Cancel-After`), so
# none outlives the job even if our own cancel is lost: the deadline plus the create's time.
PROVIDER_CANCEL_AFTER = PREDICTION_DEADLINE + timedelta(minutes=5)


def backoff_delay(policy: RetryPolicy, attempt: int) -> timedelta:
    """The delay a policy puts after failed `attempt` (1-based), as Temporal computes it."""
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(delay, policy.maximum_interval or delay)
