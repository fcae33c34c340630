"""Runbooks through a Prefect server: start a deployment, follow it, answer its approval.

Used by ``foundry-dr run`` when ``PREFECT_API_URL`` is set, by ``foundry-dr approve`` /
``reject``, and by the alert receiver. The run happens on a worker (or ``serve.py``), so
what the CLI sees is only the flow run's state: this module turns those states into the
CLI's exit codes and tells the operator what to do when a run waits for approval.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from foundry_dr.errors import RemoteError
from foundry_dr.exit_codes import ExitCode

# Deployment names are the runbook names (prefect.yaml): flow "cut-over", deployment "cut-over".
DEPLOY_HINT = "create the deployments with scripts/deploy.sh (or serve them: python deployments/serve.py)"

# The name of a rejected runbook's final (Cancelled) state.
REJECTED_STATE = "Rejected"
# A failed run whose state message names one of these was rejected or timed out at approval
# (runs of versions that ended a rejection Failed).
_REJECTION_MARKERS = ("RunbookRejected", "rejected at approval", "approval timed out")
# Prefect's failed state message names the exception: "Flow run encountered an exception: LockHeld: ..."
_LOCK_MARKERS = ("LockHeld",)
# The approval form's field that confirms an unplanned cut-over while the primary is healthy.
CONFIRM_UNPLANNED = "confirm_unplanned"


def deployment_name(runbook: str) -> str:
    return f"{runbook}/{runbook}"


def ui_url() -> str | None:
    """The Prefect UI base URL (``PREFECT_UI_URL``, or derived from the API URL)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().ui_url
    return str(url).rstrip("/") if url else None


def run_url(flow_run_id: UUID | str) -> str | None:
    base = ui_url()
    return f"{base}/runs/flow-run/{flow_run_id}" if base else None


def start_deployment(runbook: str, parameters: dict[str, Any], *, tags: list[str] | None = None,
                     idempotency_key: str | None = None) -> Any:
    """Create a flow run of ``<runbook>/<runbook>`` and return it at once (``timeout=0``).

    Raises :class:`RemoteError` (exit 1) naming the fix when the deployment does not exist.
    The idempotency key makes the server return the existing run for a repeated key.
    """
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    name = deployment_name(runbook)
    try:
        return run_deployment(name, parameters=parameters, timeout=0, tags=tags,
                              idempotency_key=idempotency_key, as_subflow=False)
    except ObjectNotFound as exc:
        raise RemoteError(f"deployment {name} not found on {api_url()}: {DEPLOY_HINT}") from exc


