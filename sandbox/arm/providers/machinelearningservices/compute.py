"""Computes and the location usages/quotas they count against.

A DR drill recreates clusters in the secondary region, where quota is what most often fails in
real life; so a compute PUT counts dedicated cores per VM family in the workspace's region
(``maxNodeCount x cores`` for clusters, one node for instances) against a limit set through the
``quotas`` setting (``{"eastus": {"standardDSv2Family": 100}}``, default 500 per family).
Managed online deployments draw on the same family quota, with Azure ML's 20 % upgrade reserve.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from foundry_dr_sandbox.arm.core.engine import now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.machinelearningservices import responses
from foundry_dr_sandbox.arm.providers.machinelearningservices.common import WORKSPACES, body_of, props_of, region_of
from foundry_dr_sandbox.arm.providers.machinelearningservices.models import _versioned

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

COMPUTES = f"{WORKSPACES}/computes"
DEFAULT_LIMIT = 500  # per family: a production subscription with raised quotas (the `quotas` setting lowers it)

# vmSize (lower case) -> (quota family, vCPUs); a few common sizes, as listed by vmSizes
VM_SIZES: dict[str, tuple[str, int]] = {
    **{f"standard_ds{n}_v2": ("standardDSv2Family", c) for n, c in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16))},
    **{f"standard_ds{n}_v2": ("standardDSv2Family", c) for n, c in ((11, 2), (12, 4), (13, 8), (14, 16))},
    **{f"standard_d{c}s_v3": ("standardDSv3Family", c) for c in (2, 4, 8, 16, 32, 64)},
    **{f"standard_d{c}_v3": ("standardDv3Family", c) for c in (2, 4, 8, 16, 32, 64)},
    **{f"standard_e{c}s_v3": ("standardESv3Family", c) for c in (2, 4, 8, 16, 32, 64)},
    **{f"standard_f{c}s_v2": ("standardFSv2Family", c) for c in (2, 4, 8, 16, 32, 72)},
    "standard_nc6s_v3": ("standardNCSv3Family", 6),
    "standard_nc12s_v3": ("standardNCSv3Family", 12),
    "standard_nc24s_v3": ("standardNCSv3Family", 24),
    "standard_nc24ads_a100_v4": ("standardNCADSA100v4Family", 24),
    "standard_nc48ads_a100_v4": ("standardNCADSA100v4Family", 48),
    "standard_nd96asr_v4": ("standardNDASv4_A100Family", 96),
}
FAMILIES = sorted({f for f, _ in VM_SIZES.values()})


def family_of(vm_size: str | None) -> tuple[str, int]:
    """Quota family and vCPUs of a VM size; unknown sizes count as 4 cores of their own family."""
    size = (vm_size or "STANDARD_DS3_V2").lower()
    if size in VM_SIZES:
        return VM_SIZES[size]
    return ("standardOtherFamily", 4)


def cores_of(doc: dict) -> tuple[str, int]:
    props = doc.get("properties", {})
    inner = props.get("properties") or {}
    family, cores = family_of(inner.get("vmSize"))
    if props.get("computeType") == "AmlCompute":
        nodes = int((inner.get("scaleSettings") or {}).get("maxNodeCount") or 0)
    elif props.get("computeType") == "ComputeInstance":
        nodes = 1
    else:
        nodes = 0  # attached computes use no workspace quota
    return family, cores * nodes


def limit_of(engine: Engine, region: str, family: str) -> int:
    quotas = engine.store.get_setting("quotas", {}) or {}
    per_region = quotas.get(region) or {}
    return int(per_region.get(family, per_region.get("*", quotas.get("*", DEFAULT_LIMIT))))


def online_reserved_instances(instance_type: str | None, instances: int) -> int:
    """Instances a managed online deployment holds quota for. Azure ML "reserves 20% extra compute
    resources for performing upgrades ... if you request 10 instances in a deployment, you must
    have a quota for 12", i.e. ``ceil(1.2 * instances)`` (how-to-manage-quotas, "Azure Machine
    Learning online endpoints and batch endpoints", and its "Virtual machine quota allocation for
    deployment"); SKUs marked "Skip 20% Reservation" in the managed online endpoints SKU list
    (A100, H100, ND) reserve none."""
    size = (instance_type or "").lower()
    if "_a100_" in size or "_h100_" in size or size.startswith("standard_nd"):
        return instances
    return math.ceil(1.2 * instances)


def online_cores_of(doc: dict) -> tuple[str, int]:
    """(family, cores held) of a managed online deployment (``sku.capacity`` instances)."""
    props = doc.get("properties", {})
    if str(props.get("endpointComputeType") or "Managed").lower() != "managed":
        return "", 0  # Kubernetes deployments use the cluster's capacity, not this quota
    family, cores = family_of(props.get("instanceType"))
    instances = int((doc.get("sku") or {}).get("capacity") or 0)
    return family, cores * online_reserved_instances(props.get("instanceType"), instances)


def usage_by_family(engine: Engine, sub: str, region: str, skip_id: str | None = None) -> dict[str, int]:
    """Dedicated cores used per family in a region: clusters, instances, and managed online
    deployments, which draw on the same Azure ML per-family quota (the troubleshooting guide's
    OutOfQuota "CPU quota": "Each deployment subtracts from available quota")."""
    from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import ONLINE_DEPLOYMENTS

    used: dict[str, int] = {}
    for rtype, of in ((COMPUTES, cores_of), (ONLINE_DEPLOYMENTS, online_cores_of)):
        for doc, meta in engine.store.by_type(rtype, f"/subscriptions/{sub}"):
            if meta.get("region") != region or (skip_id and doc["id"].lower() == skip_id.lower()):
                continue
            family, cores = of(doc)
            if cores:
                used[family] = used.get(family, 0) + cores
    return used


class ComputeType(ResourceType):
    type_name = COMPUTES
    lro_put = True
    # Checked with the model of the api-version sent (issue 15): azure-ai-ml 1.35.2 sends
    # ComputeInstance fields (enableRootAccess, releaseQuotaOnStop, enableOSPatching) that its own
    # 2025-12-01 ComputeResource model does not declare, but it sends them at 2023-08-01-preview,
    # whose models do (arm/core/schemas/mls-2023-08-01-preview.json, ComputeInstanceProperties).
    rest_model = None
    versioned = _versioned("ComputeResource")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        region = region_of(engine, workspace_id_of_compute(req.path.resource_id))
        created = existing.doc["properties"].get("createdOn") if existing else now_iso()
        props = responses.compute_properties(given, region, created, now_iso())
        doc = {k: body[k] for k in ("tags", "identity", "sku") if k in body}
        doc["location"] = (body.get("location") or region).replace(" ", "").lower()
        doc["properties"] = props
        family, wanted = cores_of(doc)
        if wanted:
            sub = req.path.subscription
            used = usage_by_family(engine, sub, region, skip_id=req.path.resource_id).get(family, 0)
            limit = limit_of(engine, region, family)
            if used + wanted > limit:
                raise ArmError(
                    400,
                    "QuotaExceeded",
                    f"Operation could not be completed as it results in exceeding approved {family} Cores "
                    f"quota. Additional details - Deployment Model: Resource Manager, Location: {region}, "
                    f"Current Limit: {limit}, Current Usage: {used}, Additional Required: {wanted}, "
                    f"(Minimum) New Limit Required: {used + wanted}. Submit a request for Quota increase "
                    f"for the subscription '{sub}'.",
                )
        return doc, dict(existing.meta) if existing else {}


def usage_rows(engine: Engine, sub: str, region: str) -> list[dict]:
    """``locations/{loc}/usages`` as Azure lists it (2024-04-01 example ``Usage/list.json``): the
    cluster count (``totalCores/usages`` "Clusters"), the regional dedicated and low-priority
    totals, one ``vmFamily/usages`` row per family and tier named "Standard <X> Family Cluster
    Dedicated vCPUs" (not the vmSizes family id), then the same names again per workspace
    (``workspaces/usages``) and per compute (``workspaces/computes/usages``)."""
    dedicated: dict[str, int] = {}
    low: dict[str, int] = {}
    per_workspace: dict[tuple[str, str, str], int] = {}
    per_compute: list[tuple[str, str, str, int]] = []
    clusters = 0
    for doc, meta in engine.store.by_type(COMPUTES, f"/subscriptions/{sub}"):
        if meta.get("region") != region:
            continue
        props = doc.get("properties", {})
        inner = props.get("properties") or {}
        clusters += props.get("computeType") == "AmlCompute"
        family, n = cores_of(doc)
        tier = "LowPriority" if str(inner.get("vmPriority") or "Dedicated").lower() == "lowpriority" else "Dedicated"
        bucket = low if tier == "LowPriority" else dedicated
        bucket[family] = bucket.get(family, 0) + n
        ws = workspace_id_of_compute(doc["id"])
        per_workspace[(ws, family, tier)] = per_workspace.get((ws, family, tier), 0) + n
        per_compute.append((doc["id"], family, tier, n))
    from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import ONLINE_DEPLOYMENTS

    for doc, meta in engine.store.by_type(ONLINE_DEPLOYMENTS, f"/subscriptions/{sub}"):
        family, n = online_cores_of(doc)
        if meta.get("region") == region and n:  # managed deployments draw on the same family quota
            dedicated[family] = dedicated.get(family, 0) + n
            ws = doc["id"].split("/onlineEndpoints/", 1)[0]
            per_workspace[(ws, family, "Dedicated")] = per_workspace.get((ws, family, "Dedicated"), 0) + n
    total_limit = limit_of(engine, region, "cores") * 4
    rows = [
        responses.usage_row(f"/subscriptions/{sub}/usages", "totalCores/usages", "Clusters", clusters, 200),
        responses.usage_row(f"/subscriptions/{sub}/usages", "dedicatedCores/usages",
                            "Total Cluster Dedicated Regional vCPUs", sum(dedicated.values()), total_limit),
    ]  # fmt: skip
    families = sorted(set(FAMILIES) | set(dedicated) | set(low))
    for f in families:
        name = responses.family_usage_name(f, "Dedicated")
        rows.append(responses.usage_row(f"/subscriptions/{sub}/usages/{name.replace(' ', '_')}", "vmFamily/usages",
                                        name, dedicated.get(f, 0), limit_of(engine, region, f)))  # fmt: skip
    rows.append(responses.usage_row(f"/subscriptions/{sub}/usages", "lowPriorityCores/usages",
                                    "Total Cluster LowPriority Regional vCPUs", sum(low.values()), total_limit))
    for f in families:
        name = responses.family_usage_name(f, "LowPriority")  # per-family low priority: no limit of its own
        rows.append(responses.usage_row(f"/subscriptions/{sub}/usages/{name.replace(' ', '_')}", "vmFamily/usages",
                                        name, low.get(f, 0), -1))  # fmt: skip
    for (ws, f, tier), n in sorted(per_workspace.items()):
        name = responses.family_usage_name(f, tier)
        limit = limit_of(engine, region, f) if tier == "Dedicated" else -1
        rows.append(responses.usage_row(f"{ws}/usages/{name.replace(' ', '_')}", "workspaces/usages", name, n, limit))
    for compute_id, f, tier, n in sorted(per_compute):
        name = responses.family_usage_name(f, tier)
        limit = limit_of(engine, region, f) if tier == "Dedicated" else -1
        rows.append(responses.usage_row(f"{compute_id}/usages/{name.replace(' ', '_')}", "workspaces/computes/usages",
                                        name, n, limit))  # fmt: skip
    return rows


def workspace_id_of_compute(resource_id: str) -> str:
    return resource_id.rsplit("/computes/", 1)[0]


def provider_path(engine: Engine, req: Request) -> Reply:
    """``locations/{loc}/usages``, ``locations/{loc}/quotas`` and ``locations/{loc}/vmSizes``."""
    rest = [s.lower() for s in req.path.rest]
    if len(rest) == 3 and rest[0] == "locations":
        region = rest[1].replace(" ", "")
        sub = req.path.subscription
        if rest[2] == "usages":
            return Reply(200, engine._page(req, usage_rows(engine, sub, region)))
        if rest[2] == "quotas":
            used = usage_by_family(engine, sub, region)
            families = sorted(
                set(FAMILIES)
                | set(used)
                | set((engine.store.get_setting("quotas", {}) or {}).get(region, {})) - {"*"}
            )
            values = [responses.usage(sub, region, f, used.get(f, 0), limit_of(engine, region, f), "quotas")
                      for f in families]  # fmt: skip
            return Reply(200, engine._page(req, values))
        if rest[2] == "vmsizes":
            return Reply(
                200,
                {
                    "value": [
                        {
                            "name": size.upper().replace("STANDARD_", "Standard_"),
                            "family": fam,
                            "vCPUs": cores,
                            "gpus": 0,
                            "osVhdSizeMB": 1047552,
                            "maxResourceVolumeMB": cores * 7168,
                            "memoryGB": cores * 3.5,
                            "lowPriorityCapable": True,
                            "premiumIO": True,
                            "supportedComputeTypes": ["AmlCompute", "ComputeInstance"],
                        }
                        for size, (fam, cores) in VM_SIZES.items()
                    ]
                },
            )
    raise ArmError(404, "InvalidResourceType", f"The path '{req.raw_path}' is not supported by the sandbox.")
