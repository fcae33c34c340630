"""Reading the active-hub pointer: used by runbooks, `foundry-dr status` and applications."""

from __future__ import annotations

from azure.core.exceptions import AzureError, ResourceNotFoundError
from prefect.variables import Variable

from foundry_dr.clients import ClientFactory
from foundry_dr.pointer import ActivePointer, default_pointer, pointer_variable_name


def read_pointer(factory: ClientFactory) -> tuple[ActivePointer, str]:
    """The pointer and where it came from: the vault, else the Prefect mirror, else the default."""
    plan = factory.plan
    try:
        secret = factory.secret_client(plan.shared.key_vault.name).get_secret(plan.pointer.key_vault_secret)
        return ActivePointer.model_validate_json(secret.value or "{}"), "key-vault"
    except ResourceNotFoundError:
        return default_pointer(plan), "default"
    except AzureError:
        pass
    try:
        mirrored = Variable.get(pointer_variable_name(plan), default=None)
    except Exception:  # noqa: BLE001 - no Prefect API reachable: fall through to the default
        mirrored = None
    if mirrored:
        return ActivePointer.model_validate(mirrored), "prefect-variable"
    return default_pointer(plan), "default"
