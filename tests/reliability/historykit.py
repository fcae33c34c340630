"""A two-region blob world for data-safety histories: writes on either side, forward replication,
cut-over, fail-back, all through the product's engine (``run_shard``) and its fail-back rules,
over the real SDK against the sandbox's Azurite (behind the fault proxy)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import BlobServiceClient

from foundry_dr.blob_sync import Shard, failback_thresholds
from foundry_dr.checkpoint import recovery_point_of
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr.replication.engine import run_shard
from foundry_dr.replication.job import ShardFailed, ShardJob, ShardResult
from foundry_dr.state_layout import STATE_CONTAINER

ACCOUNTS = {"primary": "stfdreastus", "secondary": "stfdrwestus"}
MARGIN = 1.0  # the sandbox plan's failback.clock_margin_seconds: one clock on one machine


@dataclass
class World:
    env: dict
    plan: Plan
    container: str = field(default_factory=lambda: f"h{uuid.uuid4().hex[:10]}")
    recovery_point: datetime | None = None
    replicated_until: datetime | None = None
    flipped_at: datetime | None = None

    def __post_init__(self) -> None:
        self.factory = ClientFactory(self.plan, sandbox_env=self.env)
        for side in ACCOUNTS:
            self.service(side).create_container(self.container)

    def service(self, side: str) -> BlobServiceClient:
        account = ACCOUNTS[side]
        a = self.env["storage_accounts"][account]
        return BlobServiceClient(a["blob_endpoint"], credential={"account_name": account, "account_key": a["key"]})

    def cc(self, side: str) -> Any:
        return self.service(side).get_container_client(self.container)

    # -- writes -----------------------------------------------------------------------------
    def put(self, side: str, name: str, data: bytes, kind: str = "block") -> None:
        blob = self.cc(side).get_blob_client(name)
        if kind == "append":
            blob.create_append_blob()
            blob.append_block(data)
        else:
            blob.upload_blob(data, overwrite=True)

    def delete(self, side: str, name: str) -> None:
        self.cc(side).get_blob_client(name).delete_blob()

    def live(self, side: str) -> dict[str, bytes]:
        cc = self.cc(side)
        return {b.name: cc.download_blob(b.name).readall() for b in cc.list_blobs()}

    def conflict_copies(self, side: str = "primary") -> dict[str, bytes]:
        cc = self.service(side).get_container_client(STATE_CONTAINER)
        if not cc.exists():
            return {}
        prefix = f"conflicts/{self.container}/"
        return {b.name: cc.download_blob(b.name).readall() for b in cc.list_blobs(name_starts_with=prefix)}

    def kinds(self, side: str) -> dict[str, str]:
        return {b.name: str(getattr(b.blob_type, "value", b.blob_type)) for b in self.cc(side).list_blobs()}

    # -- runbook steps ----------------------------------------------------------------------
    def job(self, direction: str, **kw: Any) -> ShardJob:
        src, dst = ("primary", "secondary") if direction == "to-secondary" else ("secondary", "primary")
        return ShardJob(ACCOUNTS[src], ACCOUNTS[dst], self.container, Shard(), dest_side=dst,
                        conflict_policy=kw.pop("policy", "keep-both"), clock_margin_seconds=MARGIN, **kw)

    def forward(self, **kw: Any) -> ShardResult:
        """A complete forward run records the recovery point, as replicate-artifacts does."""
        started = datetime.now(UTC)
        result = run_shard(self.factory, self.job("to-secondary", **kw))
        self.recovery_point = recovery_point_of(started, [result.listed_at])
        self.replicated_until = datetime.now(UTC)
        return result

    def forward_crashing(self, control: Any, sandbox: Any, n: int) -> None:
        """A forward run that dies at its n-th storage request (no recovery point recorded)."""
        control(sandbox, "POST", "/faults", {"fail_nth": {"n": n, "status": 500, "service": "storage",
                                                          "path_contains": self.container}})
        try:
            run_shard(self.factory, self.job("to-secondary", transfer="server-side"))
        except ShardFailed:
            pass
        finally:
            control(sandbox, "POST", "/heal")

    def cut_over(self) -> None:
        self.flipped_at = datetime.now(UTC)

    def replicated_then_cut_over(self, name: str, data: bytes) -> None:
        """``name`` written in the primary, replicated, then a cut-over; replica copies and the
        flip fall in different seconds (blob times have whole seconds)."""
        import time

        self.put("primary", name, data)
        self.forward()
        time.sleep(2.2)
        self.cut_over()

    def thresholds(self) -> tuple[datetime, datetime]:
        assert self.recovery_point and self.replicated_until and self.flipped_at
        return failback_thresholds(self.recovery_point, self.replicated_until, self.flipped_at,
                                   timedelta(seconds=MARGIN))

    def fail_back(self, policy: str = "keep-both", mirror_deletes: bool = False, verify: str = "changed") -> Any:
        since, source_since = self.thresholds()
        return run_shard(self.factory, self.job("to-primary", policy=policy, mirror_deletes=mirror_deletes,
                                                verify=verify, since=since, source_since=source_since))

    def close(self) -> None:
        self.factory.close()


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
