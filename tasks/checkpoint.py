"""Write and read replication checkpoints in the regions' storage (container ``foundry-dr``).

The checkpoint goes to the destination side's default account first (it must survive the
loss of the source region), then to the other side's when that answers.
"""

from __future__ import annotations

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContentSettings
from prefect import get_run_logger, task

from foundry_dr.checkpoint import CHECKPOINT_CONTAINER, Checkpoint
from foundry_dr.checkpoint_store import checkpoint_account, read_checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED

__all__ = ["read_checkpoint", "write_checkpoint"]


def _write(factory: ClientFactory, side: Side, checkpoint: Checkpoint) -> None:
    container = factory.blob_service(checkpoint_account(factory, side)).get_container_client(CHECKPOINT_CONTAINER)
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    data = checkpoint.model_dump_json(indent=1).encode()
    settings = ContentSettings(content_type="application/json")
    container.upload_blob(checkpoint.blob_name(), data, overwrite=True, content_settings=settings)
    # the "latest" pointers last: a reader never sees one whose history entry is missing
    latest = (Checkpoint.latest_name(checkpoint.plan, checkpoint.direction), Checkpoint.latest_name(checkpoint.plan))
    for name in latest:
        container.upload_blob(name, data, overwrite=True, content_settings=settings)


@task(**RETRIED)
def write_checkpoint(factory: ClientFactory, checkpoint: Checkpoint, destination: Side) -> list[str]:
    """Store the checkpoint on the destination side (required) and the source side (best effort)."""
    logger = get_run_logger()
    _write(factory, destination, checkpoint)
    written = [destination]
    other: Side = "primary" if destination == "secondary" else "secondary"
    try:
        _write(factory, other, checkpoint)
        written.append(other)
    except AzureError as exc:
        logger.warning("checkpoint not mirrored to the %s side (%s); the %s copy is authoritative",
                       other, type(exc).__name__, destination)
    return written
