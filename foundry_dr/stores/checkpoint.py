"""Replication checkpoints in each side's default (hub) storage account, ``foundry-dr/checkpoints/``.

Written by replicate-artifacts (the task is :func:`foundry_dr.tasks.checkpoint.write_checkpoint`),
read by runbooks, ``foundry-dr status`` and drills. Reads are quick (one retry): an unreachable
region must not hold a failover up for minutes of back-off.
"""

from __future__ import annotations

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContentSettings

from foundry_dr.checkpoint import Checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.retry import QUICK_RETRY
from foundry_dr.sides import Side
from foundry_dr.state_layout import STATE_CONTAINER


def checkpoint_account(factory: ClientFactory, side: Side) -> str:
    """Checkpoints live in each side's default (hub) storage account."""
    return factory.plan.side(side).storage_account


def read_checkpoint(factory: ClientFactory, plan_name: str, sides: tuple[Side, ...] = ("secondary", "primary"),
                    direction: str | None = None) -> Checkpoint | None:
    """The newest checkpoint readable on any of ``sides`` (a side without one, or unreachable, is skipped)."""
    found: list[Checkpoint] = []
    for side in sides:
        try:
            blob = factory.blob_service(checkpoint_account(factory, side)).get_blob_client(
                STATE_CONTAINER, Checkpoint.latest_name(plan_name, direction))
            found.append(Checkpoint.model_validate_json(blob.download_blob(**QUICK_RETRY).readall()))
        except AzureError:  # ResourceNotFoundError included: no checkpoint there
            continue
    return max(found, key=lambda c: c.completed_at) if found else None


def write_checkpoint_record(factory: ClientFactory, side: Side, checkpoint: Checkpoint) -> None:
    """Store ``checkpoint`` in ``side``'s account: its history entry first, then the "latest"
    records, so a reader never sees a latest record whose history entry is missing."""
    container = factory.blob_service(checkpoint_account(factory, side)).get_container_client(STATE_CONTAINER)
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    data = checkpoint.model_dump_json(indent=1).encode()
    settings = ContentSettings(content_type="application/json")
    container.upload_blob(checkpoint.blob_name(), data, overwrite=True, content_settings=settings)
    latest = (Checkpoint.latest_name(checkpoint.plan, checkpoint.direction), Checkpoint.latest_name(checkpoint.plan))
    for name in latest:
        container.upload_blob(name, data, overwrite=True, content_settings=settings)
