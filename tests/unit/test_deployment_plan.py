"""Desired state, remapping, sizing, secrets and diff of recreate-deployments (pure)."""

from __future__ import annotations

import copy

import pytest

from foundry_dr.deployment_plan import (
    Context,
    diff,
    endpoint_name,
    instance_count,
    plan_workspace,
    remap_ids,
    required_references,
    scale_workspace,
    secret_env_vars,
)

SUB = "00000000-0000-4000-8000-000000000001"
SRC = f"/subscriptions/{SUB}/resourceGroups/rg-east/providers/Microsoft.MachineLearningServices/workspaces/proj"
DST = f"/subscriptions/{SUB}/resourceGroups/rg-west/providers/Microsoft.MachineLearningServices/workspaces/proj"


def ctx(**kw) -> Context:
    base = {
        "workspaces": {SRC: DST},
        "location": "westus",
        "vault_uri": "https://kv.vault.azure.net/",
        "strategies": {"online_endpoints": "hot-warm", "batch_endpoints": "hot-warm", "schedules": "hot-warm"},
    }
    base.update(kw)
    return Context(**base)


def source() -> dict:
    ep = {
        "id": f"{SRC}/onlineEndpoints/churn-ep",
        "name": "churn-ep",
        "location": "eastus",
        "kind": "Managed",
        "identity": {"type": "SystemAssigned", "principalId": "p"},
        "tags": {"tier": "gold"},
        "properties": {
            "authMode": "Key",
            "description": "d",
            "traffic": {"blue": 90, "green": 10},
            "mirrorTraffic": {"green": 5},
            "scoringUri": "https://x",
            "provisioningState": "Succeeded",
        },
    }
    deps = [
        {
            "id": f"{SRC}/onlineEndpoints/churn-ep/deployments/{n}",
            "name": n,
            "location": "eastus",
            "kind": "Managed",
            "sku": {"name": "Default", "capacity": 3},
            "properties": {
                "model": f"{SRC}/models/m/versions/{v}",
                "environmentId": f"{SRC}/environments/e/versions/1",
                "instanceType": "Standard_DS3_v2",
                "provisioningState": "Succeeded",
                "environmentVariables": {
                    "LOG_LEVEL": "info",
                    "OPENAI_API_KEY": "abc123",
                    "DB": "Server=x;Password=hunter22222",
                    "REF": "${{keyvault:https://kv.vault.azure.net/secrets/x}}",
                },
            },
        }
        for n, v in (("blue", 2), ("green", 1))
    ]
    batch = {
        "id": f"{SRC}/batchEndpoints/b",
        "name": "b",
        "location": "eastus",
        "properties": {"authMode": "AADToken", "defaults": {"deploymentName": "default"}},
    }
    bdep = {
        "id": f"{SRC}/batchEndpoints/b/deployments/default",
        "name": "default",
        "location": "eastus",
        "properties": {
            "model": {"referenceType": "Id", "assetId": f"{SRC}/models/m/versions/2"},
            "compute": f"{SRC}/computes/cpu",
        },
    }
    sched = {
        "id": f"{SRC}/schedules/nightly",
        "name": "nightly",
        "properties": {"isEnabled": True, "action": {"jobDefinition": {"computeId": f"{SRC}/computes/cpu"}}},
    }
    return {"name": "proj", "online": [{"doc": ep, "deployments": deps}],
            "batch": [{"doc": batch, "deployments": [bdep]}], "schedules": [sched]}  # fmt: skip


EMPTY = {"name": "proj", "online": [], "batch": [], "schedules": []}


def as_target(plan) -> dict:
    """What the target would return after applying ``plan`` (bodies + ids + names)."""
    out = {"name": "proj", "online": [], "batch": [], "schedules": []}
    for key, groups in (("online", plan.online), ("batch", plan.batch)):
        for g in groups:
            doc = copy.deepcopy((g.finish or g.endpoint).body)
            doc.update(id=g.endpoint.resource_id, name=g.endpoint.name)
            deps = [{**copy.deepcopy(d.body), "id": d.resource_id, "name": d.name.split("/")[1]} for d in g.deployments]
            out[key].append({"doc": doc, "deployments": deps})
    out["schedules"] = [{**copy.deepcopy(s.body), "id": s.resource_id, "name": s.name} for s in plan.schedules]
    return out


