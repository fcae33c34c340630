"""What every runbook flow shares: plan resolution, approval gate, events, lock, reports.

Flows stay thin: they order tasks, pause for approval and publish reports; they make no
Azure calls themselves.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout, ObjectAlreadyExists, ObjectNotFound
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import RunbookRejected
from foundry_dr.plan import Plan, load_plan
from foundry_dr.redact import redact_text

if TYPE_CHECKING:
    from foundry_dr.pointer import ActivePointer
    from foundry_dr.sides import Side
    from foundry_dr.stores.lock import Lease

__all__ = ["RunbookRun", "approval_gate", "emit", "failover_lock", "flow_run_id", "plan_lock", "publish_report",
           "resolve_plan", "runbook_run", "timed", "ensure_concurrency_limit"]


class ApprovalInput(RunInput):
    """The form shown in the Prefect UI when a runbook pauses for approval."""

    approve: bool = Field(default=False, description="Approve the changes described above.")
    approver: str = Field(default="", description="Who approves (name or e-mail).")
    reason: str = Field(default="", description="Reason or change/incident ticket.")


def resolve_plan(plan: Plan | str | dict) -> Plan:
    """Flows take a Plan (CLI), a path (deployments: the plan path is the parameter) or a dict."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, str | Path):
        return load_plan(plan)
    from foundry_dr.plan import validate_plan

    return validate_plan(plan, "plan parameter")


@dataclass
class RunbookRun:
    """One run of a runbook: its plan, its client factory, its clock and its timeline."""

    name: str
    plan: Plan
    factory: ClientFactory
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    t0: float = field(default_factory=time.monotonic)
    timeline: dict[str, float] = field(default_factory=dict)

    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0

    def step(self, name: str) -> AbstractContextManager[None]:
        """Time one step of the run into :attr:`timeline`."""
        return timed(self.timeline, name)

    def emit(self, phase: str, **payload: Any) -> None:
        emit(self.name, phase, self.plan, **payload)

    def flip_pointer(
        self,
        to: Side,
        lease: Lease,
        decision: dict,
        *,
        reason: str,
        previous: ActivePointer | None,
        required: tuple[Side, ...] = ("secondary",),
        **recovery: datetime | None,
    ) -> dict:
        """Point callers at ``to``: its scoring URIs (read by a retried task), the approval that
        allowed it, and ``recovery`` (the recovery point cut-over records for fail-back), written
        under ``lease`` to the stores in ``required`` (then mirrored, best effort)."""
        from foundry_dr.pointer import build_pointer
        from foundry_dr.tasks.endpoints import scoring_uris
        from foundry_dr.tasks.pointer import write_pointer

        pointer = build_pointer(
            self.plan,
            to,
            scoring_uris=scoring_uris(self.factory, to),
            flow_run_id=flow_run_id(),
            runbook=self.name,
            approver=decision["approver"],
            reason=reason or decision["reason"],
            previous=previous,
            **recovery,
        )
        return write_pointer(self.factory, pointer, lease, required=required)


@contextmanager
def runbook_run(runbook: str, plan: Plan | str | dict, **payload: Any) -> Iterator[RunbookRun]:
    """How every runbook opens and closes: resolve the plan, emit ``started``, build the client
    factory; on the way out emit ``failed`` (with ``payload`` and the error's class) if the body
    raised, and close the factory's clients either way. ``completed`` is the flow's to emit,
    since only it knows the result."""
    resolved = resolve_plan(plan)
    emit(runbook, "started", resolved, **payload)
    run = RunbookRun(runbook, resolved, ClientFactory(resolved))
    try:
        yield run
    except Exception as exc:
        run.emit("failed", error=type(exc).__name__, **{k: v for k, v in payload.items() if k != "dry_run"})
        raise
    finally:
        run.factory.close()


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def emit(runbook: str, phase: str, plan: Plan, **payload: Any) -> None:
    """Emit ``foundry-dr.<runbook>.<phase>`` so automations can notify on it."""
    emit_event(
        event=f"foundry-dr.{runbook}.{phase}",
        resource={"prefect.resource.id": f"foundry-dr.plan.{plan.name}", "prefect.resource.name": plan.name},
        related=[{"prefect.resource.id": f"prefect.flow-run.{flow_run_id()}", "prefect.resource.role": "flow-run"}]
        if flow_run_id()
        else None,
        payload={k: v for k, v in payload.items() if v is not None},
    )


