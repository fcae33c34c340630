"""Evidence bundles: what an auditor is handed after every drill, cut-over and fail-back. Pure.

A bundle (:class:`EvidenceBundle`) is machine-checkable JSON, published as a JSON schema
(``docs/schemas/evidence-bundle.schema.json``, generated from the model: ``python -m
foundry_dr.evidence``), plus a self-contained HTML report (:func:`render_html`: inline CSS, plots
as base64 PNG, no external URL, every text escaped) that opens offline. It holds the plan's name
and digest, the runbook and its flow run, every step with its start and end, the approvals, the
recovery point used, the achieved RTO and RPO against the objectives, the items verified with
their counts, the calls made to the primary (fenced drills), what was cleaned up, and pass/fail.

The plots (matplotlib, Agg backend, no pyplot state): RTO and RPO per drill against the
objectives (:func:`plot_drill_trend`) and the checkpoint age over the last days
(:func:`plot_checkpoint_age`). Storage is ``foundry_dr/stores/evidence.py``; flows build bundles
with the ``bundle_from_*`` functions here.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from foundry_dr.drill import DrillRecord
from foundry_dr.redact import redact_text
from foundry_dr.state_layout import EVIDENCE_PREFIX

SCHEMA_VERSION = 1
SCHEMA_ID = "urn:foundry-dr:evidence-bundle:1"  # a name, not a location: no network needed to resolve it
SCHEMA_PATH = "docs/schemas/evidence-bundle.schema.json"  # relative to the checkout
KIND = "foundry-dr.evidence-bundle"


# ---- the bundle -----------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = {"extra": "forbid"}


class StepSpan(_Model):
    """One step of the run, as the flow timed it."""

    name: str
    started_at: datetime
    ended_at: datetime
    seconds: float = Field(ge=0)
    ok: bool = Field(description="false when the step raised")


class Approval(_Model):
    """One approval decision (an automatic one names the plan setting or the CLI flag)."""

    decision: str = Field(description="approved, auto, rejected, timed out")
    approver: str
    reason: str = Field(description="reason or change/incident ticket")
    at: datetime | None = Field(default=None, description="when the decision reached the run")
    runbook: str | None = None


class Objective(_Model):
    """An achieved duration against its objective (seconds)."""

    achieved_seconds: float | None = Field(description="null: not measured (the run stopped before)")
    objective_seconds: float
    met: bool | None = Field(description="null: not judged")
    note: str = ""


class RecoveryPoint(_Model):
    """The replication checkpoint the run recovered from."""

    point: datetime | None = Field(description="writes to the source after it may be missing from the replica")
    checkpoint_completed_at: datetime | None = None
    checkpoint_flow_run_id: str | None = None
    direction: str | None = None
    age_seconds: float | None = Field(default=None, description="age of the point when the run used it")
    unprotected: int = Field(default=0, description="items the checkpoint could not protect")


class Verified(_Model):
    """A kind of item the run verified, and how many (``passed`` of ``count``)."""

    item: str
    count: int = Field(ge=0)
    passed: int | None = Field(default=None, ge=0)
    detail: str = ""


class CleanedUp(_Model):
    resource: str
    result: str


class EvidenceBundle(_Model):
    """The evidence of one drill, cut-over or fail-back."""

    kind: Literal["foundry-dr.evidence-bundle"] = KIND
    schema_version: Literal[1] = SCHEMA_VERSION
    plan: str
    plan_digest: str = Field(description="Plan.digest of the plan the run used")
    runbook: Literal["dr-drill", "cut-over", "fail-back"]
    flow_run_id: str
    mode: str = Field(default="", description="drill: fenced/isolated; cut-over: planned/unplanned")
    started_at: datetime
    ended_at: datetime
    passed: bool
    result: Literal["passed", "failed", "rejected"]
    checks: dict[str, bool] = Field(default_factory=dict, description="check -> passed")
    steps: list[StepSpan] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    recovery_point: RecoveryPoint | None = None
    rto: Objective
    rpo: Objective
    verified: list[Verified] = Field(default_factory=list)
    primary_calls: list[str] | None = Field(
        default=None, description="calls to the primary refused by the fence (null: not fenced)"
    )
    cleaned_up: list[CleanedUp] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    generated_at: datetime

    def blob_stem(self) -> str:
        """``evidence/<plan>/<runbook>/<started>-<run id>`` (+ ``.json`` / ``.html``)."""
        stamp = self.started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{bundle_prefix(self.plan, self.runbook)}/{stamp}-{_safe(self.flow_run_id)}"


def bundle_prefix(plan_name: str, runbook: str | None = None) -> str:
    return f"{EVIDENCE_PREFIX}/{plan_name}" + (f"/{runbook}" if runbook else "")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80] or "run"


def bundle_json_schema() -> dict[str, Any]:
    """The published schema (``docs/schemas/evidence-bundle.schema.json``)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **EvidenceBundle.model_json_schema(mode="serialization"),
    }


