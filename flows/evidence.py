"""Evidence bundles of drills, cut-overs and fail-backs: plots, HTML, write-once storage, artifact.

The bundle is built by the pure rules (foundry_dr/evidence.py) and kept in the secondary's storage
(foundry_dr/stores/evidence.py). Writing evidence never fails a runbook: every step here is
guarded, and a bundle that could not be written is named, with the error, in the run's report
(:func:`evidence_markdown`) and in the ``<runbook>-evidence`` artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from foundry_dr.evidence import (
    Approval,
    EvidenceBundle,
    approval_from,
    bundle_from_drill,
    bundle_from_run,
    checkpoint_age_series,
    drill_rows,
    markdown_table,
    plot_checkpoint_age,
    plot_drill_trend,
    plots_markdown,
    redacted,
    render_html,
)
from foundry_dr.flows.common import flow_run_id_or_local, publish_report
from foundry_dr.redact import redact_text

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory
    from foundry_dr.drill import DrillRecord
    from foundry_dr.flows.common import RunbookRun

CHECKPOINT_DAYS = 7  # the checkpoint-age plot's window

__all__ = ["approvals_of", "evidence_markdown", "evidence_of_drill", "evidence_of_failure", "evidence_of_run",
           "evidence_plots", "publish_evidence"]


def approvals_of(run: RunbookRun) -> list[Approval]:
    """The approvals ``run`` recorded (``RunbookRun.approved``), one per approver."""
    return [a for d in run.approvals for a in approval_from(d, at=d.get("at"), runbook=run.name)]


def evidence_plots(factory: ClientFactory, drills: Sequence[DrillRecord] | None = None) -> dict[str, bytes]:
    """The trend plots, from the secondary's storage (the drill history unless given, the
    checkpoints of the last days). A source that can't be read is left out."""
    from foundry_dr.stores.drill import read_drills
    from foundry_dr.stores.evidence import read_checkpoint_history

    plan = factory.plan
    rto, rpo = plan.objectives.rto_minutes * 60, plan.objectives.rpo_minutes * 60
    plots: dict[str, bytes] = {}
    try:
        history = list(drills) if drills is not None else read_drills(factory)
        trend = plot_drill_trend(history, rto, rpo)
        if trend:
            plots["RTO and RPO per drill"] = trend
    except Exception as exc:  # noqa: BLE001 - a plot is optional evidence
        _warn("drill trend plot left out: %s", exc)
    try:
        now = datetime.now(UTC)
        since = now - timedelta(days=CHECKPOINT_DAYS)
        series = checkpoint_age_series(read_checkpoint_history(factory, since), now)
        age = plot_checkpoint_age(series, rpo)
        if age:
            plots[f"Checkpoint age, last {CHECKPOINT_DAYS} days"] = age
    except Exception as exc:  # noqa: BLE001
        _warn("checkpoint age plot left out: %s", exc)
    return plots


def publish_evidence(factory: ClientFactory, bundle: EvidenceBundle,
                     drills: Sequence[DrillRecord] | None = None) -> dict[str, Any]:
    """Redact, plot, render and write the bundle (write-once, secondary's storage), then publish
    the ``<runbook>-evidence`` artifact (plots as data: URIs, the drill table, the blob paths).
    What was written, or ``{"error": ...}``; never raises."""
    from foundry_dr.stores.evidence import write_evidence
    from foundry_dr.stores.records import describe_failure

    plots: dict[str, bytes] = {}
    try:
        bundle = redacted(bundle)
        plots = evidence_plots(factory, drills)
        written = write_evidence(factory, bundle, render_html(bundle, plots))
    except Exception as exc:  # noqa: BLE001 - evidence never fails the runbook; the report says it
        written = {"error": f"{type(exc).__name__}: {describe_failure(exc)}"}
        _warn("evidence bundle not written: %s", written["error"])
    try:
        lines = [f"# Evidence: {bundle.runbook} of plan `{bundle.plan}` ({bundle.result})", "", *_link_lines(written)]
        if drills:
            plan = factory.plan
            rows = drill_rows(drills, plan.objectives.rto_minutes * 60, plan.objectives.rpo_minutes * 60)
            lines += ["", "## Drills (newest first)", markdown_table(rows)]
        if plots:
            lines += ["", "## Trends"]
        # redact the text only: the images are base64, not text a secret pattern should touch
        markdown = redact_text("\n".join(lines)) + ("\n\n" + plots_markdown(plots) if plots else "")
        create_markdown_artifact(key=f"{bundle.runbook}-evidence", markdown=markdown,
                                 description=f"Evidence bundle of {bundle.runbook} for plan {bundle.plan}")  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        _warn("evidence artifact not published: %s", exc)
    return written


