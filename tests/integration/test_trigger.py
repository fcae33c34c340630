"""The alert receiver against a real Prefect API (test harness) and a real cut-over deployment.

No worker runs: a flow run of cut-over/cut-over in state Scheduled, with approve=False, is the
proof that the alert started a failover that waits for a human.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from foundry_dr.errors import TriggerConfigError
from foundry_dr.trigger import SECRET_HEADER, AlertStore, create_app, secret_from_env

SECRET = "s3cret-for-tests-only-0123456789"
PLAN = "deployments/plans/sandbox.yaml"

ALERT: dict[str, Any] = {
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {
        "essentials": {
            "alertId": "/subscriptions/00000000-0000-4000-8000-000000000001/providers/Microsoft.AlertsManagement"
                       "/alerts/REPLACED",
            "alertRule": "foundry-primary-unavailable",
            "severity": "Sev1",
            "signalType": "Metric",
            "monitorCondition": "Fired",
            "monitoringService": "Platform",
            "alertTargetIDs": ["/subscriptions/00000000-0000-4000-8000-000000000001/resourcegroups/rg-foundry-eastus"],
            "firedDateTime": "2026-11-27T03:01:02.345Z",
            "description": "Foundry hub in eastus unavailable",
            "essentialsVersion": "1.0",
            "alertContextVersion": "1.0",
        },
        "alertContext": {},
    },
}


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def deployment_id(harness: None) -> Any:
    """cut-over/cut-over registered through the client (no work pool, no worker)."""
    from foundry_dr.flows.cut_over import cut_over

    return cut_over.to_deployment(name="cut-over", parameters={"plan": PLAN}, enforce_parameter_schema=True).apply()


@pytest.fixture
def client(tmp_path: Path, deployment_id: Any) -> TestClient:
    return TestClient(create_app(SECRET, AlertStore(tmp_path / "alerts.sqlite3")))


def alert(alert_id: str, condition: str = "Fired") -> dict[str, Any]:
    doc = copy.deepcopy(ALERT)
    doc["data"]["essentials"]["alertId"] = doc["data"]["essentials"]["alertId"].replace("REPLACED", alert_id)
    doc["data"]["essentials"]["monitorCondition"] = condition
    return doc


def runs(deployment_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as c:
        return c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def post(client: TestClient, body: Any, secret: str | None = SECRET) -> Any:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/alerts", content=content, headers={**headers, "Content-Type": "application/json"})


def test_fired_alert_starts_one_cut_over_awaiting_approval(client: TestClient, deployment_id: Any) -> None:
    before = len(runs(deployment_id))
    doc = alert(str(uuid4()))
    first = post(client, doc)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["started"] and body["awaiting_approval"]
    second = post(client, doc)
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert second.json()["flow_run_id"] == body["flow_run_id"]
    after = runs(deployment_id)
    assert len(after) == before + 1
    [run] = [r for r in after if str(r.id) == body["flow_run_id"]]
    assert run.state.is_scheduled()
    assert run.parameters["approve"] is False and run.parameters["plan"] == PLAN
    assert "foundry-primary-unavailable" in run.parameters["reason"]
    assert run.parameters["outage_started_at"].startswith("2026-11-27T03:01:02")
    assert "alert-triggered" in run.tags


def test_dedupe_survives_a_restart(tmp_path: Path, deployment_id: Any) -> None:
    doc = alert(str(uuid4()))
    state = tmp_path / "alerts.sqlite3"
    assert post(TestClient(create_app(SECRET, AlertStore(state))), doc).status_code == 202
    count = len(runs(deployment_id))
    restarted = TestClient(create_app(SECRET, AlertStore(state)))
    assert post(restarted, doc).json()["status"] == "duplicate"
    assert len(runs(deployment_id)) == count


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-wrong-secret-wrong", SECRET + "x"])
def test_wrong_or_missing_secret_is_401_and_starts_nothing(client: TestClient, deployment_id: Any,
                                                           secret: str | None) -> None:
    before = len(runs(deployment_id))
    resp = post(client, alert(str(uuid4())), secret=secret)
    assert resp.status_code == 401
    assert len(runs(deployment_id)) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"schemaId": "Microsoft.Insights/activityLogs", "data": ALERT["data"]},
        {"schemaId": "azureMonitorCommonAlertSchema"},
        {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"monitorCondition": "Fired"}}},
        {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertId": "x",
                                                                              "monitorCondition": "Maybe"}}},
    ],
    ids=["not-json", "array", "other-schema", "no-data", "no-alert-id", "bad-condition"],
)
def test_malformed_payload_is_400_and_starts_nothing(client: TestClient, deployment_id: Any, body: Any) -> None:
    before = len(runs(deployment_id))
    resp = post(client, body)
    assert resp.status_code == 400, resp.text
    assert len(runs(deployment_id)) == before


def test_resolved_is_acknowledged_and_starts_nothing(client: TestClient, deployment_id: Any) -> None:
    before = len(runs(deployment_id))
    resp = post(client, alert(str(uuid4()), condition="Resolved"))
    assert resp.status_code == 200 and resp.json() == {**resp.json(), "status": "acknowledged", "started": False}
    assert len(runs(deployment_id)) == before


def test_missing_deployment_is_503_and_the_alert_can_be_retried(tmp_path: Path, deployment_id: Any) -> None:
    calls: list[str] = []

    def failing_start(runbook: str, parameters: dict, **_: Any) -> Any:
        calls.append(runbook)
        raise RuntimeError("deployment cut-over/cut-over not found")

    store = AlertStore(tmp_path / "alerts.sqlite3")
    doc = alert(str(uuid4()))
    assert post(TestClient(create_app(SECRET, store, start=failing_start)), doc).status_code == 503
    assert post(TestClient(create_app(SECRET, store)), doc).status_code == 202, "a retry after 503 must start"
    assert calls == ["cut-over"]


def test_receiver_refuses_to_start_without_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOUNDRY_DR_TRIGGER_SECRET", raising=False)
    with pytest.raises(TriggerConfigError):
        secret_from_env()
    monkeypatch.setenv("FOUNDRY_DR_TRIGGER_SECRET", "short")
    with pytest.raises(TriggerConfigError):
        secret_from_env()
    monkeypatch.setenv("FOUNDRY_DR_TRIGGER_SECRET", SECRET)
    assert secret_from_env() == SECRET


# ---- secure webhook (Azure Monitor action group, useAadAuth) ------------------------------
AUDIENCE = "api://foundry-dr-alerts"


def entra_token(sandbox_env: dict, scope: str, who: str = "credential") -> str:
    """A token from the sandbox's Entra-shaped token endpoint, got the way the action group
    service gets one for the receiver's application: client credentials, scope <app URI>/.default."""
    from azure.identity import ClientSecretCredential

    c = sandbox_env[who]
    credential = ClientSecretCredential(c["tenant_id"], c["client_id"], c["client_secret"], authority=c["authority"],
                                        disable_instance_discovery=True, connection_verify=sandbox_env["ca_bundle"])
    try:
        return credential.get_token(scope).token
    finally:
        credential.close()


