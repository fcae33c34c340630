"""Role assignments in both regions (issue 18.2), end to end: azure-mgmt-authorization over HTTPS
against the sandbox's Microsoft.Authorization provider, and provision-secondary's role step.

The seed puts a few assignments on the primary's scopes (sandbox/seed_spec.py, RBAC_ASSIGNMENTS),
one of them with a custom role assignable only in the primary's resource group.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

from foundry_dr import role_assignments as ra
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import PermanentError
from foundry_dr.flows.provision_secondary import provision_secondary
from foundry_dr.plan import Plan
from foundry_dr.tasks.role_assignments import apply_role_assignments, decide, inventory_role_assignments
from foundry_dr_sandbox import seed_spec

pytestmark = pytest.mark.usefixtures("prefect")


def _scope(rid: str) -> str:
    return rid.lstrip("/")


def _at(factory: ClientFactory, scope: str) -> list[Any]:
    client = factory.authorization_client(scope.split("/")[2])
    return [a for a in client.role_assignments.list_for_scope(_scope(scope), filter="atScope()")
            if a.scope.lower() == scope.lower()]  # fmt: skip


def _reader_factory(plan: Plan, env: dict) -> ClientFactory:
    c = env["reader_credential"]
    credential = ClientSecretCredential(c["tenant_id"], c["client_id"], c["client_secret"], authority=c["authority"],
                                        disable_instance_discovery=True, connection_verify=env["ca_bundle"])
    return ClientFactory(plan, credential=credential)


def test_sdk_reads_and_writes_role_assignments_as_azure_answers(seeded, sandbox_env, plan: Plan) -> None:
    factory = ClientFactory(plan)
    sub = plan.primary.subscription_id
    client = factory.authorization_client(sub)
    acr_pull = client.role_definitions.get(f"subscriptions/{sub}", ra.ACR_PULL)
    assert (acr_pull.role_name, acr_pull.role_type) == ("AcrPull", "BuiltInRole")

    scopes = seed_spec.rbac_scopes(plan)
    seeded_hub = _at(factory, scopes["hub"])
    alice, alice_type = seed_spec.RBAC_PRINCIPALS["alice"]
    seeded_hub = [a for a in seeded_hub if a.principal_id == alice]
    assert [(ra.role_guid(a.role_definition_id), a.principal_type) for a in seeded_hub] == [
        (ra.AML_DATA_SCIENTIST, alice_type)]

    # the same (scope, role, principal) under another name: 409 RoleAssignmentExists, as Azure answers
    params = RoleAssignmentCreateParameters(role_definition_id=ra.role_definition_id(sub, ra.AML_DATA_SCIENTIST),
                                            principal_id=alice, principal_type="User")
    with pytest.raises(HttpResponseError) as exc:
        client.role_assignments.create(_scope(scopes["hub"]), str(uuid.uuid4()), params)
    assert exc.value.status_code == 409 and exc.value.error.code == "RoleAssignmentExists"
    assert seeded_hub[0].name.replace("-", "") in exc.value.error.message

    # a role the secondary's resource group cannot use: the seeded custom role is assignable in the primary's only
    s_rg = f"subscriptions/{sub}/resourceGroups/{plan.secondary.resource_group}"
    with pytest.raises(HttpResponseError) as exc:
        client.role_definitions.get(s_rg, seed_spec.CUSTOM_ROLE_ID)
    assert exc.value.status_code == 404 and exc.value.error.code == "RoleDefinitionDoesNotExist"

    # the Reader principal reads, but may not assign
    reader = _reader_factory(plan, sandbox_env).authorization_client(sub)
    assert len(list(reader.role_assignments.list_for_scope(_scope(scopes["hub"]), filter="atScope()"))) >= 1
    other = RoleAssignmentCreateParameters(role_definition_id=ra.role_definition_id(sub, ra.READER),
                                           principal_id=alice, principal_type="User")
    with pytest.raises(HttpResponseError) as exc:
        reader.role_assignments.create(_scope(scopes["hub"]), str(uuid.uuid4()), other)
    assert exc.value.status_code == 403 and exc.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Authorization/roleAssignments/write" in exc.value.error.message


def _role_writes(request_log: Any, sandbox: Any, t0: float) -> list[dict]:
    return [e for e in request_log(sandbox, service="arm", path="/providers/Microsoft.Authorization/")
            if e["t"] >= t0 and e["method"] in ("PUT", "DELETE")]  # fmt: skip


def test_provision_secondary_twins_every_primary_assignment_and_a_rerun_changes_nothing(
    provisioned, sandbox, plan: Plan, request_log
) -> None:
    factory = ClientFactory(plan)
    pairs = {p.primary.lower(): p for p in ra.scope_pairs(plan)[0]}
    hub_twin = pairs[seed_spec.rbac_scopes(plan)["hub"].lower()].secondary
    alice = seed_spec.RBAC_PRINCIPALS["alice"][0]
    name = ra.assignment_name(hub_twin, ra.AML_DATA_SCIENTIST, alice)
    # take one twin away: the run must put it back, under the same deterministic name
    factory.authorization_client(plan.secondary.subscription_id).role_assignments.delete(_scope(hub_twin), name)

    first = provision_secondary(plan=plan, approve=True)
    roles = first["role_assignments"]
    assert name in roles["applied"]["created"]
    assert roles["problems"] == []
    by_source = {r["detail"]: r for r in roles["rows"]}
    for kind, role, who in seed_spec.RBAC_ASSIGNMENTS:
        scope = seed_spec.rbac_scopes(plan)[kind]
        principal = seed_spec.RBAC_PRINCIPALS[who][0]
        twin_scope = pairs[scope.lower()].secondary
        twin_role = ra.copied_role_id(plan.secondary.subscription_id, role) if role == seed_spec.CUSTOM_ROLE_ID \
            else role  # fmt: skip
        found = [a for a in _at(factory, twin_scope)
                 if a.principal_id == principal and ra.role_guid(a.role_definition_id) == twin_role]  # fmt: skip
        assert found, f"no twin of {kind} {role} {who} at {twin_scope}"
    assert not any(r["state"] in (ra.CREATE, ra.PROBLEM, ra.PENDING) for r in by_source.values()), roles["rows"]

    # the custom role was copied under a name of its own, assignable in the secondary's resource group
    copy = factory.authorization_client(plan.secondary.subscription_id).role_definitions.get(
        f"subscriptions/{plan.secondary.subscription_id}/resourceGroups/{plan.secondary.resource_group}",
        ra.copied_role_id(plan.secondary.subscription_id, seed_spec.CUSTOM_ROLE_ID))  # fmt: skip
    assert copy.role_name == f"{seed_spec.CUSTOM_ROLE_NAME} ({plan.secondary.location})"

    # the secondary hub's own identity got what it needs
    inventory = inventory_role_assignments(factory)
    hub_identity = inventory["identities"]["secondary"]["hub"]
    grants = {(ra.role_guid(a.role_definition_id), a.scope.lower()) for p in pairs.values()
              for a in _at(factory, p.secondary) if a.principal_id == hub_identity}  # fmt: skip
    assert (ra.ACR_PULL, plan.shared.container_registry and pairs_registry(pairs)) in grants
    assert any(role == ra.BLOB_CONTRIBUTOR and scope.endswith("/stfdrwestus") for role, scope in grants)
    assert any(role == ra.KV_SECRETS_USER for role, _ in grants)
    assert any(role == ra.OPENAI_USER and scope.endswith("/ais-contoso-westus") for role, scope in grants)

    # a second run changes nothing: no role write at all
    t0 = time.time()
    second = provision_secondary(plan=plan, approve=True)
    assert second["role_assignments"]["applied"]["created"] == []
    assert second["role_assignments"]["applied"]["roles_created"] == []
    assert set(second["role_assignments"]["counts"]) == {ra.PRESENT}
    assert _role_writes(request_log, sandbox, t0) == []
    assert decide(factory, inventory_role_assignments(factory)).creates == []
    report = _latest_report()
    assert "## Role assignments: present" in report
    assert f"| hub hub-contoso-eastus | AzureML Data Scientist | `User {alice}` | present |" in report


def _latest_report() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        found = [a for a in client.read_artifacts() if a.key == "provision-secondary-report"]
    return str(max(found, key=lambda a: a.created).data)


def pairs_registry(pairs: dict[str, ra.ScopePair]) -> str:
    return next(p.secondary.lower() for p in pairs.values() if p.kind == "registry")


def test_reader_principal_gets_a_clear_403(provisioned, sandbox_env, plan: Plan) -> None:
    owner = ClientFactory(plan)
    scope = next(p.secondary for p in ra.scope_pairs(plan)[0] if p.kind == "hub")
    alice = seed_spec.RBAC_PRINCIPALS["alice"][0]
    name = ra.assignment_name(scope, ra.AML_DATA_SCIENTIST, alice)
    owner.authorization_client(plan.secondary.subscription_id).role_assignments.delete(_scope(scope), name)
    try:
        reader = _reader_factory(plan, sandbox_env)
        decision = decide(reader, inventory_role_assignments(reader))
        assert [t.name for t in decision.creates] == [name]
        with pytest.raises(PermanentError) as exc:
            apply_role_assignments(reader, decision)
        message = str(exc.value)
        assert "403 AuthorizationFailed" in message and "Microsoft.Authorization/roleAssignments/write" in message
        assert "Owner, User Access Administrator" in message and scope in message
        # dry-run shows the change and writes nothing
        assert apply_role_assignments(reader, decision, dry_run=True)["created"] == []
    finally:
        apply_role_assignments(owner, decide(owner, inventory_role_assignments(owner)))
