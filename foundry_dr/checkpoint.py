"""The replication checkpoint: what was replicated, when, and the source's inventory.

It is the recovery point: RPO is measured from the time of the last complete checkpoint,
and cut-over reads its inventory snapshot (jobs, endpoints, deployments) when the primary
is unreachable. Pure: building, serialising and judging checkpoints needs no Azure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from foundry_dr.state_layout import CHECKPOINTS_PREFIX


def checkpoint_prefix(plan_name: str) -> str:
    return f"{CHECKPOINTS_PREFIX}/{plan_name}"


class Checkpoint(BaseModel):
    """One complete replication run (written only when every part succeeded)."""

    plan: str
    direction: str
    completed_at: datetime
    started_at: datetime
    flow_run_id: str | None = None
    source_side: str
    counts: dict[str, dict[str, int]] = Field(default_factory=dict, description="kind -> counter -> n")
    assets: dict[str, str] = Field(default_factory=dict, description="workspace/kind/name/version -> digest")
    blob_shards: list[dict[str, Any]] = Field(default_factory=list, description="per-shard totals")
    inventory: dict[str, Any] = Field(default_factory=dict, description="source inventory snapshot")
    recovery_point: datetime | None = Field(
        default=None,
        description="when the earliest blob listing of the run started: every source write after it may be "
        "missing from the replica (older checkpoints lack it; their start time stands in)",
    )
    unprotected: list[str] = Field(
        default_factory=list, description="items left unreplicated (e.g. Archive-tier blobs), each with its reason"
    )
    unprotected_count: int = 0
    conflict_copies: list[str] = Field(default_factory=list, description="fail-back: where losing versions were kept")

    @property
    def point(self) -> datetime:
        """The recovery point: writes after it on the source may not be in the replica."""
        return self.recovery_point or self.started_at

    def blob_name(self) -> str:
        stamp = self.completed_at.strftime("%Y%m%dT%H%M%SZ")
        return f"{checkpoint_prefix(self.plan)}/{stamp}-{self.direction}.json"

    @staticmethod
    def latest_name(plan_name: str, direction: str | None = None) -> str:
        """The newest checkpoint of any direction, or of one (fail-back needs the last one
        towards the secondary: its time is the recovery point both sides diverged from)."""
        suffix = f"-{direction}" if direction else ""
        return f"{checkpoint_prefix(plan_name)}/latest{suffix}.json"

    @property
    def unprotected_total(self) -> int:
        """How many items the run could not protect (the list is capped; the count is not)."""
        return self.unprotected_count or len(self.unprotected)

    def age_seconds(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max(0.0, (now - self.point).total_seconds())


def recovery_point_of(started_at: datetime, listed_at: list[datetime | None]) -> datetime:
    """A run's recovery point: the earliest start of its shards' listings (the run's start when
    it listed nothing). A write after a listing began may have been missed by it."""
    times = [t for t in listed_at if t is not None]
    return min(times) if times else started_at


def rpo_status(checkpoint: Checkpoint | None, rpo_minutes: float, now: datetime | None = None) -> dict[str, Any]:
    """RPO now = age of the last recovery point, judged against the plan's objective. Data the
    run could not protect (``unprotected``) has no recovery point at all: the objective is not met."""
    if checkpoint is None:
        return {"checkpoint": None, "rpo_seconds": None, "objective_seconds": rpo_minutes * 60, "met": False,
                "unprotected": 0}
    age = checkpoint.age_seconds(now)
    unprotected = checkpoint.unprotected_total
    return {
        "checkpoint": checkpoint.point.isoformat(),
        "rpo_seconds": round(age, 1),
        "objective_seconds": rpo_minutes * 60,
        "met": age <= rpo_minutes * 60 and not unprotected,
        "unprotected": unprotected,
    }
