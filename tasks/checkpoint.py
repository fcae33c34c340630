"""The replication checkpoint's task: store it in both regions (foundry_dr/stores/checkpoint.py).

The checkpoint goes to the destination side's default account first (it must survive the
loss of the source region), then to the other side's when that answers.
"""

from __future__ import annotations

from azure.core.exceptions import AzureError
from prefect import get_run_logger, task

from foundry_dr.checkpoint import Checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.sides import Side, other
from foundry_dr.stores.checkpoint import write_checkpoint_record
from foundry_dr.tasks.retried import RETRIED


@task(**RETRIED)
def write_checkpoint(factory: ClientFactory, checkpoint: Checkpoint, destination: Side) -> list[str]:
    """Store the checkpoint on the destination side (required) and the source side (best effort)."""
    logger = get_run_logger()
    write_checkpoint_record(factory, destination, checkpoint)
    written = [destination]
    mirror = other(destination)
    try:
        write_checkpoint_record(factory, mirror, checkpoint)
        written.append(mirror)
    except AzureError as exc:
        logger.warning("checkpoint not mirrored to the %s side (%s); the %s copy is authoritative",
                       mirror, type(exc).__name__, destination)
    return written
