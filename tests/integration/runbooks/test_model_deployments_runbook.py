"""AI Services model deployments, content filters and blocklists in the secondary account (issue 17):
recreate-deployments on the seeded sandbox, through azure-mgmt-cognitiveservices and Prefect."""

from __future__ import annotations

import time

import pytest

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import PrerequisitesMissing
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.plan import Plan, apply_overrides
from foundry_dr_sandbox import seed_spec

pytestmark = pytest.mark.usefixtures("prefect")


def _account(factory: ClientFactory, side: str) -> dict:
    s = factory.plan.side(side)  # type: ignore[arg-type]
    c = factory.cognitive_client(s.subscription_id)
    rg, name = s.resource_group, s.ai_services
    return {
        "deployments": {d.name: d for d in c.deployments.list(rg, name)},
        "policies": {p.name: p for p in c.rai_policies.list(rg, name)},
        "blocklists": {b.name: {i.name: i.properties for i in c.rai_blocklist_items.list(rg, name, b.name)}
                       for b in c.rai_blocklists.list(rg, name)},
    }  # fmt: skip


def _writes(request_log, sandbox, account: str, since: float) -> list[dict]:  # noqa: ANN001
    return [e for e in request_log(sandbox, path=f"/accounts/{account}") if e["t"] >= since
            and e["method"] in ("PUT", "PATCH", "DELETE", "POST") and e["service"] == "arm"]  # fmt: skip


def test_secondary_has_every_deployment_policy_and_blocklist_and_rerun_changes_nothing(
    standby_ready, sandbox, request_log, plan: Plan
) -> None:
    factory = ClientFactory(plan)
    primary, secondary = _account(factory, "primary"), _account(factory, "secondary")
    assert set(primary["deployments"]) == set(seed_spec.AI_DEPLOYMENTS)
    for name, src in primary["deployments"].items():  # item by item
        dst = secondary["deployments"][name]
        mapping = plan.model_deployments.mapping(name)
        version = (mapping and mapping.model_version) or src.properties.model.version
        assert (dst.properties.model.format, dst.properties.model.name, dst.properties.model.version) == (
            src.properties.model.format, src.properties.model.name, version)
        assert dst.sku.name == src.sku.name
        assert dst.sku.capacity == plan.model_deployments.standby_capacity  # hot-warm standby
        assert dst.properties.rai_policy_name == src.properties.rai_policy_name
        assert dst.properties.version_upgrade_option == src.properties.version_upgrade_option
        assert dst.properties.provisioning_state == "Succeeded"
    assert secondary["deployments"]["chat"].properties.model.version == "2024-08-06"  # the plan's mapping
    for name, src in primary["policies"].items():
        dst = secondary["policies"][name]
        assert dst.properties.mode == src.properties.mode
        assert dst.properties.base_policy_name == src.properties.base_policy_name
        assert [f.as_dict() for f in dst.properties.content_filters] == [
            f.as_dict() for f in src.properties.content_filters]
        assert [b.as_dict() for b in dst.properties.custom_blocklists] == [
            b.as_dict() for b in src.properties.custom_blocklists]
    assert set(secondary["blocklists"]) == set(primary["blocklists"]) == {seed_spec.AI_BLOCKLIST}
    for name, items in primary["blocklists"].items():
        assert {k: (v.pattern, v.is_regex) for k, v in secondary["blocklists"][name].items()} == {
            k: (v.pattern, v.is_regex) for k, v in items.items()}

    since = time.time()
    again = recreate_deployments(plan=plan, approve=True)
    ai = again["model_deployments"]
    assert ai["changed"] == 0 and not ai["errors"], ai["items"]
    assert {r["action"] for r in ai["items"]} == {"unchanged"}, ai["items"]
    assert _writes(request_log, sandbox, plan.secondary.ai_services, since) == []
    factory.close()


def test_drift_in_the_primary_is_reported_and_updated(standby_ready, plan: Plan) -> None:
    factory = ClientFactory(plan)
    p = plan.primary
    client = factory.cognitive_client(p.subscription_id)
    from azure.mgmt.cognitiveservices import models

    original = client.deployments.get(p.resource_group, p.ai_services, "embeddings")
    changed = models.Deployment(sku=original.sku, properties=models.DeploymentProperties(
        model=original.properties.model, rai_policy_name=seed_spec.AI_POLICY,
        version_upgrade_option=original.properties.version_upgrade_option))  # fmt: skip
    client.deployments.begin_create_or_update(p.resource_group, p.ai_services, "embeddings", changed).result()
    try:
        result = recreate_deployments(plan=plan, approve=True)
        rows = {r["name"]: r for r in result["model_deployments"]["items"] if r["kind"] == "deployment"}
        assert rows["embeddings"]["action"] == "update" and rows["embeddings"]["changes"] == "raiPolicyName"
        s = plan.secondary
        dst = factory.cognitive_client(s.subscription_id).deployments.get(s.resource_group, s.ai_services,
                                                                          "embeddings")  # fmt: skip
        assert dst.properties.rai_policy_name == seed_spec.AI_POLICY
    finally:
        restore = models.Deployment(sku=original.sku, properties=models.DeploymentProperties(
            model=original.properties.model, rai_policy_name=original.properties.rai_policy_name,
            version_upgrade_option=original.properties.version_upgrade_option))  # fmt: skip
        client.deployments.begin_create_or_update(p.resource_group, p.ai_services, "embeddings", restore).result()
        recreate_deployments(plan=plan, approve=True)
        factory.close()


def test_model_not_offered_stops_before_any_write(standby_ready, sandbox, request_log, plan: Plan) -> None:
    """Without the plan's mapping, gpt-4o 2024-05-13 (the primary's "chat") is not offered in westus:
    the run fails before writing anything, naming deployment, model, region and the nearest version."""
    unmapped = apply_overrides(plan, ["model_deployments.deployments=[]"])
    since = time.time()
    with pytest.raises(PrerequisitesMissing) as caught:
        recreate_deployments(plan=unmapped, approve=True)
    text = str(caught.value)
    assert "deployment 'chat'" in text and "gpt-4o" in text and "2024-05-13" in text and "westus" in text
    assert "nearest: 2024-08-06" in text and "model_deployments.deployments[].model_version" in text
    assert len(caught.value.missing) == 1  # embeddings is fine
    secondary_writes = [e for e in request_log(sandbox, path=f"/resourceGroups/{plan.secondary.resource_group}/")
                        if e["t"] >= since and e["method"] in ("PUT", "PATCH", "DELETE", "POST")
                        and "/listKeys" not in e["path"]]  # fmt: skip
    assert secondary_writes == []
