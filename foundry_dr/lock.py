"""The failover lock's rules: a lease with an expiry and a fencing token (pure; no Azure).

The record lives in the secondary region's storage (``foundry_dr.stores.lock``), outside any
orchestrator: a Prefect server that ran in the failed region, or a second orchestrator in the
other region, sees the same lock. A holder renews its lease while it runs; a holder that dies
(SIGKILL, lost machine) stops renewing and its lease expires, after which another run takes
the lock over with the next fencing token. Every pointer write carries the token of the lock
it was made under, so a holder that lost its lease can never overwrite a newer holder's flip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field


class LockRecord(BaseModel):
    """One lock's state, as stored. ``holder`` is empty once released."""

    plan: str
    name: str
    token: int = Field(default=0, description="fencing token: +1 at every acquisition, never reused")
    holder: str = Field(default="", description="unique id of the acquisition that holds it")
    runbook: str | None = None
    flow_run_id: str | None = None
    host: str | None = None
    acquired_at: datetime | None = None
    renewed_at: datetime | None = None
    expires_at: datetime | None = None

    def held(self, now: datetime | None = None) -> bool:
        """Held by someone right now (released or expired leases are free)."""
        now = now or datetime.now(UTC)
        return bool(self.holder) and self.expires_at is not None and self.expires_at > now

    def describe(self) -> str:
        """Who holds it, since when, until when: for LockHeld messages and `status`."""
        if not self.holder:
            return f"free (last token {self.token})"
        return (
            f"{self.runbook or '?'} (flow run {self.flow_run_id or 'none'}, on {self.host or '?'}, "
            f"since {_iso(self.acquired_at)}, lease until {_iso(self.expires_at)}, token {self.token})"
        )


def taken(previous: LockRecord | None, plan: str, name: str, holder: str, lease: timedelta, *,
          runbook: str | None, flow_run_id: str | None, host: str | None,
          now: datetime | None = None) -> LockRecord | None:
    """The record that acquiring the lock writes, or None while someone else holds it."""
    now = now or datetime.now(UTC)
    if previous is not None and previous.held(now) and previous.holder != holder:
        return None
    return LockRecord(
        plan=plan, name=name, token=(previous.token if previous else 0) + 1, holder=holder, runbook=runbook,
        flow_run_id=flow_run_id, host=host, acquired_at=now, renewed_at=now, expires_at=now + lease,
    )  # fmt: skip


def renewed(record: LockRecord, lease: timedelta, now: datetime | None = None) -> LockRecord:
    now = now or datetime.now(UTC)
    return record.model_copy(update={"renewed_at": now, "expires_at": now + lease})


def released(record: LockRecord, now: datetime | None = None) -> LockRecord:
    """Free again; the token stays, so the next holder's is higher."""
    now = now or datetime.now(UTC)
    return record.model_copy(update={"holder": "", "expires_at": now, "renewed_at": now})


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "?"
