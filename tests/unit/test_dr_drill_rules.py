"""The pure rules of fenced and isolated drills: what the fence calls the primary, how it names a
refused call (never with its query: a SAS signature lives there), the verdict, and which drill
targets are due for cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundry_dr.drill import CreatedByDrill, due_for_cleanup, evaluate_objectives, is_drill_copy
from foundry_dr.fence import Fence, PrimaryFenced, current_fence, describe_call, fenced
from foundry_dr.plan import load_plan

SANDBOX_PLAN = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"

SUB = "00000000-0000-4000-8000-000000000001"
ARM = "https://management.azure.com"


@pytest.fixture
def fence() -> Fence:
    return Fence.for_plan(load_plan(SANDBOX_PLAN))


@pytest.mark.parametrize(
    ("path", "primary"),
    [
        (f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus", True),
        (f"/subscriptions/{SUB}/resourcegroups/RG-FOUNDRY-EASTUS/providers/Microsoft.MachineLearningServices/x", True),
        (f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus%2Fproviders", True),  # encoded separator
        (f"/subscriptions/{SUB}/resourceGroups/rg-foundry-westus/providers/Microsoft.MachineLearningServices", False),
        (f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus2", False),  # another group, same prefix
        (f"/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/locations/westus/usages", False),
    ],
)
def test_the_fence_knows_the_primarys_resource_group(fence: Fence, path: str, primary: bool) -> None:
    assert fence.targets_primary(f"{ARM}{path}?api-version=2024-10-01") is primary


def test_a_refused_call_is_counted_and_named_without_its_query(fence: Fence) -> None:
    url = "https://stfdreastus.blob.core.windows.net/azureml/a.txt?sv=2024&sig=SECRETSIGNATURE"
    with pytest.raises(PrimaryFenced) as caught:
        fence.check("get", url, "the primary's storage account stfdreastus")
    assert "GET https://stfdreastus.blob.core.windows.net/azureml/a.txt" in str(caught.value)
    assert "SECRETSIGNATURE" not in str(caught.value) and "SECRETSIGNATURE" not in fence.summary()
    assert fence.count == 1 and fence.summary().startswith("1 call(s) to the primary refused")
    assert describe_call("put", url) == "PUT https://stfdreastus.blob.core.windows.net/azureml/a.txt"


def test_the_fence_holds_only_inside_its_block_and_only_for_its_plan() -> None:
    plan = load_plan(SANDBOX_PLAN)
    assert current_fence(plan.name) is None
    with fenced(plan) as fence:
        assert current_fence(plan.name) is fence
        assert current_fence("another-plan") is None
    assert current_fence(plan.name) is None
    with fenced(plan, enabled=False) as nothing:
        assert nothing is None and current_fence(plan.name) is None


def test_a_fenced_drill_with_any_primary_call_fails() -> None:
    ok = {"smoke": [{"ok": True}], "errors": [], "pointer_untouched": True}
    assert evaluate_objectives(60, 60, 60, 15, **ok, primary_calls=[])["passed"]
    failed = evaluate_objectives(60, 60, 60, 15, **ok, primary_calls=["GET https://x/subscriptions/s"])
    assert not failed["passed"] and failed["checks"]["0 calls to the primary"] is False
    assert "0 calls to the primary" not in evaluate_objectives(60, 60, 60, 15, **ok)["checks"]  # not fenced


def test_cleanup_takes_old_uncleaned_targets_and_never_the_running_drill() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    old = CreatedByDrill(flow_run_id="old", started_at=now - timedelta(hours=7), resources=["a"])
    young = CreatedByDrill(flow_run_id="young", started_at=now - timedelta(hours=1), resources=["b"])
    done = CreatedByDrill(flow_run_id="done", started_at=now - timedelta(hours=9), cleaned_at=now)
    entries = [young, old, done]
    assert [e.flow_run_id for e in due_for_cleanup(entries, now, 6)] == ["old"]
    # the next drill holds the failover lock: every earlier drill is dead, whatever its age
    assert [e.flow_run_id for e in due_for_cleanup(entries, now, 6, all_ages=True, except_run="young")] == ["old"]
    assert [e.flow_run_id for e in due_for_cleanup(entries, now, 6, all_ages=True)] == ["young", "old"]


def test_drill_copies_are_recognised_by_tag_or_suffix() -> None:
    assert is_drill_copy({"name": "chat-ep-drill"}, "drill")
    assert is_drill_copy({"name": "chat-ep", "tags": {"foundry-dr.drill-run": "r1"}}, "drill")
    assert not is_drill_copy({"name": "chat-ep", "tags": {}}, "drill")
