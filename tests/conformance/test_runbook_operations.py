"""What a real runbook run sends, read back from the sandbox's request log (issue 15, part 1 a).

Provision-secondary, replicate-artifacts and recreate-deployments run against the seeded sandbox;
every ARM request they make (the request log, from the moment they start) is read back:

* as an operation, which must be listed in azure_operations.OPERATIONS (or be an LRO poll): a new
  call without an entry fails here; test_corpus then fails it until its example is kept;
* as a request body with the api-version it was sent with (the log records both), which the
  contract check must accept with the REST model of that version, setting no read-only property
  (the service would ignore it); a template deployment's body is read resource by resource, each
  with its own ``apiVersion``, as the sandbox deploys it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure_operations import OPERATIONS, POLLS, operation_of

from foundry_dr.plan import load_plan
from foundry_dr_sandbox.control import Control

PLAN_PATH = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sent(seeded, prefect) -> list[dict]:  # noqa: ANN001
    from foundry_dr.flows.provision_secondary import provision_secondary
    from foundry_dr.flows.recreate_deployments import recreate_deployments
    from foundry_dr.flows.replicate_artifacts import replicate_artifacts

    plan = load_plan(PLAN_PATH)
    started = time.time() - 0.5
    provision_secondary(plan=plan, approve=True)
    replicate_artifacts(plan=plan, approve=True)
    recreate_deployments(plan=plan, approve=True, sizing="standby")
    log = Control(seeded).request("GET", "/requests") or []
    return [e for e in log if e.get("service") == "arm" and e["t"] >= started]


def test_every_operation_a_runbook_sends_is_listed(sent: list[dict]) -> None:
    ops = {op for e in sent if (op := operation_of(e["method"], e["path"]))}
    assert len(ops) > 10, ops  # the log was read: a runbook run sends many operations
    unlisted = sorted(ops - set(OPERATIONS) - POLLS)
    assert not unlisted, f"called by a runbook, not in tests/conformance/azure_operations.py: {unlisted}"


def _bodies(entry: dict) -> list[tuple[str, str, object]]:
    """(resource type, api-version, body) of one logged write: the resource's own, or each
    resource of a deployment's template."""
    from foundry_dr_sandbox.arm.core.ids import parse
    from foundry_dr_sandbox.arm.providers.resources import templates

    path = parse(entry["path"], entry["method"])
    if path.full_type.lower() == "microsoft.resources/deployments":
        template = (entry["body"].get("properties") or {}).get("template") or {}
        return [(p.full_type, p.api_version, p.body)
                for p in templates.plan(template, path.subscription, path.resource_group or "")]  # fmt: skip
    return [(path.full_type, entry["api_version"], entry["body"])]


def test_every_body_a_runbook_sends_passes_the_contract_of_its_api_version(sent: list[dict], tmp_path: Path) -> None:
    from foundry_dr_sandbox.arm.core.engine import Engine
    from foundry_dr_sandbox.arm.core.errors import ArmError
    from foundry_dr_sandbox.arm.core.store import Store
    from foundry_dr_sandbox.arm.providers import load_providers
    from foundry_dr_sandbox.config import SandboxConfig

    engine = Engine(SandboxConfig.new(tmp_path), Store(tmp_path / "state.sqlite"), load_providers())
    # PUTs, and the template of every deployment what-if / validate (sent on every run, even when
    # the secondary exists already and nothing else is written); other POST bodies are action
    # parameters, not the resource's model
    writes = [e for e in sent if isinstance(e.get("body"), dict) and (e["method"] == "PUT" or (
        e["method"] == "POST" and e["path"].lower().endswith(("/whatif", "/validate"))))]  # fmt: skip
    assert writes and all(e.get("api_version") for e in writes), writes[:3]  # the log records both
    checked, refused = 0, []
    for entry in writes:
        for full_type, version, body in _bodies(entry):
            try:
                ignored = engine.check_contract(full_type, version, body)
                if ignored:  # the service ignores them: the product believes it sets what it does not
                    refused.append(f"{full_type}@{version}: sets read-only {ignored}")
            except ArmError as exc:
                refused.append(f"{full_type}@{version}: {exc.code} {exc.message[:300]}")
            checked += engine.type_of(full_type).model_for(version) is not None
    assert checked > 5, checked  # bodies of modelled types were checked, not only generic ones
    assert not refused, "\n".join(refused)
