"""The rendered template is literal, well-formed and self-contained."""

from __future__ import annotations

import copy
import json

import pytest
from provision_fixtures import aad_connection, primary

from foundry_dr.arm_template import CONTENT_VERSION, NEEDS_LOCATION, SCHEMA, expressions, render, template_problems
from foundry_dr.plan import Plan, load_plan, validate_plan
from foundry_dr.resource_ids import arm_id
from foundry_dr.secondary import map_to_secondary


@pytest.fixture
def plan(sandbox_plan_path) -> Plan:
    return load_plan(sandbox_plan_path)


@pytest.fixture
def template(plan: Plan) -> dict:
    return render(plan, map_to_secondary(plan, primary()).desired)


def test_structure(plan: Plan, template: dict) -> None:
    assert template["$schema"] == SCHEMA and template["contentVersion"] == CONTENT_VERSION
    assert not {"parameters", "variables", "functions"} & set(template)
    s = plan.secondary
    ids = {arm_id(s.subscription_id, s.resource_group, r["type"], r["name"]).lower() for r in template["resources"]}
    for r in template["resources"]:
        assert r["type"] and r["apiVersion"] and r["name"]
        assert (r.get("location") == "westus") == (r["type"] in NEEDS_LOCATION)
        assert r["name"].count("/") == r["type"].count("/") - 1
        for dep in r.get("dependsOn", []):
            assert dep.lower() in ids, f"{r['name']} depends on {dep}, not in the template"
    assert expressions(template) == []
    assert template_problems(template, s.subscription_id, s.resource_group) == []
    json.dumps(template)  # serializable as is


def test_contents(template: dict) -> None:
    by = {(r["type"].rsplit("/", 1)[-1], r["name"]): r for r in template["resources"]}
    hub = by[("workspaces", "hub-contoso-westus")]
    assert hub["kind"] == "Hub" and hub["identity"] == {"type": "SystemAssigned"}
    assert hub["properties"]["managedNetwork"] == {"isolationMode": "Disabled"}
    assert hub["properties"]["keyVault"].endswith("/vaults/kv-fdr-shared")
    project = by[("workspaces", "proj-chat")]
    assert project["kind"] == "Project" and project["dependsOn"] == [hub_id(hub, template)]
    compute = by[("computes", "proj-chat/cpu-cluster")]
    assert compute["properties"]["properties"]["scaleSettings"] == {
        "minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"}
    ds = by[("datastores", "hub-contoso-westus/trainingdata")]
    assert ds["properties"]["credentials"] == {"credentialsType": "None"}
    assert not any(r["type"].endswith("/connections") for r in template["resources"]), "ApiKey: not templated"
    assert "secret" not in json.dumps(template).lower() and "key\"" not in json.dumps(template)


def hub_id(hub: dict, template: dict) -> str:
    return [d for r in template["resources"] if r["name"] == "proj-chat" for d in r["dependsOn"]][0]


def test_leading_bracket_is_escaped_and_aad_connection_rendered(plan: Plan, sandbox_plan_data: dict) -> None:
    data = copy.deepcopy(sandbox_plan_data)
    data["connections"].append({"primary": "search-eastus", "secondary": "search-westus"})
    p = validate_plan(data, "t")
    inv = primary()
    inv["connections"].append(aad_connection())
    t = render(p, map_to_secondary(p, inv).desired)
    hub = [r for r in t["resources"] if r["name"] == "hub-contoso-westus"][0]
    assert hub["properties"]["description"] == "[[prod] hub"  # ARM's escape for a literal '['
    conn = [r for r in t["resources"] if r["type"].endswith("/connections")]
    assert [c["name"] for c in conn] == ["hub-contoso-westus/search-westus"]
    assert conn[0]["properties"]["authType"] == "AAD"
    assert template_problems(t, p.secondary.subscription_id, p.secondary.resource_group) == []


def test_problems_are_reported(template: dict, plan: Plan) -> None:
    bad = copy.deepcopy(template)
    bad["resources"][0]["dependsOn"] = ["/subscriptions/x/resourceGroups/y/providers/A.B/c/d"]
    bad["resources"][1]["name"] = "[concat('a', 'b')]"
    del bad["resources"][2]["apiVersion"]
    problems = template_problems(bad, plan.secondary.subscription_id, plan.secondary.resource_group)
    assert any("not in the template" in p for p in problems)
    assert any("expression" in p for p in problems)
    assert any("apiVersion" in p for p in problems)


def test_application_insights_is_workspace_based(plan: Plan, template: dict) -> None:
    """Classic Application Insights is retired: the template creates its Log Analytics workspace
    and points the component at it (WorkspaceResourceId), depending on it."""
    by_type = {r["type"]: r for r in template["resources"]}
    logs = by_type["Microsoft.OperationalInsights/workspaces"]
    appi = by_type["Microsoft.Insights/components"]
    s = plan.secondary
    logs_id = arm_id(s.subscription_id, s.resource_group, logs["type"], logs["name"])
    assert logs["name"] == s.log_analytics == f"log-{s.application_insights}"
    assert appi["properties"]["WorkspaceResourceId"] == logs_id and appi["dependsOn"] == [logs_id]
    assert logs["properties"] == {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}


def test_user_assigned_identity_and_outbound_rules_are_mapped(plan: Plan) -> None:
    """A hub with a user-assigned identity keeps it (mapped into the secondary's group, created
    there, named as primaryUserAssignedIdentity); managed-network outbound rules are copied, a
    private endpoint's target mapped to its twin (resource group and names)."""
    from provision_fixtures import RG

    p = primary()
    uai = f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/id-contoso-eastus"
    p["hub"].update(
        identity={"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {uai: {}}},
        primaryUserAssignedIdentity=uai, isolationMode="AllowOnlyApprovedOutbound",
        outboundRules={
            "pypi": {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org", "status": "Active"},
            "data": {"type": "PrivateEndpoint", "category": "UserDefined",
                     "destination": {"serviceResourceId": f"{RG}/Microsoft.Storage/storageAccounts/stfdreastusdata",
                                     "subresourceTarget": "blob"}},
        },
    )  # fmt: skip
    template = render(plan, map_to_secondary(plan, p).desired)
    s = plan.secondary
    twin = arm_id(s.subscription_id, s.resource_group, "Microsoft.ManagedIdentity/userAssignedIdentities",
                  "id-contoso-westus")  # fmt: skip
    hub = next(r for r in template["resources"] if r.get("kind") == "Hub")
    assert hub["identity"] == {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {twin: {}}}
    assert hub["properties"]["primaryUserAssignedIdentity"] == twin and twin in hub["dependsOn"]
    assert any(r["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities" and r["name"] == "id-contoso-westus"
               for r in template["resources"])  # fmt: skip
    rules = hub["properties"]["managedNetwork"]["outboundRules"]
    assert rules["pypi"] == {"type": "FQDN", "category": "UserDefined", "destination": "pypi.org"}  # no status
    assert rules["data"]["destination"]["serviceResourceId"] == arm_id(
        s.subscription_id, s.resource_group, "Microsoft.Storage/storageAccounts", "stfdrwestusdata")
    assert template_problems(template, s.subscription_id, s.resource_group) == []
