"""The replication checkpoint: what was replicated, when, and the source's inventory.

It is the recovery point: RPO is measured from the time of the last complete checkpoint,
and cut-over reads its inventory snapshot (jobs, endpoints, deployments) when the primary
is unreachable. Pure: building, serialising and judging checkpoints needs no Azure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

CHECKPOINT_CONTAINER = "foundry-dr"


def checkpoint_prefix(plan_name: str) -> str:
    return f"checkpoints/{plan_name}"


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

    def blob_name(self) -> str:
        stamp = self.completed_at.strftime("%Y%m%dT%H%M%SZ")
        return f"{checkpoint_prefix(self.plan)}/{stamp}-{self.direction}.json"

    @staticmethod
    def latest_name(plan_name: str, direction: str | None = None) -> str:
        """The newest checkpoint of any direction, or of one (fail-back needs the last one
        towards the secondary: its time is the recovery point both sides diverged from)."""
        suffix = f"-{direction}" if direction else ""
        return f"{checkpoint_prefix(plan_name)}/latest{suffix}.json"

    def age_seconds(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max(0.0, (now - self.completed_at).total_seconds())


def rpo_status(checkpoint: Checkpoint | None, rpo_minutes: float, now: datetime | None = None) -> dict[str, Any]:
    """RPO now = age of the last complete checkpoint, judged against the plan's objective."""
    if checkpoint is None:
        return {"checkpoint": None, "rpo_seconds": None, "objective_seconds": rpo_minutes * 60, "met": False}
    age = checkpoint.age_seconds(now)
    return {
        "checkpoint": checkpoint.completed_at.isoformat(),
        "rpo_seconds": round(age, 1),
        "objective_seconds": rpo_minutes * 60,
        "met": age <= rpo_minutes * 60,
    }