def bundle_json(bundle: EvidenceBundle) -> str:
    return bundle.model_dump_json(indent=1)


def redacted(bundle: EvidenceBundle) -> EvidenceBundle:
    """The bundle with every text passed through the redactor (no SAS, key or token survives)."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return redact_text(node)
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, dict):
            return {redact_text(k): walk(v) for k, v in node.items()}
        return node

    return EvidenceBundle.model_validate(walk(bundle.model_dump(mode="json")))


# ---- building bundles from a runbook's outcome ----------------------------------------------
def steps_from(spans: Iterable[Mapping[str, Any]]) -> list[StepSpan]:
    return [StepSpan.model_validate(dict(s)) for s in spans]


def approval_from(decision: Mapping[str, Any] | None, *, at: datetime | None, runbook: str) -> list[Approval]:
    """The approvals of one gate's decision (``flows.common.approval_gate``): one per approver."""
    if not decision:
        return []
    verdict = str(decision.get("decision", "approved"))
    single = {"approver": decision.get("approver", ""), "reason": decision.get("reason", "")}
    people = decision.get("approvers") or [single]
    return [
        Approval(decision=verdict, approver=str(p.get("approver", "")), reason=str(p.get("reason", "")), at=at,
                 runbook=runbook)
        for p in people
    ]  # fmt: skip


def objective(achieved: float | None, objective_seconds: float, note: str = "") -> Objective:
    met = None if achieved is None else achieved <= objective_seconds
    return Objective(achieved_seconds=achieved, objective_seconds=objective_seconds, met=met, note=note)


def recovery_point_from(checkpoint: Any, *, used_at: datetime | None = None) -> RecoveryPoint | None:
    """From a :class:`foundry_dr.checkpoint.Checkpoint` (None: no checkpoint)."""
    if checkpoint is None:
        return None
    used_at = used_at or datetime.now(UTC)
    return RecoveryPoint(
        point=checkpoint.point, checkpoint_completed_at=checkpoint.completed_at,
        checkpoint_flow_run_id=checkpoint.flow_run_id, direction=checkpoint.direction,
        age_seconds=round(checkpoint.age_seconds(used_at), 1), unprotected=checkpoint.unprotected_total,
    )  # fmt: skip


def verified_from_checkpoint(checkpoint: Any) -> list[Verified]:
    """What the recovery point's replication run did, per kind (its ``counts``): the ``verified``
    counter where the kind has one (blobs: MD5-checked), else the items counted (bytes aside)."""
    if checkpoint is None:
        return []
    out = []
    for kind, counters in sorted((checkpoint.counts or {}).items()):
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counters.items()))
        if "verified" in counters:
            item, count = f"{kind} verified (recovery point run)", int(counters["verified"])
        else:
            item, count = f"{kind} (recovery point run)", sum(int(v) for k, v in counters.items() if "bytes" not in k)
        out.append(Verified(item=item, count=count, detail=detail))
    return out


