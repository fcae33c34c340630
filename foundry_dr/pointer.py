"""The active-hub pointer: which side serves, decided by an approved cut-over or fail-back.

A small JSON record kept in both regions' default storage accounts (``foundry_dr.stores.pointer``),
written under the failover lock with its fencing token; of the records a reader finds, the one
with the highest (fencing token, version) wins. The shared Key Vault secret is a best-effort
mirror for clients that already read it (a vault is read-only while it fails over, so it can't
be the place the flip is written). Pure: building and choosing documents needs no Azure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from foundry_dr.plan import Plan
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side, sides_of


class ActivePointer(BaseModel):
    """The document clients resolve the active hub from."""

    plan: str
    active: Side
    location: str
    subscription_id: str
    resource_group: str
    hub: str
    hub_id: str
    projects: dict[str, str] = Field(default_factory=dict, description="project name -> workspace ARM id")
    scoring_uris: dict[str, str] = Field(default_factory=dict, description="endpoint name -> scoring URI")
    changed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    flow_run_id: str | None = None
    runbook: str | None = None
    approver: str | None = None
    reason: str | None = None
    version: int = 1
    fencing_token: int = Field(default=0, description="the failover lock's token under which it was written")
    recovery_point: datetime | None = Field(
        default=None, description="cut-over: the recovery point both sides diverged from (fail-back's 'since')"
    )
    replicated_until: datetime | None = Field(
        default=None, description="cut-over: when the replication of that recovery point last wrote to the secondary"
    )

    def order(self) -> tuple[int, int]:
        """Newer records sort higher: a later lock holder always wins over an earlier one."""
        return (self.fencing_token, self.version)


def build_pointer(plan: Plan, side: Side, *, scoring_uris: dict[str, str] | None = None,
                  flow_run_id: str | None = None, runbook: str | None = None, approver: str | None = None,
                  reason: str | None = None, previous: ActivePointer | None = None,
                  recovery_point: datetime | None = None,
                  replicated_until: datetime | None = None) -> ActivePointer:
    s = plan.side(side)
    return ActivePointer(
        plan=plan.name, active=side, location=s.location, subscription_id=s.subscription_id,
        resource_group=s.resource_group, hub=s.hub, hub_id=workspace_id(plan, side, s.hub),
        projects={p: workspace_id(plan, side, p) for p in s.projects},
        scoring_uris=dict(scoring_uris or {}), flow_run_id=flow_run_id, runbook=runbook, approver=approver,
        reason=reason, version=(previous.version + 1) if previous else 1, recovery_point=recovery_point,
        replicated_until=replicated_until,
    )  # fmt: skip


def newest(records: list[ActivePointer]) -> ActivePointer | None:
    """The record that wins among those found in the stores (None if there is none)."""
    return max(records, key=ActivePointer.order) if records else None


def source_serving(pointer: ActivePointer, direction: str) -> str | None:
    """Why replication in ``direction`` must not run now, or None when it may: its source must be
    the side that serves. Forward runs while the secondary serves would overwrite the writes made
    there, and their checkpoints would move the recovery point fail-back relies on."""
    try:
        source, _ = sides_of(direction)  # type: ignore[arg-type]
    except ValueError as exc:  # a typo must not be read as the other direction
        return f"replication refused: {exc}; nothing written."
    if pointer.active == source:
        return None
    return (
        f"replication {direction} refused: the {pointer.active} serves (pointer v{pointer.version}, "
        f"{pointer.changed_at.isoformat(timespec='seconds')}, {pointer.runbook or 'no runbook'}); copying from the "
        f"{source} would overwrite the {pointer.active}'s writes. Run fail-back (or cut-over) instead; nothing written."
    )


def default_pointer(plan: Plan) -> ActivePointer:
    """Never flipped: every store answered that it has no record, so the primary serves."""
    return build_pointer(plan, "primary", reason="never flipped: the primary is active by default", previous=None)


def pointer_variable_name(plan: Plan) -> str:
    from foundry_dr.plan import default_prefect_variable

    return plan.pointer.prefect_variable or default_prefect_variable(plan.name)


def as_variable_value(pointer: ActivePointer) -> dict[str, Any]:
    return pointer.model_dump(mode="json")