def require_server() -> None:
    """Refuse (exit 2) when no Prefect server is configured: without an API URL Prefect's client
    quietly starts a temporary embedded server, where no paused run exists to be answered."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RemoteError(
            "no Prefect server is configured: set PREFECT_API_URL (or a Prefect profile's api url) to the "
            "server the paused run is on", ExitCode.BAD_INPUT,
        )  # fmt: skip


def api_url() -> str:
    return os.environ.get("PREFECT_API_URL") or "the current Prefect profile's API"


def approve_command(flow_run_id: UUID | str) -> list[str]:
    """The lines that tell an operator how to answer a paused run."""
    lines = [
        f"run {flow_run_id} is waiting for approval; answer with",
        f"  foundry-dr approve {flow_run_id} --approver NAME --reason TEXT",
        f"  foundry-dr reject {flow_run_id} --approver NAME --reason TEXT",
    ]
    if url := run_url(flow_run_id):
        lines.append(f"  or in the Prefect UI: {url}")
    return lines


def exit_code_for(state: Any, was_paused: bool = False) -> ExitCode:
    """Map a final flow-run state to the CLI contract (0 done, 1 failed, 3 rejected/timed out,
    4 the plan's lock held by another run).

    A rejected runbook ends Cancelled, named "Rejected" (flows/common.py ``rejected``). A run
    cancelled otherwise while it waited for approval counts as rejected too (someone cancelled
    it in the UI); a cancel at any other point is a failure: the runbook may have stopped halfway.
    """
    if state.is_completed():
        return ExitCode.OK
    if state.is_cancelled() and state.name == REJECTED_STATE:
        return ExitCode.REJECTED
    message = state.message or ""
    if any(marker in message for marker in _REJECTION_MARKERS):
        return ExitCode.REJECTED
    if state.is_failed() and any(marker in message for marker in _LOCK_MARKERS):
        return ExitCode.LOCKED
    if state.is_cancelled() and was_paused:
        return ExitCode.REJECTED
    return ExitCode.FAILED


def follow(flow_run_id: UUID, echo: Callable[[str], None], *, poll_seconds: float = 2.0,
           timeout_seconds: float | None = None) -> tuple[ExitCode, Any]:
    """Poll the run until it ends, echoing each state change; return (exit code, final state).

    Pausing is not an end: the run waits for ``approve``/``reject`` from another terminal or
    the UI, and this loop keeps following it so that the exit code reflects the decision.
    """
    from prefect import get_client

    last: str | None = None
    was_paused = False
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            label = f"{state.name}" + (f": {state.message}" if state.message and state.is_final() else "")
            if state.name != last:
                echo(f"[{time.strftime('%H:%M:%S')}] {label}")
                if state.is_paused():
                    was_paused = True
                    for line in approve_command(flow_run_id):
                        echo(line)
                last = state.name
            if state.is_final():
                return exit_code_for(state, was_paused), state
            if deadline is not None and time.monotonic() > deadline:
                raise RemoteError(f"run {flow_run_id} still {state.name} after {timeout_seconds:.0f} s")
            time.sleep(poll_seconds)


def report_markdown(flow_run_id: UUID) -> str | None:
    """The run's markdown report artifact (key ``*-report``), for printing after the run."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    reports = [a for a in artifacts if a.type == "markdown" and (a.key or "").endswith("-report")]
    return str(reports[-1].data) if reports else None


def parse_run_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as exc:
        raise RemoteError(f"not a flow run id: {text!r} (expected a UUID)", ExitCode.BAD_INPUT) from exc


def resume(run_id: str, *, approve: bool, approver: str, reason: str, confirm_unplanned: bool = False) -> Any:
    """Answer a paused runbook's approval form (the ApprovalInput of flows/common.py).

    The answer is built from the form the run shows (its schema is read first): a form that asks
    to confirm an unplanned cut-over gets ``confirm_unplanned`` (required to approve it). Bad
    input (exit 2): a malformed id, an unknown run, a run that is not paused, an empty approver
    or reason, an approval the form needs confirmed, or an answer the server's validation refuses.
    """
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.flow_runs import resume_flow_run

    flow_run_id = parse_run_id(run_id)
    require_server()
    if not approver.strip():
        raise RemoteError("--approver must name who decides", ExitCode.BAD_INPUT)
    if not reason.strip():
        raise RemoteError("--reason must say why (a change or incident ticket)", ExitCode.BAD_INPUT)
    with get_client(sync_client=True) as client:
        try:
            flow_run = client.read_flow_run(flow_run_id)
        except ObjectNotFound as exc:
            raise RemoteError(f"no flow run {flow_run_id} on {api_url()}", ExitCode.BAD_INPUT) from exc
        state = flow_run.state
        if state is None or not state.is_paused():
            raise RemoteError(
                f"run {flow_run_id} ({flow_run.name}) is {state.name if state else 'without state'}, not paused "
                "for approval; nothing to answer", ExitCode.BAD_INPUT,
            )  # fmt: skip
        fields = _form_fields(client, flow_run_id, state)
    answer: dict[str, Any] = {"decision": "approve" if approve else "reject", "approver": approver, "reason": reason}
    if CONFIRM_UNPLANNED in fields:
        if approve and not confirm_unplanned:
            raise RemoteError(
                f"run {flow_run_id} is an unplanned cut-over while the primary answers healthy: it skips the final "
                "sync. Add --confirm-unplanned to approve it (or reject it and run a planned cut-over)",
                ExitCode.BAD_INPUT,
            )  # fmt: skip
        answer[CONFIRM_UNPLANNED] = confirm_unplanned
    try:
        resume_flow_run(flow_run_id, run_input=answer)
    except Exception as exc:  # a pause that timed out meanwhile, or an input the form refuses
        raise RemoteError(f"cannot resume run {flow_run_id}: {type(exc).__name__}: {exc}", ExitCode.BAD_INPUT) from exc
    return flow_run


def _form_fields(client: Any, flow_run_id: UUID, state: Any) -> set[str]:
    """The fields of the form the paused run shows (empty when it waits for no input)."""
    import json

    keyset = state.state_details.run_input_keyset if state.state_details else None
    if not keyset:
        return set()
    raw = client.read_flow_run_input(flow_run_id=flow_run_id, key=keyset["schema"])
    try:
        schema = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return set()
    return set((schema or {}).get("properties", {}))
