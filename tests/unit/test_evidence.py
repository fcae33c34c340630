"""Evidence bundles (foundry_dr/evidence.py): the published schema, the offline HTML, the plots,
the drill table, and the step spans the flows record (flows/common.py ``timed``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from foundry_dr.checkpoint import Checkpoint
from foundry_dr.drill import DrillRecord
from foundry_dr.evidence import (
    SCHEMA_PATH,
    Approval,
    EvidenceBundle,
    approval_from,
    bundle_from_drill,
    bundle_from_run,
    bundle_json_schema,
    checkpoint_age_series,
    drill_rows,
    drills_since,
    plot_checkpoint_age,
    plot_drill_trend,
    redacted,
    render_drills_html,
    render_html,
    text_table,
)
from foundry_dr.secrets_scan import find_secrets

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<script>alert("x")</script><img src="https://evil.example/x.png">'


def _checkpoint() -> Checkpoint:
    return Checkpoint(
        plan="p", direction="to-secondary", completed_at=T0 - timedelta(minutes=3),
        started_at=T0 - timedelta(minutes=9),
        recovery_point=T0 - timedelta(minutes=10), flow_run_id="rep-1", source_side="primary",
        counts={"blobs": {"copied": 5, "skipped": 95}, "assets": {"created": 2}},
    )  # fmt: skip


def _steps() -> list[dict]:
    return [{"name": "recreate-deployments", "started_at": T0, "ended_at": T0 + timedelta(seconds=42),
             "seconds": 42.0, "ok": True}]  # fmt: skip


def _drill_outcome(**extra: object) -> dict:
    return {
        "fenced": True, "isolated": True, "rto_seconds": 61.5, "rpo_seconds": 700.0,
        "smoke": [{"endpoint": "chat-drill", "ok": True, "status": 200}],
        "drill_target": ["/subscriptions/s/x/onlineEndpoints/chat-drill"],
        "cleaned": [{"resource": "/subscriptions/s/x/onlineEndpoints/chat-drill", "result": "deleted"}],
        "pointer_untouched": True, "primary_calls": [], "errors": [],
        "verdict": {"checks": {"rto": True, "rpo": True, "0 calls to the primary": True}, "passed": True},
        **extra,
    }  # fmt: skip


def drill_bundle(**extra: object) -> EvidenceBundle:
    return bundle_from_drill(
        plan_name="p", plan_digest="sha256:" + "a" * 64, flow_run_id="run-1", started_at=T0,
        outcome=_drill_outcome(**extra), rto_objective_seconds=3600, rpo_objective_seconds=900,
        checkpoint=_checkpoint(), steps=_steps(),
        approvals=[Approval(decision="approved", approver="ana", reason="CHG-42", at=T0, runbook="dr-drill")],
        ended_at=T0 + timedelta(minutes=5),
    )  # fmt: skip


def test_the_published_schema_is_the_models() -> None:
    published = json.loads((REPO / SCHEMA_PATH).read_text())
    assert published == bundle_json_schema(), (
        f"{SCHEMA_PATH} is out of date: regenerate it with `.venv/bin/python -m foundry_dr.evidence > {SCHEMA_PATH}`"
    )


@pytest.mark.parametrize("bundle", [
    drill_bundle(),
    drill_bundle(primary_calls=["GET primary-account.blob /x"], verdict={"checks": {}, "passed": False}),
    bundle_from_run(runbook="cut-over", plan_name="p", plan_digest="sha256:x", flow_run_id="r", started_at=T0,
                    rto_objective_seconds=3600, rpo_objective_seconds=900, steps=_steps(),
                    result={"mode": "unplanned", "rto_seconds": 120.0, "rpo": {"rpo_seconds": 400.0},
                            "smoke": [{"endpoint": "chat", "ok": True}], "recovery_point": T0.isoformat(),
                            "jobs": [{"workspace": "w", "job": "j", "result": "resubmitted"}],
                            "pointer_written": {"secondary": True, "primary": False}},
                    approvals=approval_from({"decision": "approved", "approver": "a, b", "reason": "INC-1; ok",
                                             "approvers": [{"approver": "a", "reason": "INC-1"},
                                                           {"approver": "b", "reason": "ok"}]},
                                            at=T0, runbook="cut-over")),
    bundle_from_run(runbook="fail-back", plan_name="p", plan_digest="sha256:x", flow_run_id="r", started_at=T0,
                    rto_objective_seconds=3600, rpo_objective_seconds=900, error="LockHeld: held by run 7"),
    bundle_from_run(runbook="cut-over", plan_name="p", plan_digest="sha256:x", flow_run_id="r", started_at=T0,
                    rto_objective_seconds=3600, rpo_objective_seconds=900, rejected=True,
                    approvals=[Approval(decision="rejected", approver="bo", reason="not now", at=T0)]),
])  # fmt: skip
def test_a_built_bundle_validates_against_the_published_schema(bundle: EvidenceBundle) -> None:
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(bundle.model_dump_json()), schema)


def test_the_schema_refuses_a_bundle_without_its_digest_or_with_unknown_fields() -> None:
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    data = json.loads(drill_bundle().model_dump_json())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in data.items() if k != "plan_digest"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "surprise": 1}, schema)


def test_a_drill_bundle_holds_what_an_auditor_asks_for() -> None:
    b = drill_bundle()
    assert (b.plan, b.runbook, b.flow_run_id, b.passed, b.result) == ("p", "dr-drill", "run-1", True, "passed")
    assert b.mode == "fenced, isolated"
    assert b.steps[0].name == "recreate-deployments" and b.steps[0].ended_at > b.steps[0].started_at
    assert b.approvals[0].approver == "ana" and b.approvals[0].reason == "CHG-42"
    assert b.recovery_point and b.recovery_point.point == T0 - timedelta(minutes=10)
    assert b.recovery_point.checkpoint_flow_run_id == "rep-1"
    assert (b.rto.achieved_seconds, b.rto.objective_seconds, b.rto.met) == (61.5, 3600, True)
    assert (b.rpo.achieved_seconds, b.rpo.met) == (700.0, True)
    counts = {v.item: (v.count, v.passed) for v in b.verified}
    assert counts["smoke-tested endpoints"] == (1, 1)
    assert counts["blobs (recovery point run)"] == (100, None)
    assert b.primary_calls == []
    assert [c.result for c in b.cleaned_up] == ["deleted"]
    assert b.blob_stem() == "evidence/p/dr-drill/20261102T090000Z-run-1"


def test_an_unfenced_drill_has_no_primary_calls_and_a_missed_rto_is_not_met() -> None:
    b = drill_bundle(rto_seconds=4000.0, primary_calls=None, fenced=False)
    assert b.primary_calls is None and b.rto.met is False and b.mode == "isolated"


def test_two_approvers_are_two_approvals() -> None:
    people = approval_from({"decision": "approved", "approver": "a, b", "reason": "x; y",
                            "approvers": [{"approver": "a", "reason": "x"}, {"approver": "b", "reason": "y"}]},
                           at=T0, runbook="cut-over")  # fmt: skip
    assert [(p.approver, p.reason) for p in people] == [("a", "x"), ("b", "y")]


def test_redaction_removes_secrets_from_every_text() -> None:
    sas = "https://acct.blob.core.windows.net/c/b?sv=2024-01-01&sig=abcdefghijklmnop1234"
    b = redacted(drill_bundle(errors=[f"copy failed: {sas}"]))
    text = b.model_dump_json()
    assert "abcdefghijklmnop1234" not in text and not find_secrets(text)


def test_the_html_report_is_self_contained_and_escaped() -> None:
    b = drill_bundle(errors=[HOSTILE])
    b.approvals[0].reason = HOSTILE
    page = render_html(b, {"RTO and RPO per drill": PNG})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'src="https://evil' not in page
    # every src/href in the page is a data: URI: nothing is fetched when it is opened
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "url(" not in page and "@import" not in page and "<link" not in page
    assert "https://" not in render_html(drill_bundle(), {"t": PNG})  # no address at all, even as text
    assert "default-src 'none'" in page  # and the browser is told so
    for text in ("sha256:" + "a" * 64, "run-1", "ana", "recreate-deployments",
                 "2026-11-02T09:00:00Z", "0 calls to the primary", "deleted"):  # fmt: skip
        assert text in page


def test_plots_are_png_and_absent_without_data() -> None:
    drills = [DrillRecord(started_at=T0 + timedelta(days=7 * i), rto_seconds=300 + 60 * i, rpo_seconds=400,
                          passed=i != 2, fenced=True) for i in range(4)]  # fmt: skip
    png = plot_drill_trend(drills, 3600, 900)
    assert png and png.startswith(PNG) and len(png) > 5000
    assert plot_drill_trend([], 3600, 900) is None
    assert plot_drill_trend([DrillRecord(started_at=T0, dry_run=True, rto_seconds=1)], 3600, 900) is None
    series = checkpoint_age_series([(T0 + timedelta(minutes=15 * i + 3), T0 + timedelta(minutes=15 * i))
                                    for i in range(8)], now=T0 + timedelta(hours=2))  # fmt: skip
    age = plot_checkpoint_age(series, 900)
    assert age and age.startswith(PNG)
    assert plot_checkpoint_age([], 900) is None


def test_the_checkpoint_age_is_a_sawtooth() -> None:
    cps = [(T0 + timedelta(minutes=5), T0), (T0 + timedelta(minutes=20), T0 + timedelta(minutes=15))]
    series = checkpoint_age_series(cps, now=T0 + timedelta(minutes=30))
    assert [(t - T0).total_seconds() / 60 for t, _ in series] == [5, 20, 20, 30]
    assert [a / 60 for _, a in series] == [5, 20, 5, 15]


def test_the_drill_table_and_its_html() -> None:
    drills = [DrillRecord(started_at=T0, rto_seconds=120, rpo_seconds=1000, passed=False, fenced=True,
                          primary_calls=0, flow_run_id="r1", plan_digest="sha256:" + "b" * 64),
              DrillRecord(started_at=T0 - timedelta(days=200), rto_seconds=60, rpo_seconds=60, passed=True)]
    recent = drills_since(drills, T0 - timedelta(days=90))
    assert [d.flow_run_id for d in recent] == ["r1"]
    rows = drill_rows(recent, 3600, 900)
    assert rows[0]["RPO min"] == "16.7 MISSED" and rows[0]["RTO min"] == "2.0 ok" and rows[0]["result"] == "FAIL"
    table = text_table(rows)
    assert "started (UTC)" in table.splitlines()[0] and "2026-11-02 09:00" in table
    page = render_drills_html("p<x>", recent, since=T0 - timedelta(days=90), rto_objective_seconds=3600,
                              rpo_objective_seconds=900, plots={"t": PNG}, now=T0)  # fmt: skip
    assert "p&lt;x&gt;" in page and "1 drill(s), 0 passed" in page and "data:image/png;base64," in page


def test_timed_steps_keep_their_start_and_end() -> None:
    from foundry_dr.flows.common import Timeline, timed

    timeline = Timeline()
    with timed(timeline, "a"):
        pass
    with pytest.raises(RuntimeError), timed(timeline, "b"):
        raise RuntimeError("boom")
    assert set(timeline) == {"a", "b"} and isinstance(timeline["a"], float)  # the durations, as before
    assert [(s["name"], s["ok"]) for s in timeline.spans] == [("a", True), ("b", False)]
    assert all(s["ended_at"] >= s["started_at"] for s in timeline.spans)
    plain: dict[str, float] = {}
    with timed(plain, "c"):
        pass
    assert list(plain) == ["c"]


def test_report_drills_refuses_a_bad_period_naming_the_option(sandbox_plan_path: Path) -> None:
    from typer.testing import CliRunner

    from foundry_dr.cli import app
    from foundry_dr.cli_report import parse_period

    result = CliRunner().invoke(app, ["report", "drills", "--plan", str(sandbox_plan_path), "--since", "abc"])
    assert result.exit_code == 2 and "--since" in result.output
    assert parse_period("90d") == timedelta(days=90) and parse_period("12w") == timedelta(weeks=12)
    with pytest.raises(ValueError):
        parse_period("0d")


def test_report_drills_prints_the_period_and_writes_the_html(
    sandbox_plan_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import foundry_dr.flows.evidence as flow_evidence
    import foundry_dr.stores.drill as drill_store
    from foundry_dr.cli import app

    now = datetime.now(UTC)
    drills = [DrillRecord(started_at=now - timedelta(days=d), rto_seconds=300, rpo_seconds=200, passed=True,
                          fenced=True, primary_calls=0, flow_run_id=f"r{d}") for d in (1, 30, 120)]  # fmt: skip
    monkeypatch.setattr(drill_store, "read_drills", lambda factory: drills)
    monkeypatch.setattr(flow_evidence, "evidence_plots", lambda factory, drills=None: {"t": PNG})
    out = tmp_path / "drills.html"
    result = CliRunner().invoke(app, ["report", "drills", "--plan", str(sandbox_plan_path), "--since", "90d",
                                      "--html", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 drill(s), 2 passed" in result.output and "r30" in result.output and "r120" not in result.output
    assert "data:image/png;base64," in out.read_text()
