"""The last readiness verdict, ``foundry-dr/readiness/<plan>/latest.json`` in the secondary's account.

Kept in the region a failover goes to, like the drill history, so ``foundry-dr status`` shows the
verdict whichever orchestrator ran the check, and even when it is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from foundry_dr.readiness import Readiness
from foundry_dr.state_layout import READINESS_PREFIX
from foundry_dr.stores.records import read_record, update_record

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory


def readiness_path(plan_name: str) -> str:
    return f"{READINESS_PREFIX}/{plan_name}/latest.json"


def _service(factory: ClientFactory):  # noqa: ANN202 - a BlobServiceClient
    return factory.blob_service(factory.plan.secondary.storage_account)


def read_readiness(factory: ClientFactory) -> Readiness | None:
    """The last verdict, None when no check has run (raises when the store can't be read)."""
    data, _ = read_record(_service(factory), readiness_path(factory.plan.name))
    return Readiness.model_validate(data) if data else None


def write_readiness(factory: ClientFactory, result: Readiness) -> None:
    """Replace the last verdict (conditional write: a concurrent check's newer verdict is kept)."""

    def change(data: dict | None) -> dict:
        if data and Readiness.model_validate(data).checked_at > result.checked_at:
            return data
        return result.model_dump(mode="json")

    update_record(_service(factory), readiness_path(factory.plan.name), change)