def verified_smoke(smoke: Sequence[Mapping[str, Any]], label: str = "smoke-tested endpoints") -> list[Verified]:
    if not smoke:
        return []
    passed = sum(1 for s in smoke if s.get("ok"))
    failing = [str(s.get("endpoint")) for s in smoke if not s.get("ok")]
    return [Verified(item=label, count=len(smoke), passed=passed,
                     detail=("failed: " + ", ".join(failing)) if failing else "all answered")]  # fmt: skip


def _cleaned(entries: Iterable[Mapping[str, Any]]) -> list[CleanedUp]:
    return [CleanedUp(resource=str(e.get("resource", "")), result=str(e.get("result", ""))) for e in entries]


def _result(passed: bool, rejected: bool = False) -> Literal["passed", "failed", "rejected"]:
    return "rejected" if rejected else ("passed" if passed else "failed")


def bundle_from_drill(
    *,
    plan_name: str,
    plan_digest: str,
    flow_run_id: str,
    started_at: datetime,
    outcome: Mapping[str, Any],
    rto_objective_seconds: float,
    rpo_objective_seconds: float,
    checkpoint: Any = None,
    steps: Iterable[Mapping[str, Any]] = (),
    approvals: Sequence[Approval] = (),
    ended_at: datetime | None = None,
) -> EvidenceBundle:
    """A dr-drill's bundle from its ``outcome`` (flows/dr_drill.py, after the verdict)."""
    verdict = outcome.get("verdict") or {"checks": {}, "passed": False}
    mode = ", ".join(
        m for m, on in (("fenced", outcome.get("fenced")), ("isolated", outcome.get("isolated")),
                        ("dry run", outcome.get("dry_run"))) if on
    ) or "in place"  # fmt: skip
    verified = verified_smoke(outcome.get("smoke") or [])
    if outcome.get("drill_target"):
        verified.append(Verified(item="drill target resources created", count=len(outcome["drill_target"])))
    if "pointer_untouched" in outcome:
        ok = bool(outcome["pointer_untouched"])
        verified.append(Verified(item="production pointer unchanged", count=1, passed=int(ok)))
    verified += verified_from_checkpoint(checkpoint)
    cleaned = _cleaned(outcome.get("cleaned") or [])
    if outcome.get("cleanup"):
        standby = "secondary deployments (back to standby size)"
        cleaned.append(CleanedUp(resource=standby, result=str(outcome["cleanup"])))
    return EvidenceBundle(
        plan=plan_name, plan_digest=plan_digest, runbook="dr-drill", flow_run_id=flow_run_id, mode=mode,
        started_at=started_at, ended_at=ended_at or datetime.now(UTC), passed=bool(verdict.get("passed")),
        result=_result(bool(verdict.get("passed"))), checks=dict(verdict.get("checks") or {}),
        steps=steps_from(steps), approvals=list(approvals),
        recovery_point=recovery_point_from(checkpoint, used_at=started_at + timedelta(
            seconds=outcome.get("rto_seconds") or 0)) if checkpoint else None,
        rto=objective(outcome.get("rto_seconds"), rto_objective_seconds, "drill start -> secondary serving"),
        rpo=objective(outcome.get("rpo_seconds"), rpo_objective_seconds, "recovery point age when serving"),
        verified=verified,
        primary_calls=list(outcome["primary_calls"]) if outcome.get("primary_calls") is not None else None,
        cleaned_up=cleaned, errors=[str(e) for e in outcome.get("errors") or []], generated_at=datetime.now(UTC),
    )  # fmt: skip


