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