def approval_gate(runbook: str, plan: Plan, *, approve: bool, summary: str, poll_interval: int | None = None) -> dict:
    """Pause for approval when the plan requires it; return the recorded decision.

    ``approve=True`` (the CLI's ``--approve``) counts as the caller's approval. A rejection or
    a timeout raises :class:`RunbookRejected` before anything has been changed.
    """
    logger = get_run_logger()
    if not plan.approvals.is_required(runbook):
        return {"decision": "auto", "approver": "plan", "reason": f"approvals.{runbook} is auto"}
    if approve:
        return {"decision": "approved", "approver": _local_user(), "reason": "--approve on the command line"}
    timeout = plan.approvals.timeout_minutes * 60
    logger.info("waiting for approval of %s (timeout %d min)", runbook, plan.approvals.timeout_minutes)
    emit(runbook, "awaiting-approval", plan, summary=summary)
    kwargs: dict[str, Any] = {"timeout": timeout}
    if poll_interval:
        kwargs["poll_interval"] = poll_interval
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(
                description=f"## Approve {runbook} for plan `{plan.name}`?\n\n{summary}"
            ),
            **kwargs,
        )
    except FlowPauseTimeout as exc:
        raise RunbookRejected(runbook, f"no approval within {plan.approvals.timeout_minutes} min",
                              timed_out=True) from exc
    if not answer.approve:
        raise RunbookRejected(runbook, answer.reason or "rejected", approver=answer.approver or None)
    return {"decision": "approved", "approver": answer.approver or "unknown", "reason": answer.reason}


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "cli"


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[step] = round(time.monotonic() - start, 3)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def publish_report(key: str, markdown: str, rows: list[dict] | None = None, table_key: str | None = None) -> None:
    """Markdown report + optional table artifact, both scrubbed of anything secret-looking."""
    create_markdown_artifact(key=key, markdown=redact_text(markdown), description=f"{key} report")
    if rows:
        safe = [{k: redact_text(str(v)) for k, v in row.items()} for row in rows]
        create_table_artifact(key=table_key or f"{key}-items", table=safe, description=f"{key} items")


@contextmanager
def plan_lock(
    plan: Plan, runbook: str, name: str, wait_seconds: float | None = None, factory: ClientFactory | None = None
) -> Iterator[Lease]:
    """The plan's lock ``name``: a lease record in the secondary region's storage
    (``foundry_dr.stores.lock``), not in Prefect, so it survives the orchestrator and holds
    across orchestrators. A second run waits ``wait_seconds`` (default: the plan's
    ``locks.wait_seconds``), then fails with :class:`LockHeld` naming the holder. The lease is
    renewed while the block runs; a crashed holder's lease expires by itself."""
    from foundry_dr.stores.lock import Lease

    own = factory is None
    factory = factory or ClientFactory(plan)
    wait = plan.locks.wait_seconds if wait_seconds is None else wait_seconds
    lease = Lease(factory, name, runbook=runbook, flow_run_id=flow_run_id(), lease_seconds=plan.locks.lease_seconds)
    try:
        lease.acquire(wait)
        get_run_logger().info("holding the %s lock of plan %s (token %d)", name, plan.name, lease.token)
        try:
            yield lease
        finally:
            lease.release()
    finally:
        if own:
            factory.close()


@contextmanager
def failover_lock(
    plan: Plan, runbook: str, wait_seconds: float | None = None, factory: ClientFactory | None = None
) -> Iterator[Lease]:
    """One lock per plan shared by cut-over, fail-back and dr-drill (see :func:`plan_lock`):
    they never interleave, from one orchestrator or several."""
    with plan_lock(plan, runbook, "failover", wait_seconds, factory) as lease:
        yield lease


def ensure_concurrency_limit(name: str, limit: int = 1) -> str:
    """Create Prefect's global concurrency limit ``name`` (``limit`` slots) unless it exists.

    Only provision-secondary locks this way: it runs before the secondary's storage account
    (home of every other lock, :func:`plan_lock`) exists, and never on the failover path.
    ``concurrency(name, strict=True)`` only locks when the limit exists (with ``strict=False`` a
    missing limit silently locks nothing), so the limit is created first when it is missing.
    """
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:
                pass  # created meanwhile by a concurrent run
    return name
