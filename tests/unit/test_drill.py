"""A DR drill's verdict against the plan's objectives, and its report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from foundry_dr.drill import DrillRecord, evaluate_objectives, render_drill_report

OK_SMOKE = [{"endpoint": "chat", "ok": True, "status": 200, "latency_ms": 41}]


def verdict(rto: float | None = 600, rpo: float | None = 300, *, rto_minutes: float = 60, rpo_minutes: float = 15,
            smoke: list[dict] | None = None, errors: list[str] | None = None,
            untouched: bool = True) -> dict[str, Any]:  # fmt: skip
    return evaluate_objectives(rto, rpo, rto_minutes, rpo_minutes, smoke=OK_SMOKE if smoke is None else smoke,
                               errors=errors or [], pointer_untouched=untouched)  # fmt: skip


def test_a_drill_within_every_objective_passes() -> None:
    assert verdict() == {
        "checks": {"rto": True, "rpo": True, "smoke": True, "no errors": True, "production pointer untouched": True},
        "passed": True,
    }


@pytest.mark.parametrize(
    ("kwargs", "failed"),
    [
        ({"rto": 3601}, "rto"),
        ({"rto": None}, "rto"),
        ({"rpo": 901}, "rpo"),
        ({"rpo": None}, "rpo"),
        ({"smoke": []}, "smoke"),
        ({"smoke": [*OK_SMOKE, {"endpoint": "vision", "ok": False}]}, "smoke"),
        ({"smoke": [{"endpoint": "vision"}]}, "smoke"),
        ({"errors": ["recreate-deployments: quota"]}, "no errors"),
        ({"untouched": False}, "production pointer untouched"),
    ],
)
def test_any_single_failed_check_fails_the_drill(kwargs: dict[str, Any], failed: str) -> None:
    v = verdict(**kwargs)
    assert v["passed"] is False
    assert [k for k, ok in v["checks"].items() if not ok] == [failed]


def test_objectives_are_inclusive_at_the_limit() -> None:
    assert verdict(rto=3600, rpo=900)["passed"] is True
    assert verdict(rto=3600.1, rpo=900)["checks"]["rto"] is False
    assert verdict(rto=3600, rpo=900.1)["checks"]["rpo"] is False


def test_objectives_are_minutes_and_measurements_seconds() -> None:
    v = verdict(rto=90, rpo=90, rto_minutes=1, rpo_minutes=2)
    assert v["checks"]["rto"] is False  # 90 s > 1 min
    assert v["checks"]["rpo"] is True  # 90 s <= 2 min


def test_a_zero_measurement_is_a_measurement() -> None:
    assert verdict(rto=0, rpo=0)["checks"] == verdict()["checks"]


# ---- report --------------------------------------------------------------------------------------
def outcome(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rto_seconds": 612.34, "rpo_seconds": 287.0, "checkpoint_age_at_start": 120.0,
        "smoke": OK_SMOKE, "errors": [], "steps": {"cut-over": 300.5, "smoke": 2.1},
    }  # fmt: skip
    base.update(overrides)
    base["verdict"] = verdict(base["rto_seconds"], base["rpo_seconds"], smoke=base["smoke"], errors=base["errors"])
    return base


def test_report_of_a_passed_drill() -> None:
    text = render_drill_report("contoso-sandbox", outcome(), [])
    lines = text.splitlines()
    assert lines[0] == "# DR drill of plan `contoso-sandbox`: PASSED"
    assert "| RTO (drill start -> secondary serving) | 612.3 s | pass |" in lines
    assert "| RPO (recovery point age when serving) | 287.0 s | pass |" in lines
    assert "| smoke tests | 1 endpoint(s) | pass |" in lines
    assert "| production pointer untouched | | pass |" in lines
    assert "Recovery point age at drill start: 120.0 s." in lines
    assert "| cut-over | 300.5 |" in lines
    assert "| chat | 200 | 41 |" in lines
    assert "## Errors" not in text
    assert "## Trend" not in text


def test_report_of_a_failed_drill_shows_what_failed_and_the_errors() -> None:
    text = render_drill_report("p", outcome(rto_seconds=None, rpo_seconds=1000.0, errors=["cut-over: timeout"]), [])
    lines = text.splitlines()
    assert lines[0] == "# DR drill of plan `p`: FAILED"
    assert "| RTO (drill start -> secondary serving) | n/a | FAIL |" in lines
    assert "| RPO (recovery point age when serving) | 1000.0 s | FAIL |" in lines
    assert lines[lines.index("## Errors") + 1] == "- cut-over: timeout"


def test_report_without_smoke_tests_fails_the_smoke_row_and_has_no_smoke_section() -> None:
    text = render_drill_report("p", outcome(smoke=[]), [])
    assert "| smoke tests | 0 endpoint(s) | FAIL |" in text.splitlines()
    assert "## Smoke tests" not in text


def test_report_trend_lists_the_history_as_given() -> None:
    history = [
        DrillRecord(started_at=datetime(2026, 11, 27, 12, 0, tzinfo=UTC), rto_seconds=600, rpo_seconds=300,
                    passed=True),
        DrillRecord(started_at=datetime(2026, 11, 20, 12, 0, 7, 500, tzinfo=UTC), dry_run=True, passed=False),
    ]  # fmt: skip
    lines = render_drill_report("p", outcome(), history).splitlines()
    trend = lines[lines.index("## Trend (newest first)") + 3 :]
    assert trend == [
        "| 2026-11-27T12:00:00+00:00 | 600.0 s | 300.0 s | pass |",
        "| 2026-11-20T12:00:07+00:00 | n/a | n/a | FAIL (dry run) |",
    ]


def test_drill_record_defaults_to_not_passed() -> None:
    record = DrillRecord(started_at=datetime(2026, 11, 27, tzinfo=UTC))
    assert (record.passed, record.dry_run, record.rto_seconds, record.rpo_seconds) == (False, False, None, None)
