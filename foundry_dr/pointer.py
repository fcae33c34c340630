"""The active-hub pointer: which side serves, decided by an approved cut-over or fail-back.

It is a JSON document stored as a secret in the shared Key Vault (which fails over by
itself, so clients can read it during a regional outage) and mirrored in a Prefect
Variable. Pure: building and reading the document needs no Azure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from foundry_dr.plan import Plan

SideName = Literal["primary", "secondary"]


def workspace_id(plan: Plan, side: SideName, workspace: str) -> str:
    s = plan.side(side)
    return (
        f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{workspace}"
    )


class ActivePointer(BaseModel):
    """The document clients resolve the active hub from."""

    plan: str
    active: SideName
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


def build_pointer(plan: Plan, side: SideName, *, scoring_uris: dict[str, str] | None = None,
                  flow_run_id: str | None = None, runbook: str | None = None, approver: str | None = None,
                  reason: str | None = None, previous: ActivePointer | None = None) -> ActivePointer:
    s = plan.side(side)
    return ActivePointer(
        plan=plan.name, active=side, location=s.location, subscription_id=s.subscription_id,
        resource_group=s.resource_group, hub=s.hub, hub_id=workspace_id(plan, side, s.hub),
        projects={p: workspace_id(plan, side, p) for p in s.projects},
        scoring_uris=dict(scoring_uris or {}), flow_run_id=flow_run_id, runbook=runbook, approver=approver,
        reason=reason, version=(previous.version + 1) if previous else 1,
    )  # fmt: skip


def default_pointer(plan: Plan) -> ActivePointer:
    """Before any cut-over the primary is active (no document stored yet)."""
    return build_pointer(plan, "primary", reason="no pointer stored yet: the primary is active by default")


def pointer_variable_name(plan: Plan) -> str:
    from foundry_dr.plan import default_prefect_variable

    return plan.pointer.prefect_variable or default_prefect_variable(plan.name)


def as_variable_value(pointer: ActivePointer) -> dict[str, Any]:
    return pointer.model_dump(mode="json")
