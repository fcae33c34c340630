"""Flip the active-hub pointer: region stores (authoritative), then the Key Vault mirror."""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError
from prefect import get_run_logger, task
from prefect.variables import Variable

from foundry_dr.clients import ClientFactory
from foundry_dr.pointer import ActivePointer, as_variable_value, pointer_variable_name
from foundry_dr.sides import Side
from foundry_dr.stores.pointer import write_pointer_records
from foundry_dr.stores.records import describe_failure
from foundry_dr.tasks.retried import RETRIED_POINTER

if TYPE_CHECKING:
    from foundry_dr.stores.lock import Lease


@task(**RETRIED_POINTER)
def write_pointer(
    factory: ClientFactory, pointer: ActivePointer, lease: Lease, required: tuple[Side, ...] = ("secondary",)
) -> dict:
    """Write the pointer under ``lease`` (checked first: a run that lost its lease never flips),
    to the regions' stores (the secondary's, the authority, must succeed), then mirror it, best effort, in the shared
    vault (read-only while it fails over) and in a Prefect Variable (a cache for the UI)."""
    logger = get_run_logger()
    plan = factory.plan
    lease.check()
    pointer = pointer.model_copy(update={"fencing_token": lease.token})
    outcome = write_pointer_records(factory, pointer, required)
    try:
        factory.secret_client(plan.shared.key_vault.name).set_secret(
            plan.pointer.key_vault_secret, pointer.model_dump_json(), content_type="application/json",
            tags={"plan": plan.name, "active": pointer.active}, retry_total=1,
        )  # fmt: skip
        outcome["key-vault mirror"] = "written"
    except AzureError as exc:
        outcome["key-vault mirror"] = f"not written: {describe_failure(exc)}"
        logger.warning("pointer mirror in Key Vault %s not updated (%s); the region stores are authoritative",
                       plan.shared.key_vault.name, describe_failure(exc))
    try:
        Variable.set(pointer_variable_name(plan), as_variable_value(pointer), overwrite=True)
    except Exception as exc:  # noqa: BLE001 - a cache only
        logger.warning("pointer cache variable not updated: %s", type(exc).__name__)
    logger.info("active hub is now %s (%s), pointer v%d under lock token %d: %s", pointer.hub, pointer.active,
                pointer.version, pointer.fencing_token, outcome)
    return outcome