def test_first_plan_creates_everything_remapped_and_standby_sized() -> None:
    plan = plan_workspace(source(), EMPTY, ctx())
    group = plan.online[0]
    assert group.endpoint.action == "create" and group.endpoint.body["location"] == "westus"
    assert group.endpoint.body["properties"]["traffic"] == {}  # traffic moves last
    assert group.endpoint.body["properties"]["mirrorTraffic"] == {}
    assert "scoringUri" not in group.endpoint.body["properties"]
    assert group.endpoint.body["identity"] == {"type": "SystemAssigned"}
    assert group.finish.body["properties"]["traffic"] == {"blue": 90, "green": 10}
    for d in group.deployments:
        assert d.action == "create" and d.body["sku"]["capacity"] == 1
        assert d.body["properties"]["model"].startswith(DST) and d.body["properties"]["environmentId"].startswith(DST)
        assert d.resource_id.startswith(DST)
    refs = required_references([i.body for i in plan.items() if i.body])
    assert f"{DST}/models/m/versions/2" in refs and f"{DST}/computes/cpu" in refs
    assert not any(r.startswith(SRC) for r in refs)
    assert plan.schedules[0].body["properties"]["isEnabled"] is False
    assert plan.batch[0].endpoint.body["properties"]["defaults"] == {"deploymentName": None}
    assert plan.batch[0].finish.body["properties"]["defaults"] == {"deploymentName": "default"}


def test_secret_env_vars_become_key_vault_references() -> None:
    dep = plan_workspace(source(), EMPTY, ctx()).online[0].deployments[0]
    env = dep.body["properties"]["environmentVariables"]
    assert sorted(dep.secrets) == ["DB", "OPENAI_API_KEY"]
    assert env["LOG_LEVEL"] == "info" and env["REF"].startswith("${{keyvault:")
    assert env["OPENAI_API_KEY"] == "${{keyvault:https://kv.vault.azure.net/secrets/foundry-dr-churn-ep-blue-openai-api-key}}"
    assert "abc123" not in str(dep.body) and "hunter" not in str(dep.body)


def test_second_plan_changes_nothing() -> None:
    first = plan_workspace(source(), EMPTY, ctx())
    second = plan_workspace(source(), as_target(first), ctx())
    assert {i.action for i in second.items()} == {"unchanged"}


def test_production_sizing_and_scale_only() -> None:
    standby = as_target(plan_workspace(source(), EMPTY, ctx()))
    prod = plan_workspace(source(), standby, ctx(sizing="production"))
    assert [d.action for d in prod.online[0].deployments] == ["update", "update"]
    assert all(d.changes == ["sku.capacity"] for d in prod.online[0].deployments)
    scaled = scale_workspace(source(), standby, ctx(sizing="production"))
    items = [i for i in scaled.items() if i.body]
    assert [i.body["sku"]["capacity"] for i in items] == [3, 3]
    assert all(i.kind == "online-deployment" for i in items)
    missing = scale_workspace(source(), EMPTY, ctx(sizing="production"))
    assert {i.action for i in missing.items()} == {"missing"}


@pytest.mark.parametrize(("sizing", "strategy", "expected"), [
    ("production", "hot-cold", 3), ("standby", "hot-hot", 3), ("standby", "hot-warm", 1), ("standby", "hot-cold", None),
])  # fmt: skip
def test_instance_count(sizing: str, strategy: str, expected: int | None) -> None:
    assert instance_count(3, sizing, strategy, 1) == expected


def test_hot_cold_standby_defers_endpoints_but_creates_schedules_disabled() -> None:
    plan = plan_workspace(
        source(),
        EMPTY,
        ctx(strategies={"online_endpoints": "hot-cold", "batch_endpoints": "hot-cold", "schedules": "hot-cold"}),
    )
    assert {i.action for g in (*plan.online, *plan.batch) for i in g.items()} == {"deferred"}
    assert plan.schedules[0].action == "create" and plan.schedules[0].body["properties"]["isEnabled"] is False


def test_hot_hot_keeps_schedule_enabled_and_existing_schedule_state_is_kept() -> None:
    hot = ctx(strategies={"online_endpoints": "hot-hot", "schedules": "hot-hot"})
    plan = plan_workspace(source(), EMPTY, hot)
    assert plan.schedules[0].body["properties"]["isEnabled"] is True
    assert plan.online[0].deployments[0].body["sku"]["capacity"] == 3
    target = as_target(plan_workspace(source(), EMPTY, ctx()))
    target["schedules"][0]["properties"]["isEnabled"] = True  # enabled by cut-over
    assert plan_workspace(source(), target, ctx()).schedules[0].action == "unchanged"


def test_auth_mode_change_is_a_conflict() -> None:
    target = as_target(plan_workspace(source(), EMPTY, ctx()))
    target["online"][0]["doc"]["properties"]["authMode"] = "AMLToken"
    assert plan_workspace(source(), target, ctx()).online[0].endpoint.action == "conflict"


