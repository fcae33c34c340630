"""What every runbook flow shares: plan resolution, approval gate, events, lock, reports.

Flows stay thin: they order tasks, pause for approval and publish reports; they make no
Azure calls themselves.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import re
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import FlowPauseTimeout, ObjectAlreadyExists, ObjectNotFound
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Cancelled, State
from pydantic import Field

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import RunbookRejected
from foundry_dr.plan import Plan, load_plan
from foundry_dr.redact import redact_text

if TYPE_CHECKING:
    from foundry_dr.pointer import ActivePointer
    from foundry_dr.sides import Side
    from foundry_dr.stores.lock import Lease

__all__ = ["ApprovalInput", "RunbookRun", "Timeline", "UnplannedApprovalInput", "approval_gate", "cell", "emit",
           "failover_lock", "flow_run_id", "flow_run_id_or_local", "plan_lock", "publish_report", "rejected",
           "rejections_end_cancelled", "resolve_plan", "run_name", "runbook_run", "timed", "ensure_concurrency_limit"]

# Not blank: at least one character that is not white space (JSON schema ``pattern`` searches).
_NOT_BLANK = r"\S"


# The form shown in the Prefect UI when a runbook pauses for approval. Every field is required and
# none has a default, so an untouched form cannot be submitted: the Prefect server validates the
# answer against this schema and refuses one without a decision, an approver or a reason (the UI
# shows the error; ``resume_flow_run`` raises). The class docstrings are the forms' descriptions.
class ApprovalInput(RunInput):
    """Approve or reject: choose a decision and name yourself and the reason (all required)."""

    decision: Literal["approve", "reject"] = Field(
        description="Approve or reject the changes described above (no default: choose one)."
    )
    approver: str = Field(
        min_length=1, max_length=200, pattern=_NOT_BLANK, description="Who decides (name or e-mail)."
    )
    reason: str = Field(
        min_length=1, max_length=500, pattern=_NOT_BLANK, description="Reason or change/incident ticket."
    )


# The cut-over form when an unplanned cut-over was asked for while the primary answered healthy.
class UnplannedApprovalInput(ApprovalInput):
    """Approve or reject (all required). The primary is healthy: approving skips the final sync, so confirm it."""

    confirm_unplanned: bool = Field(
        description="The primary answered healthy, yet this cut-over is unplanned: it skips the final sync, so "
        "writes to the primary after the last checkpoint stay behind. Turn on to confirm (required to approve)."
    )


def resolve_plan(plan: Plan | str | dict) -> Plan:
    """Flows take a Plan (CLI), a path (deployments: the plan path is the parameter) or a dict."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, str | Path):
        return load_plan(plan)
    from foundry_dr.plan import validate_plan

    return validate_plan(plan, "plan parameter")


