"""Drill history and drill targets in Azure: ``foundry-dr/drills/<plan>/history.json`` and
``created.json`` in the secondary's account.

Kept next to the lock, in the region a failover goes to, so auditors and the next drill see it
whatever orchestrator runs; a Prefect Variable may cache it, never own it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from foundry_dr.drill import CreatedByDrill, DrillRecord
from foundry_dr.stores.records import read_record, update_record

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory

HISTORY_LENGTH = 20


def history_path(plan_name: str) -> str:
    return f"drills/{plan_name}/history.json"


def _service(factory: ClientFactory):  # noqa: ANN202 - a BlobServiceClient
    return factory.blob_service(factory.plan.secondary.storage_account)


def read_drills(factory: ClientFactory) -> list[DrillRecord]:
    """Newest first. Raises when the store can't be read (callers say the history is unavailable)."""
    data, _ = read_record(_service(factory), history_path(factory.plan.name))
    return [DrillRecord.model_validate(d) for d in (data or {}).get("drills", [])]


def append_drill(factory: ClientFactory, record: DrillRecord) -> list[DrillRecord]:
    """Add a drill (conditional write; re-read on a concurrent one); the history, newest first."""

    def change(data: dict | None) -> dict:
        drills = [record.model_dump(mode="json"), *(data or {}).get("drills", [])][:HISTORY_LENGTH]
        return {"plan": factory.plan.name, "drills": drills}

    written = update_record(_service(factory), history_path(factory.plan.name), change)
    return [DrillRecord.model_validate(d) for d in written["drills"]]


# ---- what drills created: ``drills/<plan>/created.json`` next to the history -----------------
# Written before the drill creates anything (the ids it is about to create), so a drill killed
# half-way leaves a record of everything that may exist; the next drill, or `foundry-dr drill
# cleanup` once the plan's max lifetime has passed, removes it and marks the entry cleaned.
CREATED_LENGTH = 50


def created_path(plan_name: str) -> str:
    return f"drills/{plan_name}/created.json"


def read_created(factory: ClientFactory) -> list[CreatedByDrill]:
    """Every recorded drill target, newest first (raises when the store can't be read)."""
    data, _ = read_record(_service(factory), created_path(factory.plan.name))
    return [CreatedByDrill.model_validate(d) for d in (data or {}).get("drills", [])]


def _update_created(factory: ClientFactory, change: Callable[[list[CreatedByDrill]], list[CreatedByDrill]]) -> None:
    def on_record(data: dict | None) -> dict:
        entries = change([CreatedByDrill.model_validate(d) for d in (data or {}).get("drills", [])])
        return {"plan": factory.plan.name, "drills": [e.model_dump(mode="json") for e in entries[:CREATED_LENGTH]]}

    update_record(_service(factory), created_path(factory.plan.name), on_record)


def record_created(factory: ClientFactory, flow_run_id: str, started_at: datetime, resources: list[str]) -> None:
    """Add ``resources`` to this drill's entry (created first if needed), before they are created."""

    def change(entries: list[CreatedByDrill]) -> list[CreatedByDrill]:
        for e in entries:
            if e.flow_run_id == flow_run_id:
                e.resources = [*e.resources, *(r for r in resources if r not in e.resources)]
                return entries
        return [CreatedByDrill(flow_run_id=flow_run_id, started_at=started_at, resources=list(resources)), *entries]

    _update_created(factory, change)


def mark_cleaned(factory: ClientFactory, flow_run_ids: list[str], at: datetime) -> None:
    """Mark these drills' targets removed (only once every resource is gone)."""

    def change(entries: list[CreatedByDrill]) -> list[CreatedByDrill]:
        for e in entries:
            if e.flow_run_id in flow_run_ids:
                e.cleaned_at = at
        return entries

    _update_created(factory, change)
