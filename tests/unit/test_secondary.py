"""Mapping the primary's inventory to the desired secondary, and the drift report."""

from __future__ import annotations

import copy

import pytest
from provision_fixtures import SUB, aad_connection, primary

from foundry_dr import drift
from foundry_dr.errors import MappingError
from foundry_dr.plan import Plan, load_plan, validate_plan
from foundry_dr.secondary import map_to_secondary


@pytest.fixture
def plan(sandbox_plan_path) -> Plan:
    return load_plan(sandbox_plan_path)


def with_strategy(data: dict, strategy: str) -> Plan:
    data = copy.deepcopy(data)
    data["strategy"] = {"default": strategy}
    return validate_plan(data, "test")


def test_names_region_and_linked_resources(plan: Plan) -> None:
    m = map_to_secondary(plan, primary())
    hub = m.desired["hub"]
    assert hub["name"] == "hub-contoso-westus" and hub["location"] == "westus"
    assert hub["friendlyName"] == "Contoso AI hub (westus)"
    assert hub["storageAccount"].endswith("/rg-foundry-westus/providers/Microsoft.Storage/storageAccounts/stfdrwestus")
    assert hub["applicationInsights"].endswith("/Microsoft.Insights/components/appi-contoso-westus")
    # shared: the same Key Vault and registry as the primary
    eastus = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus/providers"
    assert hub["keyVault"] == f"{eastus}/Microsoft.KeyVault/vaults/kv-fdr-shared"
    assert hub["containerRegistry"] == f"{eastus}/Microsoft.ContainerRegistry/registries/acrfdrshared"
    assert [p["name"] for p in m.desired["projects"]] == ["proj-chat", "proj-vision"]
    assert all(p["hubResourceId"] == hub["id"] and p["location"] == "westus" for p in m.desired["projects"])
    linked = m.desired["linked"]
    assert linked["storage_accounts"] == {"stfdrwestus": {"sku": "Standard_RAGRS", "kind": "StorageV2"},
                                          "stfdrwestusdata": {"sku": "Standard_RAGRS", "kind": "StorageV2"}}
    assert linked["ai_services"]["name"] == "ais-contoso-westus"


def test_unmapped_connections_are_listed_all_at_once(plan: Plan) -> None:
    inv = primary()
    inv["connections"] += [aad_connection("search-eastus"), aad_connection("blob-eastus")]
    with pytest.raises(MappingError) as err:
        map_to_secondary(plan, inv)
    assert "blob-eastus, search-eastus" in str(err.value)


def test_secret_connection_is_an_action_not_a_template_resource(plan: Plan, sandbox_plan_data: dict) -> None:
    m = map_to_secondary(plan, primary())
    [conn] = m.desired["connections"]
    assert conn["name"] == "aoai-westus" and conn["templated"] is False
    assert conn["target"] == "https://ais-contoso-westus.openai.azure.com/"
    [action] = m.actions
    assert action["name"] == "hub-contoso-westus/aoai-westus" and "az ml connection create" in action["fix"]
    # a secretless (AAD) connection is templated
    data = copy.deepcopy(sandbox_plan_data)
    data["connections"].append({"primary": "search-eastus", "secondary": "search-westus"})
    inv = primary()
    inv["connections"].append(aad_connection())
    m2 = map_to_secondary(validate_plan(data, "t"), inv)
    search = [c for c in m2.desired["connections"] if c["name"] == "search-westus"][0]
    assert "templated" not in search and search["target"] == "https://search-westus.search.windows.net"


@pytest.mark.parametrize(("strategy", "mins"), [("hot-hot", [1, 0]), ("hot-warm", [0, 0]), ("hot-cold", None)])
def test_compute_per_strategy(sandbox_plan_data: dict, strategy: str, mins: list[int] | None) -> None:
    m = map_to_secondary(with_strategy(sandbox_plan_data, strategy), primary())
    computes = m.desired["computes"]
    if mins is None:
        assert computes == [] and {s["kind"] for s in m.skipped} == {"compute"}
        return
    assert [c["minNodeCount"] for c in computes] == mins
    assert all(c["maxNodeCount"] == 4 and c["vmSize"] == "STANDARD_DS3_V2" for c in computes)
    assert all(c["location"] == "westus" for c in computes)
    assert any("ComputeInstance" in s["why"] for s in m.skipped), "instances are personal: reported, not copied"


def test_datastores_move_to_the_secondary_accounts_without_secrets(plan: Plan) -> None:
    m = map_to_secondary(plan, primary())
    [ds] = m.desired["datastores"]  # workspaceblobstore is the RP's own
    assert ds["accountName"] == "stfdrwestusdata" and ds["containerName"] == "training-data"
    assert ds["credentialsType"] == "None" and ds["workspace"] == "hub-contoso-westus"
    assert any("identity-based" in n for n in m.notes)
    # a key set on the secondary outside the template is never overwritten
    secondary = {"datastores": [{**ds, "credentialsType": "AccountKey"}]}
    m2 = map_to_secondary(plan, primary(), secondary)
    assert m2.desired["datastores"] == [] and "left alone" in m2.skipped[-1]["why"]


def test_missing_project_is_an_error(plan: Plan) -> None:
    inv = primary()
    inv["projects"] = inv["projects"][:1]
    with pytest.raises(MappingError, match="proj-vision"):
        map_to_secondary(plan, inv)


def test_drift_flags_only_unplanned_differences(plan: Plan) -> None:
    desired = map_to_secondary(plan, primary()).desired
    actual = copy.deepcopy(desired)
    actual["computes"][0]["vmSize"] = "STANDARD_DS4_V2"
    actual["hub"]["publicNetworkAccess"] = "Disabled"
    actual["connections"] = []
    rows = drift.drift_rows(plan, primary(), actual)
    by = {(r["resource"], r["setting"]): r for r in rows}
    assert by[("compute proj-chat/cpu-cluster", "vmSize")]["status"] == drift.DRIFT
    assert by[("hub hub-contoso-westus", "publicNetworkAccess")]["status"] == drift.DRIFT
    assert by[("hub hub-contoso-westus", "location")]["status"] == drift.PLANNED
    assert by[("compute proj-chat/cpu-cluster", "minNodeCount")]["status"] == drift.PLANNED  # hot-warm: 0
    assert by[("connection hub-contoso-westus/aoai-westus", "(exists)")]["status"] == drift.MISSING
    assert drift.summary(rows)[drift.DRIFT] == 2
