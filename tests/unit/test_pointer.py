"""The active-hub pointer: which side serves, what a flip records, and when replication is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from foundry_dr.pointer import (
    ActivePointer,
    as_variable_value,
    build_pointer,
    default_pointer,
    newest,
    pointer_variable_name,
    source_serving,
)

SUB = "00000000-0000-4000-8000-000000000001"
ML = "providers/Microsoft.MachineLearningServices/workspaces"
WEST = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-westus/{ML}"
EAST = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus/{ML}"
T = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def pointer(active: str, *, token: int = 0, version: int = 1, runbook: str | None = "cut-over") -> ActivePointer:
    return ActivePointer(
        plan="p", active=active, location="westus", subscription_id=SUB, resource_group="rg", hub="hub",
        hub_id="id", changed_at=T, runbook=runbook, version=version, fencing_token=token,
    )  # fmt: skip


# ---- build_pointer -----------------------------------------------------------------------------
def test_secondary_pointer_names_the_secondary_site_and_its_workspace_ids(plan) -> None:
    p = build_pointer(plan, "secondary", runbook="cut-over", approver="alice", reason="eastus down",
                      flow_run_id="run-1")  # fmt: skip
    assert p.plan == "contoso-sandbox"
    assert p.active == "secondary"
    assert (p.location, p.resource_group, p.hub) == ("westus", "rg-foundry-westus", "hub-contoso-westus")
    assert p.subscription_id == SUB
    assert p.hub_id == f"{WEST}/hub-contoso-westus"
    assert p.projects == {"proj-chat": f"{WEST}/proj-chat", "proj-vision": f"{WEST}/proj-vision"}
    assert (p.runbook, p.approver, p.reason, p.flow_run_id) == ("cut-over", "alice", "eastus down", "run-1")


def test_primary_pointer_has_no_secondary_id_in_it(plan) -> None:
    p = build_pointer(plan, "primary")
    assert (p.location, p.resource_group, p.hub) == ("eastus", "rg-foundry-eastus", "hub-contoso-eastus")
    assert p.hub_id == f"{EAST}/hub-contoso-eastus"
    assert set(p.projects.values()) == {f"{EAST}/proj-chat", f"{EAST}/proj-vision"}
    assert "westus" not in str(as_variable_value(p))


def test_version_follows_the_previous_record(plan) -> None:
    first = build_pointer(plan, "secondary")
    assert first.version == 1
    second = build_pointer(plan, "primary", previous=first)
    third = build_pointer(plan, "secondary", previous=second.model_copy(update={"version": 7}))
    assert (second.version, third.version) == (2, 8)


def test_recovery_point_and_scoring_uris_are_kept_and_scoring_uris_copied(plan) -> None:
    uris = {"chat": "https://chat.westus.inference.ml.azure.com/score"}
    rp, until = datetime(2026, 11, 27, 11, 40, tzinfo=UTC), datetime(2026, 11, 27, 11, 50, tzinfo=UTC)
    p = build_pointer(plan, "secondary", scoring_uris=uris, recovery_point=rp, replicated_until=until)
    uris["vision"] = "https://later"
    assert p.scoring_uris == {"chat": "https://chat.westus.inference.ml.azure.com/score"}
    assert (p.recovery_point, p.replicated_until) == (rp, until)


def test_build_pointer_leaves_the_fencing_token_to_the_lock_holder(plan) -> None:
    # tasks/pointer.py stamps the lease's token; the pure builder never invents one.
    assert build_pointer(plan, "secondary", previous=pointer("primary", token=9)).fencing_token == 0


def test_default_pointer_serves_the_primary(plan) -> None:
    p = default_pointer(plan)
    assert p.active == "primary"
    assert p.hub_id == f"{EAST}/hub-contoso-eastus"
    assert p.version == 1
    assert "never flipped" in p.reason


def test_pointer_rejects_an_unknown_side() -> None:
    with pytest.raises(ValidationError):
        pointer("tertiary")


def test_variable_round_trips_as_json(plan) -> None:
    p = build_pointer(plan, "secondary", recovery_point=T, runbook="cut-over")
    value = as_variable_value(p)
    assert value["active"] == "secondary"
    assert value["recovery_point"] == "2026-11-27T12:00:00Z"
    assert ActivePointer.model_validate(value) == p


def test_pointer_variable_name_defaults_from_the_plan_name(plan) -> None:
    assert pointer_variable_name(plan) == "foundry_dr_active_hub_contoso_sandbox"


def test_pointer_variable_name_uses_the_configured_one(plan) -> None:
    configured = plan.model_copy(update={"pointer": plan.pointer.model_copy(update={"prefect_variable": "my_var"})})
    assert pointer_variable_name(configured) == "my_var"


# ---- newest: a later lock holder always wins -----------------------------------------------------
def test_newest_of_nothing_is_none() -> None:
    assert newest([]) is None


def test_higher_fencing_token_wins_over_higher_version() -> None:
    stale = pointer("secondary", token=3, version=9)
    fresh = pointer("primary", token=4, version=1)
    assert newest([stale, fresh]) is fresh
    assert newest([fresh, stale]) is fresh


def test_same_token_higher_version_wins() -> None:
    a, b = pointer("secondary", token=5, version=2), pointer("primary", token=5, version=3)
    assert newest([b, a]).active == "primary"
    assert newest([a]) is a


# ---- source_serving: replication only from the side that serves -----------------------------------
def test_forward_replication_runs_while_the_primary_serves() -> None:
    assert source_serving(pointer("primary"), "to-secondary") is None


def test_back_replication_runs_while_the_secondary_serves() -> None:
    assert source_serving(pointer("secondary"), "to-primary") is None


def test_forward_replication_is_refused_while_the_secondary_serves() -> None:
    why = source_serving(pointer("secondary", version=4, runbook="cut-over"), "to-secondary")
    assert why is not None
    assert why.startswith("replication to-secondary refused: the secondary serves")
    assert "pointer v4" in why
    assert "2026-11-27T12:00:00+00:00" in why
    assert "cut-over" in why
    assert "copying from the primary would overwrite the secondary's writes" in why


def test_back_replication_is_refused_while_the_primary_serves() -> None:
    why = source_serving(pointer("primary", runbook=None), "to-primary")
    assert why is not None
    assert "the primary serves" in why
    assert "no runbook" in why
    assert "copying from the secondary" in why


def test_an_unknown_direction_is_refused() -> None:
    # Before the fix any direction other than 'to-secondary' was read as 'to-primary', so a typo
    # with the secondary serving ran a fail-back copy.
    why = source_serving(pointer("secondary"), "to-secondry")
    assert why is not None and "to-secondry" in why
