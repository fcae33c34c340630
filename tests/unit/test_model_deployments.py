"""Model deployments, content filters and blocklists for the secondary AI Services account (pure rules)."""

from __future__ import annotations

import copy

import pytest

from foundry_dr.errors import PlanError
from foundry_dr.model_deployments import nearest_sku, nearest_version, plan_account
from foundry_dr.plan import ModelDeployments, load_plan, validate_plan
from foundry_dr_sandbox.seed_spec import PLAN_PATH


def _deployment(name: str, model: str, version: str, sku: str, capacity: int, **props: object) -> dict:
    # the shape of examples/ListDeployments.json (2024-10-01)
    return {"name": name, "sku": {"name": sku, "capacity": capacity},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": version},
                           "provisioningState": "Succeeded", **props}}  # fmt: skip


def _region(usages: dict[str, tuple[int, int]] | None = None) -> dict:
    # examples/ListLocationModels.json and ListUsages.json shapes
    offered = {("gpt-4o", "2024-08-06"): ["GlobalStandard", "DataZoneStandard"],
               ("gpt-4o", "2024-11-20"): ["GlobalStandard"],
               ("text-embedding-3-large", "1"): ["Standard"]}  # fmt: skip
    models = [{"kind": "OpenAI", "skuName": "S0", "model": {"format": "OpenAI", "name": n, "version": v,
               "skus": [{"name": s, "usageName": f"OpenAI.{s}.{n}"} for s in skus]}}
              for (n, v), skus in offered.items()]  # fmt: skip
    usages = usages or {"OpenAI.GlobalStandard.gpt-4o": (0, 450), "OpenAI.Standard.text-embedding-3-large": (0, 350),
                        "OpenAI.DataZoneStandard.gpt-4o": (0, 300)}  # fmt: skip
    rows = [{"name": {"value": k}, "currentValue": c, "limit": lim, "unit": "Count"} for k, (c, lim) in usages.items()]
    return {"location": "westus", "models": models, "usages": rows}


POLICY = {"name": "strict", "properties": {"type": "UserManaged", "basePolicyName": "Microsoft.DefaultV2",
          "mode": "Blocking", "contentFilters": [{"name": "hate", "blocking": True, "enabled": True,
          "severityThreshold": "Low", "source": "Prompt"}],
          "customBlocklists": [{"blocklistName": "terms", "blocking": True, "source": "Prompt"}]}}  # fmt: skip
BLOCKLIST = {"name": "terms", "properties": {"description": "d"},
             "items": [{"name": "a", "properties": {"pattern": "Falcon", "isRegex": False}}]}  # fmt: skip


def _source() -> dict:
    return {"account": "ais-p", "deployments": [
        _deployment("chat", "gpt-4o", "2024-08-06", "GlobalStandard", 50, raiPolicyName="strict",
                    versionUpgradeOption="NoAutoUpgrade", dynamicThrottlingEnabled=False),
        _deployment("embeddings", "text-embedding-3-large", "1", "Standard", 120)],
        "rai_policies": [POLICY, {"name": "Microsoft.DefaultV2", "properties": {"type": "SystemManaged"}}],
        "blocklists": [BLOCKLIST]}  # fmt: skip


def _by_name(plan) -> dict:  # noqa: ANN001
    return {(i.kind, i.name): i for i in plan.items}


def test_empty_secondary_gets_everything_in_order_with_standby_capacity() -> None:
    plan = plan_account(_source(), {"account": "ais-s"}, _region(), ModelDeployments(), "hot-warm")
    kinds = [i.kind for i in plan.items]
    assert kinds == ["blocklist", "blocklist-item", "rai-policy", "deployment", "deployment"]  # filters first
    assert all(i.action == "create" for i in plan.items), [i.row() for i in plan.items]
    items = _by_name(plan)
    chat = items[("deployment", "chat")]
    assert chat.body["sku"] == {"name": "GlobalStandard", "capacity": 1}  # hot-warm: the plan's minimum
    assert chat.body["properties"]["raiPolicyName"] == "strict"
    assert "dynamicThrottlingEnabled" not in chat.body["properties"]  # read-only in the REST model
    assert ("rai-policy", "Microsoft.DefaultV2") not in items  # built-in policies are not copied
    assert "type" not in items[("rai-policy", "strict")].body["properties"]


def test_second_run_is_unchanged_and_drift_is_an_update_naming_the_fields() -> None:
    first = plan_account(_source(), {}, _region(), ModelDeployments(), "hot-hot")
    target = {"deployments": [], "rai_policies": [], "blocklists": []}
    for i in first.items:  # what the RP would hold after the writes
        doc = {"name": i.name.split("/")[-1], **copy.deepcopy(i.body)}
        if i.kind == "deployment":
            target["deployments"].append(doc)
        elif i.kind == "rai-policy":
            doc["properties"]["type"] = "UserManaged"
            target["rai_policies"].append(doc)
        elif i.kind == "blocklist":
            target["blocklists"].append({**doc, "items": []})
        else:
            target["blocklists"][0]["items"].append(doc)
    again = plan_account(_source(), target, _region(), ModelDeployments(), "hot-hot")
    assert {i.action for i in again.items} == {"unchanged"}, [i.row() for i in again.items]
    assert _by_name(again)[("deployment", "chat")].body["sku"]["capacity"] == 50  # hot-hot: full capacity

    drifted = _source()
    drifted["deployments"][0]["properties"]["raiPolicyName"] = "other"
    drifted["deployments"][0]["sku"]["capacity"] = 60
    drifted["blocklists"][0]["items"][0]["properties"]["pattern"] = "Eagle"
    drifted["rai_policies"][0]["properties"]["mode"] = "Default"
    after = _by_name(plan_account(drifted, target, _region(), ModelDeployments(), "hot-hot"))
    assert after[("deployment", "chat")].action == "update"
    assert after[("deployment", "chat")].changes == ["capacity", "raiPolicyName"]
    assert after[("deployment", "chat")].needs == 10  # only the increase counts against quota
    assert after[("blocklist-item", "terms/a")].changes == ["pattern"]
    assert after[("rai-policy", "strict")].changes == ["mode"]


