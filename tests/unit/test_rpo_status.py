"""RPO: the age of the last complete checkpoint's recovery point, judged against the objective."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from foundry_dr.checkpoint import Checkpoint, recovery_point_of, rpo_status

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def checkpoint(
    started: datetime, completed: datetime, recovery_point: datetime | None = None, **extra: object
) -> Checkpoint:
    return Checkpoint(plan="contoso-sandbox", direction="to-secondary", started_at=started, completed_at=completed,
                      source_side="primary", recovery_point=recovery_point, **extra)  # fmt: skip


# ---- recovery_point_of ---------------------------------------------------------------------------
def test_recovery_point_is_the_earliest_listing_start() -> None:
    start = NOW - timedelta(minutes=10)
    listed = [NOW - timedelta(minutes=8), NOW - timedelta(minutes=9), NOW - timedelta(minutes=7)]
    assert recovery_point_of(start, listed) == NOW - timedelta(minutes=9)


def test_shards_that_listed_nothing_are_ignored() -> None:
    start = NOW - timedelta(minutes=10)
    assert recovery_point_of(start, [None, NOW - timedelta(minutes=6), None]) == NOW - timedelta(minutes=6)


def test_a_run_that_listed_nothing_falls_back_to_its_start() -> None:
    start = NOW - timedelta(minutes=10)
    assert recovery_point_of(start, []) == start
    assert recovery_point_of(start, [None, None]) == start


def test_a_listing_before_the_run_start_moves_the_point_earlier() -> None:
    start = NOW - timedelta(minutes=10)
    assert recovery_point_of(start, [NOW - timedelta(minutes=12)]) == NOW - timedelta(minutes=12)


# ---- Checkpoint.point / age ------------------------------------------------------------------------
def test_point_is_the_recovery_point_not_the_completion_time() -> None:
    cp = checkpoint(NOW - timedelta(minutes=30), NOW - timedelta(minutes=2), NOW - timedelta(minutes=25))
    assert cp.point == NOW - timedelta(minutes=25)
    assert cp.age_seconds(NOW) == 25 * 60


def test_older_checkpoints_without_a_recovery_point_use_their_start() -> None:
    cp = checkpoint(NOW - timedelta(minutes=30), NOW - timedelta(minutes=2))
    assert cp.point == NOW - timedelta(minutes=30)
    assert cp.age_seconds(NOW) == 30 * 60


def test_age_is_never_negative() -> None:
    cp = checkpoint(NOW + timedelta(seconds=5), NOW + timedelta(seconds=9))
    assert cp.age_seconds(NOW) == 0.0


# ---- rpo_status ---------------------------------------------------------------------------------
def test_no_checkpoint_means_the_objective_is_not_met() -> None:
    assert rpo_status(None, 15, NOW) == {
        "checkpoint": None, "rpo_seconds": None, "objective_seconds": 900, "met": False, "unprotected": 0,
    }  # fmt: skip


def test_fresh_checkpoint_meets_the_objective() -> None:
    rp = NOW - timedelta(minutes=4, seconds=30)
    status = rpo_status(checkpoint(rp, NOW - timedelta(minutes=1), rp), 15, NOW)
    assert status == {
        "checkpoint": rp.isoformat(), "rpo_seconds": 270.0, "objective_seconds": 900, "met": True, "unprotected": 0,
    }  # fmt: skip


def test_stale_checkpoint_misses_the_objective() -> None:
    rp = NOW - timedelta(minutes=16)
    status = rpo_status(checkpoint(rp, NOW - timedelta(minutes=14), rp), 15, NOW)
    assert status["rpo_seconds"] == 960.0
    assert status["met"] is False


def test_rpo_is_measured_from_the_recovery_point_even_if_the_run_completed_recently() -> None:
    # a run that finished a minute ago but began listing 20 minutes ago protects only writes until then
    cp = checkpoint(NOW - timedelta(minutes=20), NOW - timedelta(minutes=1), NOW - timedelta(minutes=20))
    status = rpo_status(cp, 15, NOW)
    assert status["rpo_seconds"] == 1200.0
    assert status["met"] is False
    assert status["checkpoint"] == (NOW - timedelta(minutes=20)).isoformat()


def test_exactly_at_the_objective_is_met_and_one_second_over_is_not() -> None:
    at = checkpoint(NOW - timedelta(minutes=15), NOW, NOW - timedelta(minutes=15))
    over = checkpoint(NOW - timedelta(minutes=15, seconds=1), NOW, NOW - timedelta(minutes=15, seconds=1))
    assert rpo_status(at, 15, NOW)["met"] is True
    assert rpo_status(over, 15, NOW)["met"] is False


def test_fractional_objective_minutes() -> None:
    cp = checkpoint(NOW - timedelta(seconds=40), NOW, NOW - timedelta(seconds=40))
    assert rpo_status(cp, 0.5, NOW)["objective_seconds"] == 30
    assert rpo_status(cp, 0.5, NOW)["met"] is False
    assert rpo_status(cp, 1, NOW)["met"] is True


def test_rpo_seconds_are_rounded_to_a_tenth() -> None:
    cp = checkpoint(NOW - timedelta(seconds=61, milliseconds=260), NOW)
    assert rpo_status(cp, 15, NOW)["rpo_seconds"] == 61.3


def test_unprotected_items_fail_the_objective_even_when_fresh() -> None:
    cp = checkpoint(NOW - timedelta(minutes=1), NOW, NOW - timedelta(minutes=1),
                    unprotected=["data/a.bin: Archive tier", "data/b.bin: Archive tier"])  # fmt: skip
    status = rpo_status(cp, 15, NOW)
    assert status["unprotected"] == 2
    assert status["met"] is False


def test_unprotected_count_takes_precedence_over_the_listed_sample() -> None:
    cp = checkpoint(NOW - timedelta(minutes=1), NOW, NOW - timedelta(minutes=1),
                    unprotected=["data/a.bin: Archive tier"], unprotected_count=1200)  # fmt: skip
    status = rpo_status(cp, 15, NOW)
    assert status["unprotected"] == 1200
    assert status["met"] is False
