"""Usages, limits and VM sizes of a region, through MLClient's public compute operations."""

from __future__ import annotations

from typing import Any

from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.quota import Usage
from tasks.workspace import RETRY, field_of


@task(name="read-quota", **RETRY)
def read_quota(factory: ClientFactory, location: str) -> dict[str, Any]:
    """Per family: current usage and limit; per VM size (lower case): family and vCPUs.

    ``compute.list_usage`` and ``list_sizes`` are subscription-level, so the secondary's client
    works before its hub exists (the location is explicit)."""
    ml = factory.ml_client("secondary")
    usages = {}
    for u in ml.compute.list_usage(location=location):
        name = field_of(u, "name")
        family = field_of(name, "value") if name is not None else None
        if family:
            current = field_of(u, "current_value", "currentValue")
            usages[family] = Usage(int(current or 0), int(field_of(u, "limit") or 0))
    sizes = {}
    for s in ml.compute.list_sizes(location=location):
        vcpus = field_of(s, "v_cp_us", "vCPUs")
        if s.name and s.family and vcpus is not None:
            sizes[s.name.lower()] = (s.family, int(vcpus))
    return {"usages": usages, "sizes": sizes}
