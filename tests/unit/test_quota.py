"""Cores needed per VM family vs the secondary region's usage and limit."""

from __future__ import annotations

import pytest

from foundry_dr.quota import QuotaExceeded, Usage, check, cores_needed

SIZES = {"standard_ds3_v2": ("standardDSv2Family", 4), "standard_nc6s_v3": ("standardNCSv3Family", 6)}


def cluster(ws: str, size: str = "STANDARD_DS3_V2", max_nodes: int = 4, priority: str = "Dedicated") -> dict:
    return {"workspace": ws, "name": "cpu", "computeType": "AmlCompute", "vmSize": size,
            "maxNodeCount": max_nodes, "vmPriority": priority}


def test_cores_are_max_nodes_times_vcpus_per_family() -> None:
    desired = [cluster("a"), cluster("b"), cluster("c", "Standard_NC6s_v3", 2)]
    assert cores_needed(desired, [], SIZES) == {"standardDSv2Family": 32, "standardNCSv3Family": 12}


def test_existing_clusters_need_only_their_growth() -> None:
    assert cores_needed([cluster("a")], [cluster("a")], SIZES) == {}
    assert cores_needed([cluster("a", max_nodes=6)], [cluster("a")], SIZES) == {"standardDSv2Family": 8}


def test_low_priority_needs_no_dedicated_cores() -> None:
    assert cores_needed([cluster("a", priority="LowPriority")], [], SIZES) == {}


def test_unknown_size_is_an_error() -> None:
    with pytest.raises(QuotaExceeded, match="STANDARD_XYZ"):
        cores_needed([cluster("a", "STANDARD_XYZ")], [], SIZES)


def test_message_names_family_region_and_what_is_left() -> None:
    usages = {"standardDSv2Family": Usage(current=4, limit=20), "cores": Usage(0, 400)}
    assert check({"standardDSv2Family": 32}, usages, "westus") == [
        "needs 32 cores of standardDSv2Family in westus, quota allows 16"]
    assert check({"standardDSv2Family": 16}, usages, "westus") == []
    assert check({"standardNCSv3Family": 6}, usages, "westus") == [
        "needs 6 cores of standardNCSv3Family in westus, quota allows 0"]
    assert "total regional" in check({"standardDSv2Family": 8}, {"standardDSv2Family": Usage(0, 100),
                                                                 "cores": Usage(0, 4)}, "westus")[0]
