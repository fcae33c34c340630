"""Per-plan locks as Prefect global concurrency limits of 1: only for provision-secondary, which
runs before the secondary's storage account (home of every other lock, see
``foundry_dr.lock_store``) exists, and never on the failover path.

``concurrency(name, strict=True)`` only locks when the limit exists (with ``strict=False`` a
missing limit silently locks nothing), so the limit is created first when it is missing.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound


def ensure_limit(name: str, limit: int = 1) -> str:
    """Create the global concurrency limit ``name`` (``limit`` slots) unless it exists."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:
                pass  # created meanwhile by a concurrent run
    return name
