"""The ARM operations a real runbook run sends are all in the conformance list (issue 15, part 1 a).

Provision-secondary, replicate-artifacts and recreate-deployments run against the seeded sandbox;
every ARM request they make (the request log, from the moment they start) is read back as an
operation and must be listed in azure_operations.OPERATIONS (or be an LRO poll). A new call
without an entry fails here; test_corpus then fails it until its example is kept.
"""

from __future__ import annotations

import time

import pytest
from azure_operations import OPERATIONS, POLLS, operation_of

pytestmark = pytest.mark.integration


def test_every_operation_a_runbook_sends_is_listed(seeded, prefect, plan, control) -> None:  # noqa: ANN001
    from foundry_dr.flows.provision_secondary import provision_secondary
    from foundry_dr.flows.recreate_deployments import recreate_deployments
    from foundry_dr.flows.replicate_artifacts import replicate_artifacts

    started = time.time() - 0.5
    provision_secondary(plan=plan, approve=True)
    replicate_artifacts(plan=plan, approve=True)
    recreate_deployments(plan=plan, approve=True, sizing="standby")
    sent = {
        op
        for e in control(seeded, "GET", "/requests") or []
        if e.get("service") == "arm" and e["t"] >= started and (op := operation_of(e["method"], e["path"]))
    }
    assert len(sent) > 10, sent  # the log was read: a runbook run sends many operations
    unlisted = sorted(sent - set(OPERATIONS) - POLLS)
    assert not unlisted, f"called by a runbook, not in tests/conformance/azure_operations.py: {unlisted}"
