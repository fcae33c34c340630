"""Blob replication against the sandbox: real SDK clients, Azurite behind the fault proxy, Prefect.

One module-scoped seed (a few hundred blobs in both primary accounts) is replicated and then
changed step by step; every check reads the destination back through the SDK, blob by blob.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from azure.storage.blob import BlobBlock, BlobServiceClient, ContentSettings, StandardBlobTier
from prefect import flow
from prefect.testing.utilities import prefect_test_harness

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan, load_plan
from foundry_dr.tasks.storage import BlobReplicationFailed, BlobReplicationReport, replicate_blobs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UID = uuid.uuid4().hex[:6]
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
MODELS = f"br{UID}-models"  # in stfdreastus -> stfdrwestus
DATA = f"br{UID}-data"  # in stfdreastusdata -> stfdrwestusdata
PAIRS = {("stfdreastus", MODELS): "stfdrwestus", ("stfdreastusdata", DATA): "stfdrwestusdata"}
NO_MD5 = "raw/no-md5.bin"
COOL = "raw/cool.bin"
ARCHIVED = "raw/archived.bin"


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=60):
        yield


def make_plan(**replication: Any) -> Plan:
    plan = load_plan(os.path.join(REPO, "deployments", "plans", "sandbox.yaml"))
    rep = plan.replication.model_copy(update={"containers": [f"br{UID}-*"], "concurrency": 8, **replication})
    return plan.model_copy(update={"replication": rep})


def service(env: dict, account: str) -> BlobServiceClient:
    a = env["storage_accounts"][account]
    return BlobServiceClient(a["blob_endpoint"], credential={"account_name": account, "account_key": a["key"]})


@flow(name="test-replicate-blobs", validate_parameters=False)
def replicate_flow(
    plan: Plan,
    env: dict,
    direction: str = "to-secondary",
    dry_run: bool = False,
    verify: str = "changed",
    factory_class: type = ClientFactory,
    **kw: Any,
) -> BlobReplicationReport:
    factory = factory_class(plan, sandbox_env=env)
    try:
        return replicate_blobs(plan, factory, direction, dry_run, verify, datastores={}, **kw)  # type: ignore[arg-type]
    finally:
        factory.close()


def run(plan: Plan, env: dict, **kw: Any) -> BlobReplicationReport:
    return replicate_flow(plan, env, **kw)


def seed(env: dict) -> int:
    """~300 blobs: nested paths, metadata, content settings; one without MD5, one Cool, one Archive."""
    jobs = []
    for (account, container), _ in PAIRS.items():
        svc = service(env, account)
        svc.create_container(container)
        cc = svc.get_container_client(container)
        for i in range(150):
            name = f"d{i % 4}/sub{i % 3}/item-{i:04d}.json"
            settings = ContentSettings(
                content_type="application/json",
                content_encoding="identity" if i % 2 else None,
                content_language="en" if i % 3 == 0 else None,
                cache_control="max-age=60" if i % 5 == 0 else None,
                content_disposition=f"attachment; filename=item-{i}.json" if i % 7 == 0 else None,
            )
            jobs.append((cc, name, os.urandom(50 + i), {"index": str(i), "owner": "team-a"}, settings))
    models = service(env, "stfdreastus").get_container_client(MODELS)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda j: j[0].upload_blob(j[1], j[2], metadata=j[3], content_settings=j[4]), jobs))
    # a blob committed from blocks has no Content-MD5
    blob = models.get_blob_client(NO_MD5)
    blob.stage_block("YmxvY2sx", os.urandom(3000))
    blob.commit_block_list([BlobBlock("YmxvY2sx")], metadata={"kind": "raw"})
    assert blob.get_blob_properties().content_settings.content_md5 is None
    models.upload_blob(COOL, os.urandom(500), standard_blob_tier=StandardBlobTier.COOL)
    models.upload_blob(ARCHIVED, os.urandom(500))
    models.get_blob_client(ARCHIVED).set_standard_blob_tier(StandardBlobTier.ARCHIVE)
    models.upload_blob("large/model.bin", os.urandom(9 * 1024 * 1024), metadata={"big": "yes"})
    return len(jobs) + 4


def assert_replicated(env: dict, verify_content: bool = False, pairs: dict | None = None) -> int:
    """Every non-archived source blob exists in the destination with the same MD5, size,
    metadata, content settings and tier; the archived one is absent. Returns blobs checked."""
    checked = 0
    for (account, container), dest_account in (pairs or PAIRS).items():
        src = service(env, account).get_container_client(container)
        dst = service(env, dest_account).get_container_client(container)
        dest = {b.name: b for b in dst.list_blobs(include=["metadata"])}
        for b in src.list_blobs(include=["metadata"]):
            if b.blob_tier == "Archive":
                assert b.name not in dest, f"{b.name}: archived blob must not be copied"
                continue
            d = dest[b.name]
            want_md5 = b.content_settings.content_md5
            if want_md5 is None:  # computed by the replicator and recorded on the destination
                want_md5 = hashlib.md5(src.download_blob(b.name).readall()).digest()
            assert d.content_settings.content_md5 == want_md5, b.name
            assert d.size == b.size and (d.metadata or {}) == (b.metadata or {}), b.name
            for attr in ("content_type", "content_encoding", "content_language", "content_disposition",
                         "cache_control"):  # fmt: skip
                assert getattr(d.content_settings, attr) == getattr(b.content_settings, attr), (b.name, attr)
            assert d.blob_tier == b.blob_tier, b.name
            if verify_content:
                assert hashlib.md5(dst.download_blob(b.name).readall()).digest() == want_md5, b.name
            checked += 1
    return checked


def snapshot(env: dict) -> dict[str, str]:
    out = {}
    for (_, container), dest_account in PAIRS.items():
        cc = service(env, dest_account).get_container_client(container)
        if cc.exists():
            out.update({f"{container}/{b.name}": b.etag for b in cc.list_blobs()})
    return out


@pytest.fixture(scope="module")
def seeded(sandbox_env: dict) -> int:
    return seed(sandbox_env)


# ---- tests -------------------------------------------------------------------------------------
def test_dry_run_changes_nothing(sandbox_env: dict, seeded: int) -> None:
    report = run(make_plan(), sandbox_env, dry_run=True)
    assert snapshot(sandbox_env) == {}
    assert report.totals.copied == seeded - 1 and report.totals.archived == 1
    assert report.shards and all(s.checkpoint_blob is None for s in report.shards)


def test_full_copy_then_incremental(sandbox_env: dict, seeded: int) -> None:
    plan = make_plan()
    report = run(plan, sandbox_env)
    assert report.ok and report.totals.copied == seeded - 1 and report.totals.verified == seeded - 1
    assert report.totals.archived == 1
    assert any(ARCHIVED in s and "Archive" in s for r in report.shards for s in r.samples.get("skip-archive", []))
    assert assert_replicated(sandbox_env, verify_content=True) == seeded - 1

    again = run(plan, sandbox_env)
    assert (again.totals.copied, again.totals.updated, again.totals.deleted) == (0, 0, 0)
    assert again.totals.skipped == seeded - 1

    models = service(sandbox_env, "stfdreastus").get_container_client(MODELS)
    changed = [f"d{i % 4}/sub{i % 3}/item-{i:04d}.json" for i in (3, 17, 42, 99, 120)]
    for name in changed:
        models.upload_blob(name, os.urandom(77), overwrite=True, metadata={"changed": "yes"})
    third = run(plan, sandbox_env)
    assert third.totals.copied == 5 and third.totals.updated == 0
    assert {s.split(" ")[0] for r in third.shards for s in r.samples.get("copy", [])} == set(changed)
    assert assert_replicated(sandbox_env) == seeded - 1

    # metadata-only change: properties are updated in place, no bytes copied
    models.get_blob_client(changed[0]).set_blob_metadata({"changed": "twice"})
    fourth = run(plan, sandbox_env, verify="all")
    assert (fourth.totals.copied, fourth.totals.updated) == (0, 1)
    assert fourth.totals.verified == seeded - 2  # verify=all re-hashed every skipped blob
    assert assert_replicated(sandbox_env) == seeded - 1

    # a dry run after a change reports it and changes nothing
    models.upload_blob(changed[1], b"new content", overwrite=True)
    before = snapshot(sandbox_env)
    dry = run(plan, sandbox_env, dry_run=True)
    assert dry.totals.copied == 1 and snapshot(sandbox_env) == before
    assert run(plan, sandbox_env).totals.copied == 1


def test_mirror_deletes(sandbox_env: dict, seeded: int) -> None:
    plan = make_plan(mirror_deletes=True)
    run(plan, sandbox_env)
    data = service(sandbox_env, "stfdreastusdata").get_container_client(DATA)
    gone = ["d0/sub0/item-0000.json", "d1/sub1/item-0001.json"]
    for name in gone:
        data.delete_blob(name)
    assert run(plan, sandbox_env, dry_run=True).totals.deleted == 2
    report = run(plan, sandbox_env)
    assert report.totals.deleted == 2 and report.totals.copied == 0
    dest = service(sandbox_env, "stfdrwestusdata").get_container_client(DATA)
    assert not any(dest.get_blob_client(n).exists() for n in gone)
    assert assert_replicated(sandbox_env) == seeded - 3


def test_reverse_direction_is_a_no_op_when_in_sync(sandbox_env: dict, seeded: int) -> None:
    run(make_plan(), sandbox_env)
    back = run(make_plan(), sandbox_env, direction="to-primary")
    # the primary is the superset (it also holds the archived blob): nothing to copy back
    assert back.totals.copied == 0 and back.ok


def test_streaming_transfer(sandbox_env: dict) -> None:
    """transfer=streaming: ranged download -> staged blocks; same preservation and verification."""
    container = f"bs{UID}-stream"
    svc = service(sandbox_env, "stfdreastus")
    svc.create_container(container)
    cc = svc.get_container_client(container)
    for i in range(20):
        cc.upload_blob(
            f"s/{i:02d}.txt", os.urandom(1000 + i), metadata={"i": str(i)},
            content_settings=ContentSettings(content_type="text/plain", cache_control="no-cache"),
        )  # fmt: skip
    cc.upload_blob("big/multi-block.bin", os.urandom(9 * 1024 * 1024 + 7), standard_blob_tier=StandardBlobTier.COOL)
    raw = cc.get_blob_client("raw/no-md5.bin")
    raw.stage_block("YmxvY2sx", os.urandom(5000))
    raw.commit_block_list([BlobBlock("YmxvY2sx")])
    plan = make_plan(containers=[container], transfer="streaming")
    report = run(plan, sandbox_env)
    assert report.ok and report.totals.copied == 22 and report.totals.verified == 22
    assert {s.transfer for s in report.shards} == {"streaming"}
    pairs = {("stfdreastus", container): "stfdrwestus"}
    assert assert_replicated(sandbox_env, verify_content=True, pairs=pairs) == 22
    assert run(plan, sandbox_env).totals.copied == 0


def test_fail_nth_is_retried_and_verified(sandbox_env: dict, sandbox, control, seeded: int) -> None:
    data = service(sandbox_env, "stfdreastusdata").get_container_client(DATA)
    for i in range(10):
        data.upload_blob(f"fault/f{i}.bin", os.urandom(100), overwrite=True)
    control(sandbox, "POST", "/faults", {"fail_nth": {"n": 20, "status": 503, "service": "storage"}})
    report = run(make_plan(), sandbox_env)
    state = control(sandbox, "GET", "/faults")
    assert any(r["fired"] for r in state["fail_nth"]), "the injected failure never fired"
    assert report.ok and report.totals.copied >= 10
    assert assert_replicated(sandbox_env) > 0


class LowRetryFactory(ClientFactory):
    """Fewer SDK retries, so an outage fails in seconds instead of minutes."""

    def _transport_kwargs(self) -> dict[str, Any]:
        kwargs = super()._transport_kwargs()
        kwargs.update(retry_total=1, retry_connect=1, retry_read=1, retry_status=1, retry_backoff_factor=0.1)
        return kwargs


def test_outage_fails_cleanly_then_rerun_completes(sandbox_env: dict, sandbox, control, seeded: int) -> None:
    data = service(sandbox_env, "stfdreastusdata").get_container_client(DATA)
    for i in range(20):
        data.upload_blob(f"outage/o{i:02d}.bin", os.urandom(200), overwrite=True)
    control(sandbox, "POST", "/faults", {"outage": {"region": "westus"}})
    with pytest.raises(BlobReplicationFailed) as failed:
        run(make_plan(), sandbox_env, factory_class=LowRetryFactory, shard_retries=0)
    assert failed.value.report.failures
    control(sandbox, "POST", "/heal")
    report = run(make_plan(), sandbox_env)
    assert report.ok and report.totals.copied >= 20
    assert assert_replicated(sandbox_env) > 0


def test_outage_healed_during_retries(sandbox_env: dict, sandbox, control, seeded: int) -> None:
    data = service(sandbox_env, "stfdreastusdata").get_container_client(DATA)
    for i in range(5):
        data.upload_blob(f"heal/h{i}.bin", os.urandom(200), overwrite=True)
    control(sandbox, "POST", "/faults", {"outage": {"region": "westus"}})
    timer = threading.Timer(3.0, lambda: control(sandbox, "POST", "/heal"))
    timer.start()
    try:
        report = run(make_plan(), sandbox_env)
    finally:
        timer.cancel()
    assert report.ok and report.totals.copied >= 5
    assert assert_replicated(sandbox_env) > 0


def test_no_secrets_in_logs_results_or_artifacts(
    sandbox_env: dict, seeded: int, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    models = service(sandbox_env, "stfdreastus").get_container_client(MODELS)
    models.upload_blob("secrets-scan/new.bin", os.urandom(100), overwrite=True)
    caplog.set_level(logging.DEBUG)
    state = replicate_flow(make_plan(), sandbox_env, return_state=True)
    report = state.result()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        for _ in range(50):  # logs reach the API in batches
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            if any("copied" in log.message for log in logs):
                break
            time.sleep(0.2)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    captured = capfd.readouterr()
    haystacks = {
        "api logs": "\n".join(log.message for log in logs),
        "captured logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "report": repr(report) + json.dumps(dataclasses.asdict(report), default=str),
        "artifacts": "\n".join(f"{a.description} {a.data}" for a in artifacts),
    }
    assert logs and report.totals.copied >= 1
    keys = [a["key"] for a in sandbox_env["storage_accounts"].values()]
    for where, text in haystacks.items():
        assert "sig=" not in text.replace("sig=REDACTED", ""), where
        for key in keys:
            assert key not in text, f"an account key appears in the {where}"


def test_shards_on_dask(sandbox_env: dict, seeded: int) -> None:
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    dask_flow = replicate_flow.with_options(
        task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 2, "processes": True})
    )
    for (_, container), dest_account in PAIRS.items():  # fresh destination: everything is copied
        service(sandbox_env, dest_account).delete_container(container)
    time.sleep(0.5)
    report = dask_flow(make_plan(), sandbox_env, shard_size=40)
    assert len(report.shards) >= 4 and report.ok
    assert report.totals.copied >= seeded - 10
    assert assert_replicated(sandbox_env) > 0


GROW = f"br{UID}-grow"  # in stfdreastus -> stfdrwestus


def test_shards_share_one_copy_cap_and_keep_their_checkpoints_when_the_layout_changes(
    sandbox_env: dict,
    sandbox: Any,  # noqa: ANN401
    request_log: Any,  # noqa: ANN401
    control: Any,  # noqa: ANN401
) -> None:
    """Issue 21: the copies of all shards of a run share ``replication.concurrency`` threads;
    after the container grows by 50 % the shard layout changes, and the blobs already verified
    are still skipped by their checkpoint records (blobs without Content-MD5: without a record
    each would be downloaded on both sides to be compared)."""
    cc = service(sandbox_env, "stfdreastus").get_container_client(GROW)
    cc.create_container()

    def put_without_md5(name: str) -> None:  # committed from blocks: no Content-MD5
        blob = cc.get_blob_client(name)
        blob.stage_block("YmxvY2sx", os.urandom(100))
        blob.commit_block_list([BlobBlock("YmxvY2sx")])

    first = [f"g/{uuid.uuid4().hex}" for _ in range(120)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put_without_md5, first))
    plan = make_plan(concurrency=3)
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], sum(t.name.startswith("blob-copy") for t in threading.enumerate()))
            stop.wait(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        report = run(plan, sandbox_env, shard_size=40)
    finally:
        stop.set()
        watcher.join()
    grow = [s for s in report.shards if s.container == GROW]
    assert report.ok and len(grow) >= 3 and sum(s.counts.copied for s in grow) == 120
    assert 0 < peak[0] <= 3, f"{peak[0]} copy threads for a cap of 3"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put_without_md5, [f"g/{uuid.uuid4().hex}" for _ in range(60)]))
    control(sandbox, "DELETE", "/requests")
    again = run(plan, sandbox_env, shard_size=40)
    regrown = [s for s in again.shards if s.container == GROW]
    assert again.ok and sum(s.counts.copied for s in regrown) == 60
    assert sum(s.counts.skipped for s in regrown) == 120
    assert {s.shard_id for s in regrown} != {s.shard_id for s in grow}, "the layout was meant to change"
    old = set(first)
    downloads = request_log(sandbox, method="GET", path=f"{GROW}/g/")
    hashed = [e for e in downloads if "g/" + e["path"].rsplit("/", 1)[-1] in old]
    assert hashed == [], f"{len(hashed)} already verified blobs were downloaded again"