def test_name_suffix_both_ways() -> None:
    assert endpoint_name("ep", ctx(name_suffix="-dr")) == "ep-dr"
    assert endpoint_name("ep-dr", ctx(name_suffix="-dr")) == "ep-dr"
    assert endpoint_name("ep-dr", ctx(name_suffix="-dr", to_secondary=False)) == "ep"
    group = plan_workspace(source(), EMPTY, ctx(name_suffix="-dr")).online[0]
    assert group.endpoint.resource_id == f"{DST}/onlineEndpoints/churn-ep-dr"
    assert group.deployments[0].resource_id == f"{DST}/onlineEndpoints/churn-ep-dr/deployments/blue"


def test_remap_keeps_registry_references_and_reports_changes() -> None:
    tree = {"a": f"azureml:{SRC}/models/m/versions/1", "b": "azureml://registries/r/models/m/versions/1"}
    out, changed = remap_ids(tree, ctx())
    assert out == {"a": f"azureml:{DST}/models/m/versions/1", "b": tree["b"]} and len(changed) == 1


def test_secret_detection() -> None:
    assert secret_env_vars({"LOG_LEVEL": "debug", "MAX_KEYS": "3", "X": "AccountKey=abcdefgh"}) == ["X"]
    names = {
        "STORAGE_SAS": "sv=1",
        "DB_PASSWORD_FILE": "x",
        "TOKEN_URL": "https://login",
        "KEY_VAULT_NAME": "kv",
        "GITHUB_TOKEN": "t",
        "openaiApiKey": "k",
        "MODEL_DIR": "/var",
    }
    assert secret_env_vars(names) == ["STORAGE_SAS", "DB_PASSWORD_FILE", "GITHUB_TOKEN", "openaiApiKey"]


def test_diff_ignores_rp_added_keys_and_id_case() -> None:
    want = {"properties": {"model": DST + "/models/m/versions/1", "x": {"a": 1}}, "tags": {}}
    have = {
        "properties": {"model": DST.upper() + "/models/m/versions/1", "x": {"a": 1, "b": 2}, "extra": 1},
        "tags": {},
    }
    assert diff(want, have) == []
    assert diff(want, None) == ["(new)"]


def test_scale_only_works_from_the_target_alone_when_tagged() -> None:
    from foundry_dr.deployment_plan import PRODUCTION_TAG, needs_source_for_scaling

    standby = as_target(plan_workspace(source(), EMPTY, ctx()))
    assert all(d["tags"][PRODUCTION_TAG] == "3" for d in standby["online"][0]["deployments"])
    assert not needs_source_for_scaling(standby)
    scaled = scale_workspace(None, standby, ctx(sizing="production"))  # source region down
    assert [d.body["sku"]["capacity"] for d in scaled.online[0].deployments] == [3, 3]
    untagged = copy.deepcopy(standby)
    untagged["online"][0]["deployments"][0]["tags"] = {}
    assert needs_source_for_scaling(untagged)
    assert scale_workspace(None, untagged, ctx(sizing="production")).online[0].deployments[0].action == "unchanged"


def test_an_endpoint_name_azure_would_refuse_is_reported_before_any_write() -> None:
    """Endpoint names are 3-32 characters (azure-ai-ml's rule), the plan's suffix included."""
    long_name = "a" * 30
    src = source()
    src["online"][0]["doc"]["name"] = long_name
    group = plan_workspace(src, EMPTY, ctx(name_suffix="-dr")).online[0]
    assert group.endpoint.action == "invalid" and "32" in group.endpoint.reason
    assert f"{long_name}-dr" in group.endpoint.reason and not group.deployments


def test_a_batch_deployment_on_a_compute_not_there_yet_blocks_only_itself() -> None:
    """Compute hot-cold with batch hot-warm: the batch deployment (and the default naming it)
    waits for its compute, as does a schedule whose job runs there; the online endpoints and their
    deployments still go."""
    from foundry_dr.deployment_plan import block_on_missing_computes

    plan = plan_workspace(source(), EMPTY, ctx(strategies={"online_endpoints": "hot-hot"}))
    cpu = f"{DST}/computes/cpu"
    blocked = block_on_missing_computes([plan], {cpu})
    batch = plan.batch[0]
    assert [i.kind for i in blocked] == ["schedule", "batch-deployment", "batch-defaults"]
    assert batch.deployments[0].action == "blocked" and "compute cpu" in batch.deployments[0].reason
    assert batch.endpoint.action == "create"  # the endpoint itself needs no compute
    online = plan.online[0]
    assert online.endpoint.action == "create" and all(d.action == "create" for d in online.deployments)
    assert plan.schedules[0].action == "blocked"  # its job runs on that compute too
    assert not any(i.writes for i in blocked)