def bundle_from_run(
    *,
    runbook: Literal["cut-over", "fail-back"],
    plan_name: str,
    plan_digest: str,
    flow_run_id: str,
    started_at: datetime,
    rto_objective_seconds: float,
    rpo_objective_seconds: float,
    result: Mapping[str, Any] | None = None,
    steps: Iterable[Mapping[str, Any]] = (),
    approvals: Sequence[Approval] = (),
    checkpoint: Any = None,
    error: str | None = None,
    rejected: bool = False,
    ended_at: datetime | None = None,
) -> EvidenceBundle:
    """A cut-over's or fail-back's bundle: from its ``result`` when it completed, else from what
    it did until ``error`` (or the rejection) stopped it."""
    result = result or {}
    ended_at = ended_at or datetime.now(UTC)
    errors = [error] if error else []
    seconds = result.get("rto_seconds", result.get("seconds"))
    rpo = result.get("rpo") or {}
    if runbook == "cut-over":
        rto = objective(seconds, rto_objective_seconds, "run start -> secondary serving and pointer flipped")
        planned = result.get("mode") == "planned"
        rpo_seconds = 0.0 if planned else rpo.get("rpo_seconds")
        rpo_obj = objective(rpo_seconds, rpo_objective_seconds,
                            "none: final replication before the flip" if planned else "checkpoint age at cut-over")
    else:
        rto = objective(seconds, rto_objective_seconds, "run start -> primary serving again")
        rpo_obj = Objective(achieved_seconds=None, objective_seconds=rpo_objective_seconds, met=None,
                            note="not applicable: fail-back keeps both versions of a conflict, nothing is dropped")
    verified: list[Verified] = []
    verified += verified_smoke(result.get("smoke") or result.get("primary_smoke") or [])
    jobs = result.get("jobs") or []
    if jobs:
        ok = sum(1 for j in jobs if j.get("result") in ("resubmitted", "already resubmitted", "cancelled"))
        verified.append(Verified(item="interrupted jobs handled", count=len(jobs), passed=ok))
    reverse = result.get("reverse_replication") or {}
    if reverse.get("summary"):
        verified.append(Verified(item="reverse replication", count=len(reverse.get("conflict_copies") or []),
                                 detail=f"{reverse['summary']}; conflict copies counted"))  # fmt: skip
    if result.get("pointer_written"):
        verified.append(Verified(item="pointer stores written", count=len(_written(result["pointer_written"]))))
    verified += verified_from_checkpoint(checkpoint)
    checks: dict[str, bool] = {"completed": bool(result) and not error and not rejected}
    if rto.met is not None:
        checks["rto"] = rto.met
    if rpo_obj.met is not None:
        checks["rpo"] = rpo_obj.met
    smoke = result.get("smoke") or result.get("primary_smoke") or []
    if smoke:
        checks["smoke"] = all(bool(s.get("ok")) for s in smoke)
    # A completed cut-over/fail-back passed when it did its job; a missed objective is reported,
    # not a failure of the run (the business is served again either way).
    passed = checks["completed"] and checks.get("smoke", True)
    mode = str(result.get("mode") or "")
    return EvidenceBundle(
        plan=plan_name, plan_digest=plan_digest, runbook=runbook, flow_run_id=flow_run_id, mode=mode,
        started_at=started_at, ended_at=ended_at, passed=passed, result=_result(passed, rejected), checks=checks,
        steps=steps_from(steps), approvals=list(approvals),
        recovery_point=recovery_point_from(checkpoint, used_at=ended_at) if checkpoint else _point_only(result),
        rto=rto, rpo=rpo_obj, verified=verified, cleaned_up=[], errors=errors, generated_at=datetime.now(UTC),
    )  # fmt: skip


