"""The seed's summary counts each resource under its own type (it once said "workspaces 29"
for one hub and two projects, counting every child of a workspace as a workspace)."""

from __future__ import annotations

import pytest

from foundry_dr_sandbox.seed import _resource_type

RG = "/subscriptions/s/resourceGroups/rg"


@pytest.mark.parametrize(("resource_id", "kind"), [
    (f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/hub", "workspaces"),
    (f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/hub/onlineEndpoints/e",
     "workspaces/onlineEndpoints"),
    (f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/p/onlineEndpoints/e/deployments/blue",
     "workspaces/onlineEndpoints/deployments"),
    (f"{RG}/providers/Microsoft.Storage/storageAccounts/st", "storageAccounts"),
    (RG, "rg"),
])  # fmt: skip
def test_a_resource_is_tallied_under_its_own_type(resource_id: str, kind: str) -> None:
    assert _resource_type(resource_id) == kind
