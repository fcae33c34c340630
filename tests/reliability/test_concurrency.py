"""cut-over, fail-back and dr-drill of one plan started together: one runs, the others wait or fail
naming the lock, and nothing interleaves.

Deterministic because cut-over pauses for approval while it holds the failover lock. Runs on
the private "standby" sandbox; the cut-over is rejected, so the pointer stays on the primary.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from faultkit import in_thread, pointed_at

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import LockHeld, RunbookRejected
from foundry_dr.flows.cut_over import cut_over
from foundry_dr.flows.dr_drill import dr_drill
from foundry_dr.flows.fail_back import fail_back
from foundry_dr.plan import Plan
from foundry_dr.stores.pointer import read_pointer

pytestmark = pytest.mark.usefixtures("prefect")


def paused_run_ids() -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
        )
    return {str(r.id) for r in runs}


def wait_for_paused(before: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if new := paused_run_ids() - before:
            return new.pop()
        time.sleep(0.3)
    raise AssertionError("no run paused for approval")


def decision(factory: ClientFactory) -> tuple:
    """What a pointer records of the last approved decision (the default pointer has no stable time)."""
    pointer, source = read_pointer(factory)
    return pointer.active, pointer.version, pointer.flow_run_id, source


class HolderWatch:
    """Samples the failover lock's record (in the secondary's storage) in a thread: the sequence
    of holders it went through."""

    def __init__(self, plan: Plan) -> None:
        self.factory = ClientFactory(plan)
        self.seen: list[tuple[str | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from foundry_dr.stores.lock import read_lock

        while not self._stop.is_set():
            record = read_lock(self.factory)
            current = (record.runbook, record.flow_run_id) if record and record.held() else (None, None)
            if not self.seen or self.seen[-1] != current:
                self.seen.append(current)
            time.sleep(0.2)

    def __enter__(self) -> HolderWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.factory.close()


def reject(run_id: str) -> None:
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input={"decision": "reject", "approver": "oncall", "reason": "concurrency test"})


def test_one_runs_the_others_fail_naming_the_lock(private_sandboxes, plan: Plan, record_property) -> None:
    config = private_sandboxes.get("standby")
    with pointed_at(config), HolderWatch(plan) as watch:
        factory = ClientFactory(plan)
        pointer_before = decision(factory)
        before = paused_run_ids()
        cut, cut_box = in_thread(lambda: cut_over(plan=plan, reason="concurrency", approval_poll_seconds=1))
        holder = wait_for_paused(before)  # cut-over holds the lock while it waits for approval
        others: dict[str, tuple[threading.Thread, dict[str, Any]]] = {
            "fail-back": in_thread(lambda: fail_back(plan=plan, approve=True, lock_wait_seconds=3)),
            "dr-drill": in_thread(lambda: dr_drill(plan=plan, approve=True, lock_wait_seconds=3)),
        }
        for name, (thread, box) in others.items():
            thread.join(180)
            error = box.get("error")
            assert isinstance(error, LockHeld), f"{name}: {box}"
            assert f"held by cut-over (flow run {holder}" in str(error) and "failover lock" in str(error), str(error)
            assert box["ended"] < time.time() and cut.is_alive(), f"{name} ended after the holder"
        reject(holder)
        cut.join(180)
        assert isinstance(cut_box.get("error"), RunbookRejected), cut_box
        # the lock is free again: a dry-run cut-over takes it at once, and the pointer never moved
        cut_over(plan=plan, dry_run=True, lock_wait_seconds=5)
        assert decision(factory) == pointer_before
        factory.close()
    holders = [h for h in watch.seen if h[0]]
    assert holders and holders[0] == ("cut-over", holder), watch.seen
    assert all(h[0] == "cut-over" for h in holders), f"another runbook held the lock: {watch.seen}"
    record_property("outcome", f"holders seen: {[h[0] for h in watch.seen]}; fail-back and dr-drill: LockHeld")


@pytest.mark.slow
def test_a_waiting_drill_runs_only_after_the_holder_released(private_sandboxes, plan: Plan,
                                                            record_property) -> None:  # fmt: skip
    config = private_sandboxes.get("standby")
    with pointed_at(config), HolderWatch(plan) as watch:
        before = paused_run_ids()
        cut, cut_box = in_thread(lambda: cut_over(plan=plan, reason="concurrency", approval_poll_seconds=1))
        holder = wait_for_paused(before)
        drill, drill_box = in_thread(lambda: dr_drill(plan=plan, approve=True, lock_wait_seconds=600))
        time.sleep(5)
        assert drill.is_alive() and "result" not in drill_box, "the drill did not wait for the lock"
        reject(holder)
        cut.join(180)
        drill.join(900)
    assert isinstance(cut_box.get("error"), RunbookRejected), cut_box
    assert "error" not in drill_box, drill_box.get("error")
    assert drill_box["result"]["pointer_untouched"]
    sequence = [h[0] for h in watch.seen if h[0]]
    assert sequence == ["cut-over", "dr-drill"], watch.seen
    assert cut_box["ended"] <= drill_box["ended"]
    record_property("outcome", f"holders in order: {sequence}")