def _written(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [k for k, v in value.items() if v]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _point_only(result: Mapping[str, Any]) -> RecoveryPoint | None:
    point = result.get("recovery_point")
    if not point:
        return None
    return RecoveryPoint(point=datetime.fromisoformat(point) if isinstance(point, str) else point)


# ---- plots ----------------------------------------------------------------------------------
def _figure(width: float = 7.5, height: float = 3.2):  # noqa: ANN202 - a matplotlib Figure
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in task threads

    return Figure(figsize=(width, height), dpi=90, layout="constrained")


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_drill_trend(drills: Sequence[DrillRecord], rto_objective_seconds: float,
                     rpo_objective_seconds: float) -> bytes | None:
    """RTO and RPO (minutes) of each drill over time, against the objectives (dashed); failed
    drills in red. None when no drill measured either."""
    real = sorted((d for d in drills if not d.dry_run), key=lambda d: d.started_at)
    if not any(d.rto_seconds is not None or d.rpo_seconds is not None for d in real):
        return None
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig = _figure(7.5, 4.6)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, attr, target, label in ((axes[0], "rto_seconds", rto_objective_seconds, "RTO"),
                                    (axes[1], "rpo_seconds", rpo_objective_seconds, "RPO")):  # fmt: skip
        points = [(d.started_at, getattr(d, attr) / 60, d.passed) for d in real if getattr(d, attr) is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#4a6fa5", linewidth=1, zorder=1)
        for ok in (True, False):
            sel = [p for p in points if p[2] == ok]
            if sel:
                ax.scatter([p[0] for p in sel], [p[1] for p in sel], zorder=2, s=28,
                           color="#2e7d32" if ok else "#c62828", label="drill passed" if ok else "drill failed")
        ax.axhline(target / 60, color="#555", linestyle="--", linewidth=1, label=f"{label} objective")
        ax.set_ylabel(f"{label} (min)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    locator = AutoDateLocator()
    axes[1].xaxis.set_major_locator(locator)
    axes[1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes[0].set_title("RTO and RPO per drill, against the objectives", fontsize=10)
    return _png(fig)


def checkpoint_age_series(checkpoints: Iterable[tuple[datetime, datetime]], now: datetime,
                          since: datetime | None = None) -> list[tuple[datetime, float]]:
    """The RPO over time from ``(completed_at, recovery point)`` pairs: between two checkpoints the
    age grows with the clock; when one completes it drops to that run's own age. A sawtooth of
    (time, seconds), ending at ``now``."""
    ordered = sorted(checkpoints)
    series: list[tuple[datetime, float]] = []
    current: datetime | None = None
    for completed, point in ordered:
        if current is not None:
            series.append((completed, (completed - current).total_seconds()))
        current = point if current is None else max(current, point)
        series.append((completed, max(0.0, (completed - current).total_seconds())))
    if current is not None:
        series.append((now, max(0.0, (now - current).total_seconds())))
    if since is not None:
        series = [(t, a) for t, a in series if t >= since]
    return series


def plot_checkpoint_age(series: Sequence[tuple[datetime, float]], rpo_objective_seconds: float) -> bytes | None:
    """The checkpoint age (the RPO if the primary went now) over time against the objective."""
    if len(series) < 2:
        return None
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    fig = _figure()
    ax = fig.subplots()
    ax.plot([t for t, _ in series], [a / 60 for _, a in series], color="#4a6fa5", linewidth=0.8,
            label="checkpoint age")  # fmt: skip
    ax.axhline(rpo_objective_seconds / 60, color="#c62828", linestyle="--", linewidth=1, label="RPO objective")
    ax.set_ylabel("minutes")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_title("RPO now (age of the last recovery point)", fontsize=10)
    return _png(fig)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---- drill table ----------------------------------------------------------------------------
def drills_since(drills: Iterable[DrillRecord], since: datetime) -> list[DrillRecord]:
    return sorted((d for d in drills if d.started_at >= since), key=lambda d: d.started_at, reverse=True)


def _minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f}"


def drill_rows(drills: Iterable[DrillRecord], rto_objective_seconds: float,
               rpo_objective_seconds: float) -> list[dict[str, str]]:
    """One row per drill (newest first) in words: the drill table of the CLI, the HTML and the artifact."""
    rows = []
    for d in drills:
        mode = ", ".join(m for m, on in (("fenced", d.fenced), ("dry run", d.dry_run)) if on) or "in place"
        rows.append({
            "started (UTC)": d.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            "mode": mode,
            "RTO min": _minutes(d.rto_seconds)
            + ("" if d.rto_seconds is None else (" ok" if d.rto_seconds <= rto_objective_seconds else " MISSED")),
            "RPO min": _minutes(d.rpo_seconds)
            + ("" if d.rpo_seconds is None else (" ok" if d.rpo_seconds <= rpo_objective_seconds else " MISSED")),
            "primary calls": "" if d.primary_calls is None else str(d.primary_calls),
            "result": "pass" if d.passed else "FAIL",
            "plan digest": (d.plan_digest or "")[:19],
            "flow run": d.flow_run_id or "",
        })  # fmt: skip
    return rows


def text_table(rows: Sequence[Mapping[str, str]]) -> str:
    """Rows as an aligned plain-text table (the CLI)."""
    if not rows:
        return ""
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(width[c]) for c in cols).rstrip(), "  ".join("-" * width[c] for c in cols)]
    lines += ["  ".join(str(r.get(c, "")).ljust(width[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping[str, str]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    esc = [[str(r.get(c, "")).replace("|", "\\|") for c in cols] for r in rows]
    head = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join([*head, *("| " + " | ".join(e) + " |" for e in esc)])


def plots_markdown(plots: Mapping[str, bytes]) -> str:
    """The plots as markdown images with data: URIs (Prefect's image artifact needs a URL)."""
    return "\n\n".join(f"![{title}]({data_uri(png)})" for title, png in plots.items())


# ---- HTML -----------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1b1f23;margin:2em auto;max-width:1000px;
padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa}code,.mono{font-family:SFMono-Regular,Consolas,monospace;font-size:12px;
word-break:break-all}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.verdict{display:inline-block;padding:.2em .7em;border-radius:4px;color:#fff;font-weight:700}
.verdict.pass{background:#1a7f37;color:#fff}.verdict.fail{background:#cf222e;color:#fff}
.meta td:first-child{width:14em;color:#57606a}img{max-width:100%;border:1px solid #eee}.muted{color:#57606a}
footer{margin-top:2em;color:#57606a;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _ts(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ok(value: bool | None) -> str:
    if value is None:
        return '<span class="muted">n/a</span>'
    return '<span class="pass">pass</span>' if value else '<span class="fail">FAIL</span>'


def _table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]], raw: Sequence[int] = ()) -> str:
    """An HTML table (``headers`` None: none); every cell escaped except the columns in ``raw`` (HTML)."""
    head = "" if headers is None else "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>"
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw else _e(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no network: nothing outside this file may load, even if some text were not escaped
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}"
        f"<footer>Generated by foundry-dr. Self-contained: opens offline; the JSON bundle beside it is the "
        f"machine-checkable record (schema <code>{_e(SCHEMA_ID)}</code>, {_e(SCHEMA_PATH)}).</footer></body></html>\n"
    )


def _img(title: str, png: bytes | None) -> str:
    if not png:
        return ""
    return f'<figure><img alt="{_e(title)}" src="{data_uri(png)}"></figure>'


def render_html(bundle: EvidenceBundle, plots: Mapping[str, bytes] | None = None) -> str:
    """The auditor's report of one bundle: self-contained, every text escaped."""
    b = bundle
    verdict = "PASSED" if b.passed else ("REJECTED" if b.result == "rejected" else "FAILED")
    cls = "pass" if b.passed else "fail"
    meta = _table(None, [
        ("plan", b.plan), ("plan digest", b.plan_digest), ("runbook", b.runbook), ("mode", b.mode or "-"),
        ("flow run", b.flow_run_id), ("started", _ts(b.started_at)), ("ended", _ts(b.ended_at)),
        ("calls to the primary", "not fenced" if b.primary_calls is None else str(len(b.primary_calls))),
    ]).replace("<table>", '<table class="meta">', 1)  # fmt: skip
    parts = [
        f"<h1>{_e(b.runbook)} of plan <code>{_e(b.plan)}</code> "
        f'<span class="verdict {cls}">{_e(verdict)}</span></h1>',
        meta,
        "<h2>Objectives</h2>",
        _table(("objective", "achieved", "objective", "result", "measured as"), [
            (name, "n/a" if o.achieved_seconds is None else f"{o.achieved_seconds:.1f} s",
             f"{o.objective_seconds:.0f} s", _ok(o.met), o.note) for name, o in (("RTO", b.rto), ("RPO", b.rpo))
        ], raw=(3,)),  # fmt: skip
    ]
    if b.checks:
        parts += ["<h2>Checks</h2>", _table(("check", "result"), [(k, _ok(v)) for k, v in b.checks.items()], raw=(1,))]
    if b.recovery_point:
        rp = b.recovery_point
        parts += ["<h2>Recovery point used</h2>", _table(("point", "checkpoint completed", "checkpoint run",
                  "direction", "age when used", "unprotected items"), [(
                      _ts(rp.point), _ts(rp.checkpoint_completed_at), rp.checkpoint_flow_run_id or "",
                      rp.direction or "", "" if rp.age_seconds is None else f"{rp.age_seconds:.1f} s",
                      str(rp.unprotected))])]  # fmt: skip
    parts += ["<h2>Steps</h2>", _table(("step", "started", "ended", "seconds", "result"), [
        (s.name, _ts(s.started_at), _ts(s.ended_at), f"{s.seconds:.1f}", _ok(s.ok)) for s in b.steps
    ], raw=(4,)) if b.steps else '<p class="muted">no step recorded</p>']  # fmt: skip
    parts += ["<h2>Approvals</h2>", _table(("decision", "who", "when", "reason / ticket", "runbook"), [
        (a.decision, a.approver, _ts(a.at), a.reason, a.runbook or "") for a in b.approvals
    ]) if b.approvals else '<p class="muted">no approval gate in this run</p>']  # fmt: skip
    if b.verified:
        parts += ["<h2>Verified</h2>", _table(("item", "count", "passed", "detail"), [
            (v.item, str(v.count), "" if v.passed is None else str(v.passed), v.detail) for v in b.verified])]
    if b.primary_calls is not None:
        parts += ["<h2>Calls to the primary (fenced)</h2>",
                  "<p>0 calls to the primary.</p>" if not b.primary_calls
                  else "<ul>" + "".join(f"<li><code>{_e(c)}</code></li>" for c in b.primary_calls) + "</ul>"]
    if b.cleaned_up:
        parts += ["<h2>Cleaned up</h2>", _table(("resource", "result"), [(c.resource, c.result) for c in b.cleaned_up])]
    if b.errors:
        parts += ["<h2>Errors</h2>", "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in b.errors) + "</ul>"]
    if plots:
        parts += ["<h2>Trends</h2>", *(_img(title, png) for title, png in plots.items())]
    parts.append(f'<p class="muted">Generated {_e(_ts(b.generated_at))}.</p>')
    return _page(f"{b.runbook} {b.plan} {verdict}", "\n".join(parts))


def render_drills_html(plan_name: str, drills: Sequence[DrillRecord], *, since: datetime,
                       rto_objective_seconds: float, rpo_objective_seconds: float,
                       plots: Mapping[str, bytes] | None = None, now: datetime | None = None) -> str:
    """The drill table of a period (``foundry-dr report drills --html``), with the trend plots."""
    now = now or datetime.now(UTC)
    rows = drill_rows(drills, rto_objective_seconds, rpo_objective_seconds)
    real = [d for d in drills if not d.dry_run]
    passed = sum(1 for d in real if d.passed)
    parts = [
        f"<h1>DR drills of plan <code>{_e(plan_name)}</code></h1>",
        f"<p>{_e(_ts(since))} to {_e(_ts(now))}: {len(real)} drill(s), {passed} passed. Objectives: RTO "
        f"{rto_objective_seconds / 60:.0f} min, RPO {rpo_objective_seconds / 60:.0f} min.</p>",
        _table(list(rows[0]), [list(r.values()) for r in rows]) if rows
        else '<p class="muted">no drill in the period</p>',
    ]
    if plots:
        parts += ["<h2>Trends</h2>", *(_img(title, png) for title, png in plots.items())]
    return _page(f"DR drills {plan_name}", "\n".join(parts))


def main() -> None:  # `python -m foundry_dr.evidence > docs/schemas/evidence-bundle.schema.json`
    print(json.dumps(bundle_json_schema(), indent=2))


if __name__ == "__main__":
    main()
