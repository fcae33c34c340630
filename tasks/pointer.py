"""Read and flip the active-hub pointer (Key Vault secret + Prefect Variable mirror)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.variables import Variable

from foundry_dr.clients import ClientFactory
from foundry_dr.pointer import ActivePointer, as_variable_value, pointer_variable_name
from foundry_dr.pointer_store import read_pointer

__all__ = ["read_pointer", "write_pointer"]
from foundry_dr.retry import retry_transient


@task(retries=4, retry_delay_seconds=[1, 2, 5, 10], retry_condition_fn=retry_transient, cache_policy=NO_CACHE)
def write_pointer(factory: ClientFactory, pointer: ActivePointer) -> str:
    """Store the pointer in the shared vault (authoritative), then mirror it in Prefect."""
    plan = factory.plan
    secret = factory.secret_client(plan.shared.key_vault.name).set_secret(
        plan.pointer.key_vault_secret, pointer.model_dump_json(), content_type="application/json",
        tags={"plan": plan.name, "active": pointer.active},
    )  # fmt: skip
    Variable.set(pointer_variable_name(plan), as_variable_value(pointer), overwrite=True)
    get_run_logger().info("active hub is now %s (%s), pointer version %d", pointer.hub, pointer.active,
                          pointer.version)
    return secret.properties.version or ""
