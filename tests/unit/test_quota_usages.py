"""Quota on the rows Azure really lists (issue 15, fix 1): the official 2024-04-01 example of
``locations/{loc}/usages`` names families "Standard DSv2 Family Cluster Dedicated vCPUs" and
repeats each name in workspace- and compute-level rows; vmSizes calls the family
"standardDSv2Family". Only the subscription-level family rows count."""

from __future__ import annotations

import json
from pathlib import Path

from foundry_dr.quota import TOTAL, Usage, check, cores_needed, subscription_usages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "azure_specs"


def example(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())["responses"]["200"]["body"]["value"]


def rows_of(values: list[dict]) -> list[dict]:
    """What tasks/quota.read_quota takes from each azure-ai-ml Usage (type, name.value, currentValue, limit)."""
    return [{"type": v["type"], "name": v["name"]["value"], "current": v["currentValue"], "limit": v["limit"]}
            for v in values]  # fmt: skip


def sizes_of(values: list[dict]) -> dict[str, tuple[str, int]]:
    return {v["name"].lower(): (v["family"], v["vCPUs"]) for v in values}


def test_only_subscription_family_rows_and_the_total_count() -> None:
    usages = subscription_usages(rows_of(example("mls-2024-04-01-Usage-list.json")))
    assert usages["standarddsv2family"] == Usage(2, 24)  # not a workspace's or a compute's row of that name
    assert usages["standardncfamily"] == Usage(12, 24)
    assert usages["standardncv2family"] == Usage(0, 0)
    assert usages[TOTAL] == Usage(14, 24)
    assert not any("lowpriority" in key for key in usages)  # low priority is a pool of its own


def test_a_hot_warm_cluster_passes_on_spec_shaped_usages() -> None:
    usages = subscription_usages(rows_of(example("mls-2024-04-01-Usage-list.json")))
    sizes = sizes_of(example("mls-2024-04-01-VirtualMachineSize-list.json"))
    cluster = {"workspace": "proj", "name": "cpu", "computeType": "AmlCompute", "vmSize": "Standard_DS3_v2",
               "maxNodeCount": 2, "vmPriority": "Dedicated"}
    needed = cores_needed([cluster], [], sizes)
    assert needed == {"standardDSv2Family": 8}
    assert check(needed, usages, "eastus") == []  # 22 free in the family, 10 in the region
    cluster["maxNodeCount"] = 3  # 12 cores: the family has room, the regional total (10 free) has not
    assert check(cores_needed([cluster], [], sizes), usages, "eastus") == [
        "needs 12 cores of cores (total regional vCPUs) in eastus, quota allows 10"]
