"""A submit's admission as one database call: `admit_submit`.

An owner's admissions are serialised on its `owner_quotas` row lock. Taken statement by
statement from the API (upsert the bucket, lock it, read the clock, drop expired
reservations, count the active jobs, spend the token, reserve the slot, commit), the lock
was held over seven round trips, about 10 ms, which capped one owner at about 100 submits
per second. Inside one function the lock is held for the function and the COMMIT.

Each statement of a VOLATILE plpgsql function reads a fresh snapshot (READ COMMITTED), so
the active jobs are counted after the lock is ours: a submit admitted just before, whose
reservation or job committed while this one waited, is counted. The arithmetic is
`core.quotas`'s; it passes the limits, the statuses that count as active, and the
reservation's lifetime.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADMIT_SUBMIT = """
CREATE FUNCTION admit_submit(
    p_owner text, p_per_minute integer, p_max_active integer, p_active text[],
    p_job_id uuid, p_ttl interval
) RETURNS TABLE (refusal text, tokens double precision, active bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    capacity constant double precision := p_per_minute;
    v_tokens double precision;
    v_refilled timestamptz;
    v_now timestamptz;
    v_active bigint;
BEGIN
    INSERT INTO owner_quotas (owner, tokens, refilled_at)
        VALUES (p_owner, capacity, clock_timestamp())
        ON CONFLICT (owner) DO NOTHING;
    SELECT q.tokens, q.refilled_at INTO v_tokens, v_refilled
        FROM owner_quotas q WHERE q.owner = p_owner FOR UPDATE;
    -- The database's clock, read once the lock is ours (the wait counts as refill).
    v_now := clock_timestamp();
    v_tokens := least(
        capacity,
        v_tokens + greatest(0, extract(epoch FROM v_now - v_refilled)) * capacity / 60
    );
    IF v_tokens < 1 THEN
        RETURN QUERY SELECT 'rate'::text, v_tokens, 0::bigint;
        RETURN;
    END IF;
    DELETE FROM quota_reservations r WHERE r.owner = p_owner AND r.expires_at <= v_now;
    SELECT (SELECT count(*) FROM jobs j WHERE j.owner = p_owner AND j.status = ANY (p_active))
         + (SELECT count(*) FROM quota_reservations r WHERE r.owner = p_owner)
        INTO v_active;
    IF v_active >= p_max_active THEN
        RETURN QUERY SELECT 'active'::text, v_tokens, v_active;
        RETURN;
    END IF;
    UPDATE owner_quotas SET tokens = v_tokens - 1, refilled_at = v_now WHERE owner = p_owner;
    INSERT INTO quota_reservations (job_id, owner, expires_at)
        VALUES (p_job_id, p_owner, v_now + p_ttl);
    RETURN QUERY SELECT NULL::text, v_tokens - 1, v_active + 1;
END
$$
"""


def upgrade() -> None:
    op.execute(ADMIT_SUBMIT)


def downgrade() -> None:
    op.execute("DROP FUNCTION admit_submit(text, integer, integer, text[], uuid, interval)")
