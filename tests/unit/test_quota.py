"""Cores needed per VM family vs the secondary region's usage and limit."""

from __future__ import annotations

import pytest

from foundry_dr.errors import QuotaExceeded
from foundry_dr.quota import Usage, check, cores_needed

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


def test_online_deployments_hold_a_fifth_more_rounded_up() -> None:
    from foundry_dr.quota import online_cores_needed, online_reserved_instances

    # Azure ML docs: "if you request 10 instances in a deployment, you must have a quota for 12"
    assert online_reserved_instances("Standard_DS3_v2", 10) == 12
    assert online_reserved_instances("Standard_DS3_v2", 1) == 2  # ceil(1.2)
    assert online_reserved_instances("Standard_NC24ads_A100_v4", 4) == 4  # "Skip 20% Reservation"
    growth = [("ws/ep/blue", "Standard_DS3_v2", 1, 10)]
    assert online_cores_needed(growth, SIZES) == {"standardDSv2Family": (12 - 2) * 4}
    assert online_cores_needed([("ws/ep/blue", "Standard_DS3_v2", 3, 3)], SIZES) == {}
    with pytest.raises(QuotaExceeded, match="Standard_F4s_v2 of ws/ep/blue"):
        online_cores_needed([("ws/ep/blue", "Standard_F4s_v2", 0, 1)], SIZES)
