"""Usages, limits and VM sizes of a region, through MLClient's public compute operations."""

from __future__ import annotations

from typing import Any

from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.quota import subscription_usages
from foundry_dr.tasks.retried import RETRIED
from foundry_dr.tasks.workspace import field_of


@task(name="read-quota", **RETRIED)
def read_quota(factory: ClientFactory, location: str, side: str = "secondary") -> dict[str, Any]:
    """Per family (:func:`~foundry_dr.quota.family_key`) and in total: dedicated-core usage and
    limit; per VM size (lower case): family and vCPUs.

    ``compute.list_usage`` and ``list_sizes`` are subscription-level, so the secondary's client
    works before its hub exists (the location is explicit)."""
    ml = factory.ml_client(side)
    rows = []
    for u in ml.compute.list_usage(location=location):
        name = field_of(u, "name")
        rows.append({
            "type": field_of(u, "type"),
            "name": field_of(name, "value") if name is not None else None,
            "current": field_of(u, "current_value", "currentValue"),
            "limit": field_of(u, "limit"),
        })  # fmt: skip
    usages = subscription_usages(rows)
    sizes = {}
    for s in ml.compute.list_sizes(location=location):
        vcpus = field_of(s, "v_cp_us", "vCPUs")
        if s.name and s.family and vcpus is not None:
            sizes[s.name.lower()] = (s.family, int(vcpus))
    return {"usages": usages, "sizes": sizes}


@task(name="check-online-quota", **RETRIED)
def check_online_quota(factory: ClientFactory, side: str, growth: list[tuple[str, str, int, int]]) -> dict[str, Any]:
    """Before any write: the region has the cores the grown online deployments hold (with Azure
    ML's 20 % upgrade reserve), else :class:`~foundry_dr.quota.QuotaExceeded` naming each family."""
    from foundry_dr.errors import QuotaExceeded
    from foundry_dr.quota import check, online_cores_needed

    location = factory.plan.side(side).location
    quota = read_quota.fn(factory, location, side)
    needed = online_cores_needed(growth, quota["sizes"])
    problems = check(needed, quota["usages"], location)
    if problems:
        raise QuotaExceeded([f"online deployments {p} (instances x 1.2, rounded up: Azure ML's upgrade reserve)"
                             for p in problems])  # fmt: skip
    return {"needed": needed}
