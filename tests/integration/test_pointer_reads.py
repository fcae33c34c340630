"""Pointer reads fail closed (issue 13): 401, 403 and an unreachable store are errors naming the
store, a missing record in every store is "never flipped", and a stale answer is given only
when the caller asks for one, marked STALE with what failed.

The failures come from the sandbox's fault engine in front of Azurite: the azure-storage-blob
SDK sees over HTTP the status and error code Azure would send.
Each test uses a plan name of its own, so its pointer records touch no other test's.
"""

from __future__ import annotations

import uuid

import pytest

from foundry_dr.active import ActiveHub
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import PointerUnavailable
from foundry_dr.plan import Plan
from foundry_dr.pointer import build_pointer
from foundry_dr.stores.pointer import pointer_path, read_pointer, read_pointer_detail
from foundry_dr.stores.records import write_record

pytestmark = pytest.mark.usefixtures("provisioned")

# Storage's answers (Azure Storage "Blob service error codes" and "Common REST API error codes"):
# 403 AuthorizationPermissionMismatch for a principal without a data role, 401
# InvalidAuthenticationInfo for a token Storage can't authenticate.
FAILURES = {
    "403": {"status": 403, "code": "AuthorizationPermissionMismatch"},
    "401": {"status": 401, "code": "InvalidAuthenticationInfo"},
}


@pytest.fixture
def own_plan(plan: Plan) -> Plan:
    return plan.model_copy(update={"name": f"ptr-{uuid.uuid4().hex[:8]}"})


def fail_reads(control, sandbox, plan: Plan, status: int, code: str) -> None:
    """Every read of the secondary's pointer record fails once per rule; two rules cover the
    SDK's one retry (``retry_total=1``) and a second read."""
    for _ in range(4):
        control(sandbox, "POST", "/faults", {"fail_nth": {
            "n": 1, "status": status, "code": code, "service": "storage", "method": "GET",
            "path_contains": pointer_path(plan.name), "region": plan.secondary.location}})  # fmt: skip


def write_primary_record(factory: ClientFactory, side: str = "secondary") -> None:
    """A record in the primary's store only (a mirror written by an earlier flip)."""
    plan = factory.plan
    pointer = build_pointer(plan, side, runbook="cut-over", reason="earlier flip")
    service = factory.blob_service(plan.primary.storage_account)
    write_record(service, pointer_path(plan.name), pointer.model_dump_json().encode(), None)


def test_no_record_anywhere_reads_as_never_flipped(own_plan: Plan) -> None:
    factory = ClientFactory(own_plan)
    try:
        reading = read_pointer_detail(factory)
    finally:
        factory.close()
    assert reading.never_flipped and reading.pointer.active == "primary"
    assert "never flipped" in reading.source and "STALE" not in reading.source


@pytest.mark.parametrize("failure", sorted(FAILURES), ids=lambda f: f"http-{f}")
def test_an_unreadable_authority_is_an_error_naming_it(failure: str, own_plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(own_plan)
    try:
        write_primary_record(factory)  # the mirror answers, but only the authority is trusted
        fail_reads(control, sandbox, own_plan, **FAILURES[failure])
        with pytest.raises(PointerUnavailable) as caught:
            read_pointer(factory)
        message = str(caught.value)
        assert f"secondary ({own_plan.secondary.storage_account}): {failure} {FAILURES[failure]['code']}" in message
        assert "Which side serves is unknown" in message  # no answer, least of all a default "primary"
    finally:
        factory.close()


def test_an_unreachable_authority_is_an_error_and_stale_only_on_request(own_plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(own_plan)
    try:
        write_primary_record(factory, side="secondary")
        control(sandbox, "POST", "/faults", {"outage": {"region": own_plan.secondary.location, "mode": "reset"}})
        with pytest.raises(PointerUnavailable, match=r"secondary \(.*\): unreachable"):
            read_pointer(factory)
        pointer, source = read_pointer(factory, allow_stale=True)
        assert pointer.active == "secondary" and source.startswith("STALE storage (primary)"), source
        assert "secondary store unreadable: unreachable" in source and "record age" in source
    finally:
        factory.close()


def test_stale_is_refused_when_no_store_holds_a_record(own_plan: Plan, control, sandbox) -> None:
    """Nothing to fall back to: even a caller who accepts stale answers gets the error, never a
    default "primary" (the authority may hold a flip it can't show)."""
    factory = ClientFactory(own_plan)
    try:
        fail_reads(control, sandbox, own_plan, **FAILURES["403"])
        with pytest.raises(PointerUnavailable, match="no other store holds a record"):
            read_pointer(factory, allow_stale=True)
    finally:
        factory.close()


def test_active_hub_fails_closed_and_serves_stale_only_within_its_limit(own_plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(own_plan)
    try:
        strict = ActiveHub(own_plan, cache_seconds=0, factory=factory)
        tolerant = ActiveHub(own_plan, cache_seconds=0, factory=factory, max_stale_seconds=300)
        assert strict.side == tolerant.side == "primary"  # never flipped
        fail_reads(control, sandbox, own_plan, **FAILURES["403"])
        with pytest.raises(PointerUnavailable):
            strict.pointer(refresh=True)
        assert tolerant.pointer(refresh=True).active == "primary"  # its last read, within 300 s
        expired = ActiveHub(own_plan, cache_seconds=0, factory=factory, max_stale_seconds=300)
        with pytest.raises(PointerUnavailable):
            expired.pointer()  # nothing read before: nothing stale to give
    finally:
        factory.close()