class Timeline(dict[str, float]):
    """Step -> seconds (what reports show), and :attr:`spans`: each step's name, start, end,
    seconds and whether it raised, in order (what evidence bundles hold; a step timed twice
    keeps both spans). Filled by :func:`timed`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spans: list[dict[str, Any]] = []


@dataclass
class RunbookRun:
    """One run of a runbook: its plan, its client factory, its clock, its timeline (with each
    step's start and end) and the approvals it was given."""

    name: str
    plan: Plan
    factory: ClientFactory
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    t0: float = field(default_factory=time.monotonic)
    timeline: Timeline = field(default_factory=Timeline)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def seconds(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Every timed step with its start and end (``Timeline.spans``)."""
        return self.timeline.spans

    def approved(self, decision: dict) -> dict:
        """Keep an approval gate's ``decision`` with the time it reached the run (evidence); returns it."""
        self.approvals.append({**decision, "at": datetime.now(UTC)})
        return decision

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
    run = RunbookRun(runbook, resolved, ClientFactory(resolved), dry_run=bool(payload.get("dry_run")))
    try:
        yield run
    except RunbookRejected as exc:
        run.emit("rejected", timed_out=exc.timed_out or None, approver=exc.approver)
        _evidence_of_failure(run, exc)
        raise
    except Exception as exc:
        run.emit("failed", error=type(exc).__name__, **{k: v for k, v in payload.items() if k != "dry_run"})
        _evidence_of_failure(run, exc)
        raise
    finally:
        run.factory.close()


def _evidence_of_failure(run: RunbookRun, exc: BaseException) -> None:
    """A failed or rejected cut-over or fail-back still leaves its evidence bundle (dr-drill writes
    its own, failed or not; see flows/evidence.py). Never raises."""
    if run.name in ("cut-over", "fail-back") and not run.dry_run:
        from foundry_dr.flows.evidence import evidence_of_failure

        evidence_of_failure(run, exc)


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def flow_run_id_or_local(started: datetime) -> str:
    """The flow run id, or a local stand-in (a flow called outside Prefect's API) named by its start."""
    return flow_run_id() or f"local-{started.strftime('%Y%m%dT%H%M%S')}"


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


def approval_gate(
    runbook: str,
    plan: Plan,
    *,
    approve: bool,
    summary: str,
    poll_interval: int | None = None,
    reason: str = "",
    confirm_unplanned: bool = False,
) -> dict:
    """Pause for approval when the plan requires it; return the recorded decision.

    ``approve=True`` (the CLI's ``--approve``) counts as the caller's approval (the first one,
    when the plan wants two approvers: the second still pauses). ``reason`` (the trigger's, e.g.
    an incident number) is shown in the form. ``confirm_unplanned``: the form also asks to
    confirm an unplanned cut-over while the primary is healthy. The assessment (``summary``)
    is published as an artifact before the pause, beside the form. A rejection or a timeout
    raises :class:`RunbookRejected` before anything has been changed.
    """
    logger = get_run_logger()
    needed = plan.approvals.approvers_required(runbook)
    if needed == 0:
        return {"decision": "auto", "approver": "plan", "reason": f"approvals.{runbook} is auto"}
    if approve and needed == 1:
        return {"decision": "approved", "approver": _local_user(), "reason": "--approve on the command line"}
    deadline = time.monotonic() + plan.approvals.timeout_minutes * 60
    header = f"Approve {runbook} for plan `{plan.name}`?"
    triggered = f"**Triggered with reason:** {reason}\n\n" if reason else ""
    _publish_assessment(runbook, plan, f"# {header}\n\n{triggered}{summary}")
    emit(runbook, "awaiting-approval", plan, summary=summary, reason=reason or None)
    if approve:
        first = {"approver": _local_user(), "reason": "--approve on the command line"}
    else:
        logger.info("waiting for approval of %s (timeout %d min)", runbook, plan.approvals.timeout_minutes)
        form = UnplannedApprovalInput if confirm_unplanned else ApprovalInput
        first = _ask(runbook, plan, form, f"## {header}\n\n{triggered}{summary}", deadline, poll_interval,
                     needs_confirmation=confirm_unplanned)  # fmt: skip
    if needed == 1:
        return {"decision": "approved", "approver": first["approver"], "reason": first["reason"]}
    logger.info("%s approved by %s; waiting for a second, different approver", runbook, first["approver"])
    note = (f"**First approval:** {first['approver']} ({first['reason']}). The plan requires a second approver: "
            "someone else.\n\n")  # fmt: skip
    second = _ask(runbook, plan, ApprovalInput, f"## Second approval: {header}\n\n{note}{triggered}{summary}",
                  deadline, poll_interval, not_by=first["approver"])  # fmt: skip
    return {
        "decision": "approved", "approver": f"{first['approver']}, {second['approver']}",
        "reason": f"{first['reason']}; {second['reason']}",
        "approvers": [first, second],
    }  # fmt: skip


def _ask(
    runbook: str,
    plan: Plan,
    form: type[ApprovalInput],
    description: str,
    deadline: float,
    poll_interval: int | None,
    *,
    needs_confirmation: bool = False,
    not_by: str | None = None,
) -> dict[str, str]:
    """One approval: pause with ``form`` until an answer the gate can use, or the deadline.

    The schema already refuses an empty form; what it cannot check (the approver of a second
    approval being the first one, an approval without the unplanned confirmation) is answered
    by pausing again with the reason on top, never by approving."""
    note = ""
    while True:
        remaining = int(deadline - time.monotonic())
        if remaining <= 0:
            raise RunbookRejected(runbook, f"no approval within {plan.approvals.timeout_minutes} min", timed_out=True)
        kwargs: dict[str, Any] = {"timeout": remaining}
        if poll_interval:
            kwargs["poll_interval"] = poll_interval
        try:
            answer = pause_flow_run(
                wait_for_input=form.with_initial_data(description=redact_text(note + description)), **kwargs
            )
        except FlowPauseTimeout as exc:
            raise RunbookRejected(runbook, f"no approval within {plan.approvals.timeout_minutes} min",
                                  timed_out=True) from exc
        approver, reason = answer.approver.strip(), answer.reason.strip()
        if answer.decision == "reject":
            raise RunbookRejected(runbook, reason, approver=approver)
        if not_by is not None and approver.casefold() == not_by.strip().casefold():
            note = f"**Not accepted:** {approver} gave the first approval; the second must come from someone else.\n\n"
        elif needs_confirmation and not getattr(answer, "confirm_unplanned", False):
            note = ("**Not accepted:** approving an unplanned cut-over while the primary is healthy needs "
                    "`confirm_unplanned` turned on.\n\n")  # fmt: skip
        else:
            return {"approver": approver, "reason": reason}
        get_run_logger().warning("%s: %s; asking again", runbook, note.strip().removeprefix("**Not accepted:** "))


def _publish_assessment(runbook: str, plan: Plan, markdown: str) -> None:
    """The assessment as an artifact at the pause: visible beside the form while the run waits."""
    create_markdown_artifact(
        key=f"{runbook}-assessment",
        markdown=redact_text(markdown),
        description=f"What {runbook} will change for plan {plan.name} (awaiting approval)",
    )


def rejected(exc: RunbookRejected) -> State:
    """The final state of a runbook a human rejected (or nobody approved in time): Cancelled,
    named "Rejected", with a one-line message instead of a failure's traceback. Calling the flow
    still raises ``exc`` (the state carries it), so the CLI exits with its code (3).

    A timeout is raised instead: once a pause has expired, Prefect's server refuses any move of the
    run to a state it did not choose (core_policy: "The flow was paused and never resumed.") and
    fails it itself, so a Cancelled state would be swapped for a FailedRun without our reason."""
    if exc.timed_out:
        raise exc
    message = " ".join(str(exc).split())
    return Cancelled(name="Rejected", message=message, data=exc)


P = ParamSpec("P")
R = TypeVar("R")


def rejections_end_cancelled(runbook: Callable[P, R]) -> Callable[P, R | State]:
    """Put under ``@flow``: a :class:`RunbookRejected` raised by the runbook ends it in the
    :func:`rejected` state instead of a failure (a timeout is re-raised, see there)."""

    @functools.wraps(runbook)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | State:
        try:
            return runbook(*args, **kwargs)
        except RunbookRejected as exc:
            return rejected(exc)

    # Prefect builds its parameter model from the wrapper, whose module is this one: give it the
    # runbook's annotations resolved where the runbook was written.
    run.__annotations__ = typing.get_type_hints(runbook)
    run.__signature__ = inspect.signature(runbook, eval_str=True)  # type: ignore[attr-defined]
    return run


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "cli"


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Seconds of ``step`` into ``timings``; a :class:`Timeline` also keeps its start and end."""
    start, began, ok = time.monotonic(), datetime.now(UTC), False
    try:
        yield
        ok = True
    finally:
        seconds = timings[step] = round(time.monotonic() - start, 3)
        spans = getattr(timings, "spans", None)
        if spans is not None:
            spans.append({"name": step, "started_at": began, "ended_at": datetime.now(UTC), "seconds": seconds,
                          "ok": ok})  # fmt: skip


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def publish_report(
    key: str,
    markdown: str,
    rows: list[dict] | None = None,
    table_key: str | None = None,
    *,
    description: str | None = None,
    table_description: str | None = None,
) -> None:
    """Markdown report + optional table artifact, both scrubbed of anything secret-looking.

    ``description`` reads as a sentence ("Cut-over report for plan p"); by default it is made
    from the key and the running flow's plan. Table cells are rendered as words (:func:`cell`)."""
    plan_name = _current_plan_name()
    create_markdown_artifact(
        key=key, markdown=redact_text(markdown), description=description or _describe(key, plan_name)
    )
    if rows:
        safe = [{k: redact_text(cell(v)) for k, v in row.items()} for row in rows]
        table = table_key or f"{key}-items"
        create_table_artifact(key=table, table=safe, description=table_description or _describe(table, plan_name))


def _describe(key: str, plan_name: str | None) -> str:
    """``cut-over-report`` -> "Cut-over report for plan p"; ``cut-over-jobs`` -> "Cut-over jobs for plan p"."""
    from foundry_dr.runbooks import NAMES

    runbook = next((n for n in sorted(NAMES, key=len, reverse=True) if key == n or key.startswith(n + "-")), None)
    if runbook is None:
        words = key.replace("-", " ")
    else:
        rest = key.removeprefix(runbook).strip("-").replace("-", " ") or "report"
        words = f"{runbook} {rest}"
    words = words[:1].upper() + words[1:]
    return f"{words} for plan {plan_name}" if plan_name else words


def cell(value: Any) -> str:
    """A table cell in words: enums by their value (``JobStatus.STARTING`` -> "starting"),
    mappings as ``key: value`` pairs, lists joined, ``None`` as empty."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value).lower() if isinstance(value.value, str) else cell(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{cell(k)}: {cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, str):
        return value.partition(".")[2].lower() if _is_enum_text(value) else value
    return str(value)


# ``JobStatus.STARTING``: an SDK enum's ``str()`` that reached a row as text. Only names of the
# status/state/type/kind kind, so that a blob called ``Data.CSV`` stays as it is.
_ENUM_TEXT = re.compile(r"[A-Z][A-Za-z]*(?:Status|State|Type|Kind|Mode)\.[A-Z][A-Z0-9_]*")


def _is_enum_text(text: str) -> bool:
    return _ENUM_TEXT.fullmatch(text) is not None


def _current_plan_name() -> str | None:
    ctx = FlowRunContext.get()
    return _plan_name(ctx.parameters.get("plan")) if ctx and ctx.parameters else None


def _plan_name(plan: Any) -> str | None:
    if isinstance(plan, Plan):
        return plan.name
    if isinstance(plan, dict):
        return str(plan.get("name")) if plan.get("name") else None
    if isinstance(plan, str | Path) and str(plan):
        try:
            return load_plan(plan).name
        except Exception:  # noqa: BLE001 - a name only: the flow reports a bad plan itself
            return Path(plan).stem
    return None


def run_name(runbook: str, *modes: str) -> Callable[[], str]:
    """Prefect's ``flow_run_name`` for a runbook: ``cut-over · <plan> · <mode>``, from the run's
    parameters named in ``modes`` (and "dry run" when it is one), instead of a random name."""

    def name() -> str:
        ctx = FlowRunContext.get()
        params = dict(ctx.parameters or {}) if ctx else {}
        parts = [runbook, _plan_name(params.get("plan")) or "?"]
        parts += [str(getattr(params[m], "value", params[m])) for m in modes if params.get(m) not in (None, "")]
        if params.get("dry_run"):
            parts.append("dry run")
        return " · ".join(parts)

    return name


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
