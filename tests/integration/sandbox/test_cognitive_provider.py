"""Microsoft.CognitiveServices model deployments, catalogue, quota, content filters and the accounts'
inference endpoint in the sandbox, through azure-mgmt-cognitiveservices (and HTTPS for inference)."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.cognitiveservices import models

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr_sandbox import seed_spec

SCOPE = "https://cognitiveservices.azure.com/.default"


@pytest.fixture
def factory(seeded, plan: Plan):  # noqa: ANN001, ANN201
    f = ClientFactory(plan)
    yield f
    f.close()


def test_deployment_refused_when_not_offered_or_over_quota(factory: ClientFactory, plan: Plan) -> None:
    p = plan.primary
    client = factory.cognitive_client(p.subscription_id)
    body = models.Deployment(sku=models.Sku(name="Standard", capacity=1), properties=models.DeploymentProperties(
        model=models.DeploymentModel(format="OpenAI", name="gpt-4o", version="2099-01-01")))  # fmt: skip
    with pytest.raises(HttpResponseError) as caught:
        client.deployments.begin_create_or_update(p.resource_group, p.ai_services, "not-offered", body).result()
    assert caught.value.error.code == "InvalidResourceProperties"
    assert "'gpt-4o 2099-01-01' is not supported in this region 'eastus'" in caught.value.error.message

    body.properties.model.version, body.sku.capacity = "2024-08-06", 10_000
    with pytest.raises(HttpResponseError) as caught:
        client.deployments.begin_create_or_update(p.resource_group, p.ai_services, "too-big", body).result()
    assert caught.value.error.code == "InsufficientQuota"
    assert "Tokens Per Minute (thousands) - gpt-4o" in caught.value.error.message


def test_usages_count_the_deployments_and_models_list_the_region(factory: ClientFactory, plan: Plan) -> None:
    client = factory.cognitive_client(plan.primary.subscription_id)
    usages = {u.name.value: u for u in client.usages.list("eastus")}
    _fmt, _model, _version, sku, capacity, _policy, _upgrade = seed_spec.AI_DEPLOYMENTS["embeddings"]
    assert usages[f"OpenAI.{sku}.text-embedding-3-large"].current_value == capacity
    assert usages["AccountCount"].current_value >= 1
    westus = {(m.model.name, m.model.version): {s.name for s in m.model.skus} for m in client.models.list("westus")}
    assert ("gpt-4o", "2024-05-13") not in westus  # the seeded chat version: the readiness path's case
    assert "Standard" not in westus[("gpt-4o", "2024-08-06")]
    rows = list(client.model_capacities.list("OpenAI", "gpt-4o", "2024-08-06"))
    assert {r.location for r in rows} == {"eastus", "westus"} and all(r.properties.available_capacity for r in rows)


def test_inference_answers_deployed_names_and_404s_the_rest(factory: ClientFactory, plan: Plan, seeded) -> None:  # noqa: ANN001
    env = factory.sandbox_env
    base = f"{env['arm_endpoint'].rstrip('/')}/_aoai/{plan.primary.ai_services}/openai/deployments"
    token = factory.credential.get_token(SCOPE).token
    auth = {"Authorization": f"Bearer {token}"}
    query = {"api-version": "2024-10-21"}
    chat = requests.post(f"{base}/chat/chat/completions", params=query, headers=auth, verify=env["ca_bundle"],
                         json={"messages": [{"role": "user", "content": "ping"}]}, timeout=30)  # fmt: skip
    assert chat.status_code == 200, chat.text
    assert chat.json()["object"] == "chat.completion" and chat.json()["choices"][0]["message"]["role"] == "assistant"
    emb = requests.post(f"{base}/embeddings/embeddings", params=query, json={"input": ["a", "b"]}, headers=auth,
                        verify=env["ca_bundle"], timeout=30)  # fmt: skip
    assert emb.status_code == 200 and len(emb.json()["data"]) == 2
    missing = requests.post(f"{base}/no-such-deployment/chat/completions", params=query, json={"messages": []},
                            headers=auth, verify=env["ca_bundle"], timeout=30)  # fmt: skip
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "DeploymentNotFound"
    anonymous = requests.post(f"{base}/chat/chat/completions", params=query, json={}, verify=env["ca_bundle"],
                              timeout=30)  # fmt: skip
    assert anonymous.status_code == 401
    arm_token = factory.credential.get_token(factory.arm_scope).token  # a token for another audience
    wrong = requests.post(f"{base}/chat/chat/completions", params=query, json={}, timeout=30,
                          headers={"Authorization": f"Bearer {arm_token}"}, verify=env["ca_bundle"])  # fmt: skip
    assert wrong.status_code == 401
