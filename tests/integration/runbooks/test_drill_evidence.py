"""A drill's evidence bundle on the sandbox (issue 19, item 5): written once to the secondary's
storage, valid against the published schema, and linked from the run's report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from azure.core.exceptions import ResourceExistsError

from foundry_dr.clients import ClientFactory
from foundry_dr.evidence import SCHEMA_PATH, EvidenceBundle
from foundry_dr.flows.dr_drill import dr_drill
from foundry_dr.plan import Plan
from foundry_dr.secrets_scan import find_secrets
from foundry_dr.state_layout import STATE_CONTAINER
from foundry_dr.stores.drill import read_drills
from foundry_dr.stores.evidence import list_evidence, read_evidence, write_evidence

pytestmark = pytest.mark.usefixtures("prefect")

REPO = Path(__file__).resolve().parents[3]


def test_a_fenced_drill_leaves_a_valid_write_once_bundle_in_the_secondary(
    standby_ready: Any, plan: Plan, control: Any
) -> None:
    control(standby_ready, "POST", "/faults", {"outage": {"region": "eastus"}})  # the primary is down
    outcome = dr_drill(plan=plan, approve=True, fence_primary=True)
    written = outcome["evidence"]
    assert "error" not in written, written
    assert written["account"] == plan.secondary.storage_account and written["container"] == STATE_CONTAINER
    assert written["json"].startswith(f"evidence/{plan.name}/dr-drill/") and written["html"].endswith(".html")
    assert f"`{STATE_CONTAINER}/{written['json']}`" in outcome["report_markdown"]

    factory = ClientFactory(plan)
    try:
        data = read_evidence(factory, written["json"])
        jsonschema.validate(data, json.loads((REPO / SCHEMA_PATH).read_text()))
        bundle = EvidenceBundle.model_validate(data)
        assert bundle.plan_digest == plan.digest and bundle.passed == outcome["verdict"]["passed"]
        assert bundle.primary_calls == [] and bundle.rto.achieved_seconds == outcome["rto_seconds"]
        assert {s.name for s in bundle.steps} >= set(outcome["steps"])
        assert written["json"] in list_evidence(factory, "dr-drill")
        # the drill history names the plan drilled (readiness: NOT VERIFIED once the plan changes)
        assert read_drills(factory)[0].plan_digest == plan.digest
        html = factory.blob_service(plan.secondary.storage_account).get_blob_client(
            STATE_CONTAINER, written["html"]).download_blob().readall().decode()
        assert "<!DOCTYPE html>" in html and plan.digest in html
        assert not find_secrets(json.dumps(data)) and not find_secrets(html.split("data:image")[0])
        with pytest.raises(ResourceExistsError):  # write-once: a bundle is never replaced
            write_evidence(factory, bundle, "<p>forged</p>")
    finally:
        factory.close()


def test_a_cut_over_that_fails_still_leaves_its_bundle(standby_ready: Any, plan: Plan) -> None:
    """The failover lock is held elsewhere: the cut-over fails before changing anything, and its
    bundle (failed, the error named) is written all the same."""
    from foundry_dr.errors import LockHeld
    from foundry_dr.flows.cut_over import cut_over
    from foundry_dr.stores.lock import Lease

    factory = ClientFactory(plan)
    lease = Lease(factory, "failover", runbook="someone-else", flow_run_id="other", lease_seconds=60)
    lease.acquire(5)
    try:
        before = set(list_evidence(factory, "cut-over"))
        with pytest.raises(LockHeld):
            cut_over(plan=plan, reason="evidence test", lock_wait_seconds=1)
        new = sorted(set(list_evidence(factory, "cut-over")) - before)
        assert len(new) == 1, new
        data = read_evidence(factory, new[0])
        jsonschema.validate(data, json.loads((REPO / SCHEMA_PATH).read_text()))
        assert data["result"] == "failed" and data["errors"][0].startswith("LockHeld")
    finally:
        lease.release()
        factory.close()
