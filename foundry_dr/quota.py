"""Quota arithmetic for the secondary region (pure).

A cluster can scale to ``maxNodeCount`` nodes, so it needs ``maxNodeCount x vCPUs`` dedicated
cores of its VM family; the check runs before any write, because a deployment that fails on
quota halfway leaves a half-built secondary. Clusters that already exist in the secondary are
counted in its usage, so only their growth is needed again (a re-run needs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from foundry_dr.errors import QuotaExceeded

TOTAL = "cores"  # key of the regional dedicated-vCPU total in :func:`subscription_usages`

# locations/{loc}/usages rows (2024-04-01 example Usage/list.json): the subscription's per-family rows,
# "Standard DSv2 Family Cluster Dedicated vCPUs", and the regional total; workspace- and compute-level
# rows (types workspaces/usages, workspaces/computes/usages) repeat the same names and are skipped.
FAMILY_ROW = "microsoft.machinelearningservices/vmfamily/usages"
TOTAL_ROW = "microsoft.machinelearningservices/dedicatedcores/usages"
DEDICATED_SUFFIX = " family cluster dedicated vcpus"



@dataclass(frozen=True)
class Usage:
    current: int
    limit: int

    @property
    def available(self) -> int:
        return max(self.limit - self.current, 0)


def family_key(family: str) -> str:
    """vmSizes family ("standardDSv2Family") as the key usages are matched on (case-insensitive)."""
    return family.lower()


def subscription_usages(rows: list[dict]) -> dict[str, Usage]:
    """Dedicated-core usage per vmSizes family (:func:`family_key`) and the regional total
    (``TOTAL``), from the rows of ``locations/{loc}/usages``. A row's name maps to its family:
    "Standard DSv2 Family Cluster Dedicated vCPUs" -> "standarddsv2family". A limit of -1 means
    no limit of its own (only the total applies)."""
    out: dict[str, Usage] = {}
    for row in rows:
        kind = str(row.get("type") or "").lower()
        name = str(row.get("name") or "")
        current, limit = int(row.get("current") or 0), int(row.get("limit") if row.get("limit") is not None else 0)
        if kind == TOTAL_ROW:
            out[TOTAL] = Usage(current, limit)
        elif kind == FAMILY_ROW and name.lower().endswith(DEDICATED_SUFFIX) and name.lower().startswith("standard "):
            core = name[len("standard "):-len(DEDICATED_SUFFIX)].replace(" ", "")
            out[family_key(f"standard{core}Family")] = Usage(current, limit if limit >= 0 else 1 << 30)
    return out


def cores(compute: dict, sizes: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """(family, cores at max scale) of an AmlCompute; ``sizes`` maps lower-case VM size -> (family, vCPUs)."""
    size = str(compute.get("vmSize") or "").lower()
    if size not in sizes:
        raise QuotaExceeded([f"VM size {compute.get('vmSize')} of {compute.get('workspace')}/{compute.get('name')} "
                             "is not offered in the secondary region"])
    family, vcpus = sizes[size]
    if str(compute.get("vmPriority") or "Dedicated").lower() != "dedicated":
        return f"lowPriority:{family}", 0  # low-priority cores come from a separate, shared pool
    return family, vcpus * int(compute.get("maxNodeCount") or 0)


def cores_needed(desired: list[dict], existing: list[dict], sizes: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Extra dedicated cores per family the desired computes need beyond the existing ones."""
    have = {(c["workspace"], c["name"]): c for c in existing if c.get("computeType") == "AmlCompute"}
    needed: dict[str, int] = {}
    for c in desired:
        family, want = cores(c, sizes)
        old = have.get((c["workspace"], c["name"]))
        if old is not None:
            try:
                old_family, old_cores = cores(old, sizes)
            except QuotaExceeded:
                old_family, old_cores = family, 0
            if old_family == family:
                want = max(want - old_cores, 0)
        if want:
            needed[family] = needed.get(family, 0) + want
    return needed


def check(needed: dict[str, int], usages: dict[str, Usage], region: str) -> list[str]:
    """One message per family (and the regional total) whose free quota is short."""
    problems = []
    by_key = {family_key(k): v for k, v in usages.items()}
    for family, n in sorted(needed.items()):
        usage = by_key.get(family_key(family), Usage(0, 0))
        if n > usage.available:
            problems.append(f"needs {n} cores of {family} in {region}, quota allows {usage.available}")
    total = sum(needed.values())
    if total and TOTAL in usages and total > usages[TOTAL].available:
        problems.append(f"needs {total} cores of {TOTAL} (total regional vCPUs) in {region}, "
                        f"quota allows {usages[TOTAL].available}")
    return problems


def online_reserved_instances(instance_type: str, instances: int) -> int:
    """Instances whose cores a managed online deployment holds: Azure ML "reserves 20% extra
    compute resources for performing upgrades. For example, if you request 10 instances in a
    deployment, you must have a quota for 12" -- ``ceil(1.2 * instances)`` (Azure ML docs, "Manage
    and increase quotas", online endpoints limits and "Virtual machine quota allocation for
    deployment"). SKUs marked "Skip 20% Reservation" in the managed online endpoints SKU list
    (A100, H100 and ND sizes) hold only what they run."""
    import math

    size = instance_type.lower()
    if "_a100_" in size or "_h100_" in size or size.startswith("standard_nd"):
        return instances
    return math.ceil(1.2 * instances)


def online_cores_needed(growth: list[tuple[str, str, int, int]], sizes: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Extra dedicated cores per family for managed online deployments that grow.

    ``growth``: (deployment, instance type, current instances, target instances). Managed online
    deployments draw on the same per-family Azure ML quota as clusters (the troubleshooting
    guide's OutOfQuota, "CPU quota": "Each deployment subtracts from available quota")."""
    needed: dict[str, int] = {}
    unknown = []
    for name, instance_type, current, target in growth:
        if instance_type.lower() not in sizes:
            unknown.append(f"instance type {instance_type} of {name} is not offered in the region")
            continue
        family, vcpus = sizes[instance_type.lower()]
        extra = (online_reserved_instances(instance_type, target) - online_reserved_instances(instance_type, current))
        if extra > 0:
            needed[family] = needed.get(family, 0) + extra * vcpus
    if unknown:
        raise QuotaExceeded(unknown)
    return needed