def _link_lines(written: dict[str, Any]) -> list[str]:
    if written.get("error"):
        return [f"- evidence bundle NOT written: {written['error']}"]
    where = f"storage account `{written['account']}`, container `{written['container']}`"
    return [
        f"- evidence bundle (JSON): `{written['container']}/{written['json']}` ({where})",
        f"- auditor's report (HTML, opens offline): `{written['container']}/{written['html']}`",
        f"- immutability: {written.get('immutability', 'n/a')}",
    ]


def evidence_markdown(written: dict[str, Any] | None) -> str:
    """The "Evidence" section a runbook's report ends with ("" when no bundle was attempted)."""
    if not written:
        return ""
    return "\n".join(["", "", "## Evidence", *_link_lines(written)])


def evidence_of_run(run: RunbookRun, result: dict[str, Any]) -> dict[str, Any]:
    """The bundle of a cut-over or fail-back that completed (``result``: what the flow returns).
    Cut-over's recovery point is read back from the secondary's store (the checkpoint it used, or
    the final replication's), for its counts. Never raises."""
    from foundry_dr.stores.checkpoint import read_checkpoint

    plan = run.plan
    checkpoint = None
    if run.name == "cut-over":
        try:
            checkpoint = read_checkpoint(run.factory, plan.name, sides=("secondary",), direction="to-secondary")
        except Exception:  # noqa: BLE001 - the bundle keeps the point from the result
            checkpoint = None
    try:
        bundle = _run_bundle(run, result=result, approvals=approvals_of(run), checkpoint=checkpoint)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"bundle not built: {type(exc).__name__}: {redact_text(str(exc))}"}
    return publish_evidence(run.factory, bundle)


def _run_bundle(run: RunbookRun, **given: Any) -> EvidenceBundle:
    """A cut-over's or fail-back's bundle: the run's plan, clock and steps, plus ``given``."""
    plan = run.plan
    return bundle_from_run(
        runbook=run.name, plan_name=plan.name, plan_digest=plan.digest,  # type: ignore[arg-type]
        flow_run_id=flow_run_id_or_local(run.started), started_at=run.started,
        rto_objective_seconds=plan.objectives.rto_minutes * 60,
        rpo_objective_seconds=plan.objectives.rpo_minutes * 60, steps=run.steps, **given,
    )  # fmt: skip


def evidence_of_drill(factory: ClientFactory, started: datetime, outcome: dict[str, Any],
                      history: list[DrillRecord], checkpoint: Any) -> dict[str, Any]:
    """A dr-drill's bundle (``outcome``: after its verdict; ``checkpoint``: the recovery point it
    measured, None if it got no further), written once to the secondary's storage; what was
    written, or the error. Never raises: the drill's result stands."""
    plan = factory.plan
    try:
        bundle = bundle_from_drill(
            plan_name=plan.name, plan_digest=plan.digest, flow_run_id=flow_run_id_or_local(started), started_at=started,
            outcome=outcome, rto_objective_seconds=plan.objectives.rto_minutes * 60,
            rpo_objective_seconds=plan.objectives.rpo_minutes * 60, checkpoint=checkpoint,
            steps=getattr(outcome.get("steps"), "spans", []),
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        return {"error": f"bundle not built: {type(exc).__name__}: {redact_text(str(exc))}"}
    return publish_evidence(factory, bundle, drills=history)


def evidence_of_failure(run: RunbookRun, exc: BaseException) -> dict[str, Any] | None:
    """The bundle of a cut-over or fail-back that failed or was rejected: the steps it ran, the
    approvals it had (and the rejection), the error. Never raises."""
    from foundry_dr.errors import RunbookRejected

    try:
        plan = run.plan
        rejected = isinstance(exc, RunbookRejected)
        approvals = approvals_of(run)
        if rejected:
            decision = "timed out" if exc.timed_out else "rejected"
            approvals.append(Approval(decision=decision, approver=exc.approver or "", reason=str(exc),
                                      at=datetime.now(UTC), runbook=run.name))  # fmt: skip
        bundle = _run_bundle(run, approvals=approvals, error=None if rejected else f"{type(exc).__name__}: {exc}",
                             rejected=rejected)  # fmt: skip
        written = publish_evidence(run.factory, bundle)
        verb = "rejected" if rejected else "failed"
        publish_report(f"{run.name}-report", f"# {run.name}: plan `{plan.name}` {verb}\n\n- {type(exc).__name__}: "
                       f"{exc}{evidence_markdown(written)}")  # fmt: skip
        return written
    except Exception as err:  # noqa: BLE001 - never hide the runbook's own error
        _warn("evidence of the failed run not written: %s", err)
        return None


def _warn(message: str, *args: Any) -> None:
    try:
        get_run_logger().warning(message, *(redact_text(str(a)) for a in args))
    except Exception:  # noqa: BLE001 - outside a run context
        pass