@pytest.fixture
def secure_client(tmp_path: Path, deployment_id: Any, sandbox_env: dict) -> TestClient:
    from foundry_dr.trigger_auth import auth_from_env

    c = sandbox_env["credential"]
    auth = auth_from_env({"FOUNDRY_DR_TRIGGER_TENANT_ID": c["tenant_id"], "FOUNDRY_DR_TRIGGER_AUDIENCE": AUDIENCE,
                          "FOUNDRY_DR_TRIGGER_AUTHORITY": c["authority"],
                          "FOUNDRY_DR_TRIGGER_CA_BUNDLE": sandbox_env["ca_bundle"]})  # fmt: skip
    return TestClient(create_app(auth, AlertStore(tmp_path / "alerts.sqlite3")))


def post_bearer(client: TestClient, body: Any, token: str) -> Any:
    """As an action group sends a secure webhook: JSON body, the token as a bearer."""
    return client.post("/alerts", content=json.dumps(body).encode(),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip


def test_a_secure_webhook_token_starts_the_cut_over(secure_client: TestClient, deployment_id: Any,
                                                    sandbox_env: dict) -> None:
    before = len(runs(deployment_id))
    resp = post_bearer(secure_client, alert(str(uuid4())), entra_token(sandbox_env, f"{AUDIENCE}/.default"))
    assert resp.status_code == 202, resp.text
    assert len(runs(deployment_id)) == before + 1


def test_a_token_for_another_audience_or_issuer_is_refused(secure_client: TestClient, deployment_id: Any,
                                                           sandbox_env: dict, sandbox: Any) -> None:
    import jwt

    before = len(runs(deployment_id))
    arm_token = entra_token(sandbox_env, "https://management.azure.com/.default")  # right tenant, wrong audience
    assert post_bearer(secure_client, alert(str(uuid4())), arm_token).status_code == 401
    # a well-formed token signed by someone else's key, claiming the right audience and issuer
    from cryptography.hazmat.primitives.asymmetric import rsa

    good = jwt.decode(entra_token(sandbox_env, f"{AUDIENCE}/.default"), options={"verify_signature": False})
    kid = jwt.get_unverified_header(entra_token(sandbox_env, f"{AUDIENCE}/.default"))["kid"]
    forged = jwt.encode(good, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                        headers={"kid": kid})  # fmt: skip
    assert post_bearer(secure_client, alert(str(uuid4())), forged).status_code == 401
    # the tenant's own key, but another issuer: only the issuer check can refuse it
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    tenant_key = load_pem_private_key(sandbox.token_rsa_key.encode(), password=None)
    other_issuer = {**good, "iss": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"}
    resigned = jwt.encode(other_issuer, tenant_key, algorithm="RS256", headers={"kid": kid})
    assert post_bearer(secure_client, alert(str(uuid4())), resigned).status_code == 401
    # and the same claims, re-signed unchanged, are accepted: the refusals above are the checks'
    assert post_bearer(secure_client, alert(str(uuid4())),
                       jwt.encode(good, tenant_key, algorithm="RS256", headers={"kid": kid})).status_code == 202
    before += 1
    assert len(runs(deployment_id)) == before


def test_the_shared_secret_can_ride_in_the_webhook_url(tmp_path: Path, deployment_id: Any) -> None:
    """A plain action-group webhook carries only a URL: ?secret= is accepted, a wrong one is 401."""
    client = TestClient(create_app(SECRET, AlertStore(tmp_path / "alerts.sqlite3")))
    body = json.dumps(alert(str(uuid4()))).encode()
    headers = {"Content-Type": "application/json"}
    assert client.post("/alerts?secret=wrong-wrong-wrong-wrong", content=body, headers=headers).status_code == 401
    assert client.post(f"/alerts?secret={SECRET}", content=body, headers=headers).status_code == 202


def test_an_oversized_body_is_refused_before_it_is_read(client: TestClient) -> None:
    resp = client.post("/alerts", content=b"{}", headers={SECRET_HEADER: SECRET, "Content-Length": str(10**9)})
    assert resp.status_code == 413


def test_a_503_does_not_echo_the_exception(tmp_path: Path, deployment_id: Any) -> None:
    def failing_start(runbook: str, parameters: dict, **_: Any) -> Any:
        raise RuntimeError("https://internal.example/api?sig=SECRETSIG not reachable")

    resp = post(TestClient(create_app(SECRET, AlertStore(tmp_path / "a.sqlite3"), start=failing_start)),
                alert(str(uuid4())))  # fmt: skip
    assert resp.status_code == 503 and "SECRETSIG" not in resp.text and "internal.example" not in resp.text


def test_the_receiver_needs_a_way_to_authenticate() -> None:
    from foundry_dr.trigger_auth import auth_from_env

    with pytest.raises(TriggerConfigError, match="FOUNDRY_DR_TRIGGER_TENANT_ID and FOUNDRY_DR_TRIGGER_AUDIENCE"):
        auth_from_env({})
    with pytest.raises(TriggerConfigError, match="both"):
        auth_from_env({"FOUNDRY_DR_TRIGGER_TENANT_ID": "t"})
    assert auth_from_env({"FOUNDRY_DR_TRIGGER_TENANT_ID": "t", "FOUNDRY_DR_TRIGGER_AUDIENCE": "api://x"}).entra
