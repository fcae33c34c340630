"""Reading replication checkpoints (runbooks, `foundry-dr status`, drills)."""

from __future__ import annotations

from azure.core.exceptions import AzureError, ResourceNotFoundError

from foundry_dr.checkpoint import CHECKPOINT_CONTAINER, Checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.sides import Side


def checkpoint_account(factory: ClientFactory, side: Side) -> str:
    """Checkpoints live in each side's default (hub) storage account."""
    return factory.plan.side(side).storage_account


def read_checkpoint(factory: ClientFactory, plan_name: str, sides: tuple[Side, ...] = ("secondary", "primary"),
                    direction: str | None = None) -> Checkpoint | None:
    """The newest checkpoint readable on any of ``sides`` (an unreachable side is skipped)."""
    found: list[Checkpoint] = []
    for side in sides:
        try:
            blob = factory.blob_service(checkpoint_account(factory, side)).get_blob_client(
                CHECKPOINT_CONTAINER, Checkpoint.latest_name(plan_name, direction))
            # one retry: an unreachable region must not hold a failover up for minutes of back-off
            found.append(Checkpoint.model_validate_json(blob.download_blob(retry_total=1).readall()))
        except ResourceNotFoundError:
            continue
        except AzureError:
            continue
    return max(found, key=lambda c: c.completed_at) if found else None

