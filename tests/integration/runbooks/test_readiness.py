"""The readiness runbook on the sandbox (issue 19, item 4): ready on a warm standby, degraded once a
model version is added in the primary and not replicated, ready again after replication; the
verdict is kept in the secondary's storage, shown by `foundry-dr status`, and a degraded verdict
is a Prefect event automations can route."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.ai.ml.entities import Model
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from foundry_dr.clients import ClientFactory
from foundry_dr.drill import DrillRecord
from foundry_dr.flows.readiness import readiness
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.status import collect_status, render_status
from foundry_dr.stores.drill import append_drill
from foundry_dr.stores.readiness import read_readiness

pytestmark = pytest.mark.usefixtures("prefect")


def _checks(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result["checks"]}


def _events(name: str, since: datetime) -> list[Any]:
    """The events of that name since then, as the Prefect API has them (they arrive asynchronously)."""
    with get_client(sync_client=True) as client:
        for _ in range(40):
            page = client.read_events(EventFilter(event=EventNameFilter(name=[name]),
                                                  occurred=EventOccurredFilter(since=since)))  # fmt: skip
            if page.events:
                return page.events
            time.sleep(0.25)
    return []


@pytest.mark.slow  # red: the sandbox standby lacks 8 role-assignment twins and a connection (true findings)
def test_readiness_follows_an_unreplicated_model_version(standby_ready: Any, plan: Plan) -> None:
    factory = ClientFactory(plan)
    try:
        # the proof of a rehearsal: a passed fenced drill of this very plan (drills themselves are
        # test_fenced_drill's; this test is about what readiness makes of the record)
        append_drill(factory, DrillRecord(started_at=datetime.now(UTC), flow_run_id="readiness-test", fenced=True,
                                          passed=True, primary_calls=0, plan_digest=plan.digest))  # fmt: skip
        replicate_artifacts(plan=plan, approve=True)  # a fresh recovery point
        ready = readiness(plan=plan)
        assert ready["verdict"]["verdict"] == "ready", ready["report_markdown"]
        assert ready["score"] == 100 and ready["verdict"]["passed"] is True

        project = plan.primary.projects[0]
        ml = factory.ml_client("primary", project)
        existing = next(m for m in ml.models.list() if m.name)
        template = next(iter(ml.models.list(name=existing.name)))
        version = str(random.randint(10_000, 10_000_000))
        ml.models.create_or_update(Model(name=existing.name, version=version, type=template.type,
                                         path=template.path, description="added after replication"))  # fmt: skip
        since = datetime.now(UTC)
        degraded = readiness(plan=plan)
        assert degraded["verdict"]["verdict"] == "degraded", degraded["report_markdown"]
        assets = _checks(degraded)["asset versions"]
        assert assets["ok"] is False
        assert f"{project}/models/{existing.name}:{version} missing in the secondary" in assets["items"]
        assert 0 < degraded["score"] < 100
        # everything else still passes: the new version is the only reason
        assert [c["name"] for c in degraded["checks"] if c["ok"] is not True] == ["asset versions"]
        # kept in the secondary's storage, shown by status, and routed as an event
        kept = read_readiness(factory)
        assert kept is not None and kept.verdict == "degraded" and kept.flow_run_id == degraded["flow_run_id"]
        shown = render_status(collect_status(plan, factory))
        assert "readiness: DEGRADED" in shown and f"{existing.name}" not in shown.split("readiness:")[0]
        assert "asset versions: 1 asset version(s) not replicated" in shown
        [event] = _events("foundry-dr.readiness.degraded", since)
        assert event.payload["score"] == degraded["score"]
        assert event.resource.id == f"foundry-dr.plan.{plan.name}"

        replicate_artifacts(plan=plan, approve=True)
        again = readiness(plan=plan)
        assert again["verdict"]["verdict"] == "ready", again["report_markdown"]
        assert read_readiness(factory).verdict == "ready"  # type: ignore[union-attr]
    finally:
        factory.close()


@pytest.mark.slow
def test_an_edited_plan_is_not_verified_until_drilled_again(standby_ready: Any, plan: Plan) -> None:
    """Veeam's rule: the drill on record was of another plan (a changed objective), so readiness says
    NOT VERIFIED, without keeping the verdict (dry run)."""
    edited = plan.model_copy(update={"objectives": plan.objectives.model_copy(update={"rto_minutes": 45})})
    assert edited.digest != plan.digest
    factory = ClientFactory(plan)
    try:
        append_drill(factory, DrillRecord(started_at=datetime.now(UTC), flow_run_id="readiness-test-2", fenced=True,
                                          passed=True, primary_calls=0, plan_digest=plan.digest))  # fmt: skip
        before = read_readiness(factory)
        result = readiness(plan=edited, dry_run=True)
        check = _checks(result)["plan unchanged since the drill"]
        assert check["ok"] is False and "NOT VERIFIED: the plan changed" in check["detail"]
        assert result["verdict"]["verdict"] == "degraded"
        after = read_readiness(factory)
        assert (after and after.checked_at) == (before and before.checked_at)  # dry run: nothing kept
    finally:
        factory.close()
