"""Drill history in Azure: ``foundry-dr/drills/<plan>/history.json`` in the secondary's account.

Kept next to the lock, in the region a failover goes to, so auditors and the next drill see it
whatever orchestrator runs; a Prefect Variable may cache it, never own it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from foundry_dr.drill import DrillRecord
from foundry_dr.errors import RecordChanged
from foundry_dr.stores.records import read_record, write_record

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
    service, path = _service(factory), history_path(factory.plan.name)
    for _ in range(5):
        data, etag = read_record(service, path)
        drills = [record.model_dump(mode="json"), *(data or {}).get("drills", [])][:HISTORY_LENGTH]
        try:
            write_record(service, path, _dumps({"plan": factory.plan.name, "drills": drills}), etag)
            return [DrillRecord.model_validate(d) for d in drills]
        except RecordChanged:
            continue
    raise RecordChanged(f"{path} kept changing")


def _dumps(value: dict) -> bytes:
    import json

    return json.dumps(value, indent=1).encode()