def test_version_not_offered_names_the_nearest_and_a_mapping_fixes_it() -> None:
    source = _source()
    source["deployments"][0]["properties"]["model"]["version"] = "2024-05-13"
    plan = plan_account(source, {}, _region(), ModelDeployments(), "hot-warm")
    chat = _by_name(plan)[("deployment", "chat")]
    assert chat.action == "problem"
    assert "deployment 'chat'" in chat.reason and "gpt-4o" in chat.reason and "westus" in chat.reason
    assert "2024-05-13 is not offered" in chat.reason and "(nearest: 2024-08-06)" in chat.reason
    settings = ModelDeployments(deployments=[{"deployment": "chat", "model_version": "2024-08-06"}])
    fixed = _by_name(plan_account(source, {}, _region(), settings, "hot-warm"))[("deployment", "chat")]
    assert fixed.action == "create" and fixed.body["properties"]["model"]["version"] == "2024-08-06"


def test_sku_not_offered_names_the_nearest_sku() -> None:
    source = _source()
    source["deployments"][0]["sku"]["name"] = "Standard"
    chat = _by_name(plan_account(source, {}, _region(), ModelDeployments(), "hot-warm"))[("deployment", "chat")]
    assert chat.action == "problem"
    assert "SKU Standard is not offered" in chat.reason and "(nearest: DataZoneStandard" in chat.reason


def test_quota_short_says_by_how_much() -> None:
    region = _region({"OpenAI.GlobalStandard.gpt-4o": (440, 450), "OpenAI.Standard.text-embedding-3-large": (0, 350)})
    plan = plan_account(_source(), {}, region, ModelDeployments(), "hot-hot")
    chat = _by_name(plan)[("deployment", "chat")]
    assert chat.action == "problem"
    assert "short by 40" in chat.reason and "OpenAI.GlobalStandard.gpt-4o" in chat.reason
    assert _by_name(plan)[("deployment", "embeddings")].action == "create"


def test_hot_cold_is_deferred_and_fine_tuned_is_a_named_problem() -> None:
    source = _source()
    source["deployments"][1]["properties"]["model"]["source"] = "/subscriptions/s/.../accounts/ais-p"
    settings = ModelDeployments(deployments=[{"deployment": "chat", "strategy": "hot-cold"}])
    items = _by_name(plan_account(source, {}, _region(), settings, "hot-warm"))
    assert items[("deployment", "chat")].action == "deferred"
    assert "fine-tuned" in items[("deployment", "embeddings")].reason
    assert "out of scope" in items[("deployment", "embeddings")].reason


def test_extra_blocklist_items_are_reported_not_deleted() -> None:
    old = {"name": "old", "properties": {"pattern": "x", "isRegex": False}}
    target = {"blocklists": [{"name": "terms", "properties": {"description": "d"}, "items": [old]}]}
    items = _by_name(plan_account(_source(), target, _region(), ModelDeployments(), "hot-warm"))
    assert items[("blocklist-item", "terms/old")].action == "extra"
    assert items[("blocklist-item", "terms/old")].body is None


def test_nearest_version_and_sku() -> None:
    assert nearest_version("2024-05-13", ["2024-08-06", "2024-11-20"]) == "2024-08-06"
    assert nearest_version("0613", ["0301", "1106"]) == "0301"
    assert nearest_sku("GlobalStandard", ["Standard", "DataZoneStandard"]) == "DataZoneStandard"
    assert nearest_sku("ProvisionedManaged", []) is None


def test_plan_section_validates_with_field_names() -> None:
    data = load_plan(PLAN_PATH).source
    data["model_deployments"] = {"deployments": [{"deployment": "chat", "strategy": "hot-lukewarm"},
                                                 {"deployment": "chat", "standby_capacity": 0},
                                                 {"deployment": "x", "sku": "Global Standard",
                                                  "modle_name": "a"}]}  # fmt: skip
    with pytest.raises(PlanError) as caught:
        validate_plan(data)
    text = "\n".join(caught.value.problems)
    assert "model_deployments.deployments[0].strategy" in text
    assert "model_deployments.deployments[1].standby_capacity" in text
    assert "model_deployments.deployments[2].sku" in text
    assert "model_deployments.deployments[2].modle_name: unknown field (did you mean 'model_name'?)" in text
    data["model_deployments"] = {"deployments": [{"deployment": "chat"}, {"deployment": "Chat"}]}
    with pytest.raises(PlanError) as caught:
        validate_plan(data)
    assert "deployments[1].deployment: duplicate deployment 'Chat'" in "\n".join(caught.value.problems)


def test_sandbox_plan_maps_the_version_westus_lacks() -> None:
    plan = load_plan(PLAN_PATH)
    mapping = plan.model_deployments.mapping("CHAT")
    assert mapping is not None and mapping.model_version == "2024-08-06"
