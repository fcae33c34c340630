"""Prefect tasks that replicate blob containers between the regions' storage accounts.

Granularity: one task per shard (a container, or a name-prefix range of a large one), never
one per blob, so a run of a million blobs is a few dozen task runs and a re-run after a
failure repeats only the shards that failed (each shard also resumes from its checkpoint).
Shards are independent and their arguments picklable, so they run on any task runner,
including ``prefect_dask.DaskTaskRunner``.

``replicate_blobs`` is the entry the replicate-artifacts / fail-back flows call.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError
from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed

from foundry_dr.blob_sync import (
    CheckpointFile,
    Shard,
    ShardCounts,
    account_pairs,
    merge_names,
    select_containers,
    shard_prefixes,
    superseded_checkpoints,
)
from foundry_dr.redact import redact_text
from foundry_dr.replication.engine import run_shard
from foundry_dr.replication.job import ShardFailed, ShardJob, ShardResult, Transfer, Verify
from foundry_dr.replication.listing import PAGE_SIZE, list_names
from foundry_dr.replication.pool import hold as copy_pool_held
from foundry_dr.replication.shard_state import list_checkpoints
from foundry_dr.retry import PermanentError
from foundry_dr.sides import Direction, sides_of
from foundry_dr.state_layout import STATE_CONTAINER
from foundry_dr.tasks.assets import workspace_pairs
from foundry_dr.tasks.retried import RETRIED_BULK

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory
    from foundry_dr.plan import Plan

K = TypeVar("K")

DEFAULT_SHARD_SIZE = 50_000  # blobs per shard: minutes of copying, seconds of listing


# ---- client factory across task runners ---------------------------------------------------
# A run's tasks find the flow's factory by token. Neither map grows with the runs a long-lived
# process (serve.py, a Dask worker) carries out: a flow's own factory is registered only while its
# replicate_blobs call runs (``shared_factory`` removes it in a ``finally``); a factory rebuilt in
# another process is kept in a small LRU, so the shards of one run share it and old runs fall out.
MAX_REBUILT_FACTORIES = 8
_FACTORIES: dict[str, ClientFactory] = {}  # registered by a flow of this process, while it runs
_REBUILT: OrderedDict[str, ClientFactory] = OrderedDict()  # built here from a ref, least recent first
_FACTORIES_LOCK = threading.Lock()


@dataclass(frozen=True)
class FactoryRef:
    """A picklable handle on the flow's :class:`ClientFactory`.

    In the flow's process (thread task runner) it resolves to the very factory the flow built,
    sharing its cached clients and connection pools. In another process (a Dask worker) it
    builds an equivalent factory from the plan; for the sandbox the env document travels along
    (in memory only: ``repr=False`` keeps its account keys out of any repr or log).
    """

    token: str
    plan: Plan
    sandbox_env: dict | None = field(default=None, repr=False, compare=False)

    def resolve(self) -> ClientFactory:
        from foundry_dr.clients import ClientFactory

        with _FACTORIES_LOCK:
            factory = _FACTORIES.get(self.token)
            if factory is not None:
                return factory
            factory = _REBUILT.get(self.token)
            if factory is None:
                factory = ClientFactory(self.plan, sandbox_env=self.sandbox_env)
                _REBUILT[self.token] = factory
                while len(_REBUILT) > MAX_REBUILT_FACTORIES:
                    # not closed: a task still running may hold it; its pools go with the last reference
                    _REBUILT.popitem(last=False)
            else:
                _REBUILT.move_to_end(self.token)
            return factory


def factory_ref(factory: ClientFactory) -> FactoryRef:
    """Register ``factory`` for the tasks of this process; :func:`release` it when they are done."""
    token = uuid.uuid4().hex
    with _FACTORIES_LOCK:
        _FACTORIES[token] = factory
    return FactoryRef(token, factory.plan, factory.sandbox_env if factory.is_sandbox else None)


def release(ref: FactoryRef) -> None:
    """Forget the factory behind ``ref`` (it stays usable by whoever holds it)."""
    with _FACTORIES_LOCK:
        _FACTORIES.pop(ref.token, None)
        _REBUILT.pop(ref.token, None)


@contextlib.contextmanager
def shared_factory(factory: ClientFactory) -> Iterator[FactoryRef]:
    """A ref on ``factory`` for the tasks submitted inside the block, released when it ends."""
    ref = factory_ref(factory)
    try:
        yield ref
    finally:
        release(ref)


# ---- what to replicate ---------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerPair:
    source_account: str
    dest_account: str
    container: str
    dest_container: str | None = None  # e.g. each workspace's default datastore has its own container

    @property
    def destination(self) -> str:
        return self.dest_container or self.container

    def __str__(self) -> str:
        arrow = f" -> {self.dest_account}/{self.destination}"
        return f"{self.source_account}/{self.container}{arrow}"


# one workspace's blob datastores: (name, account, container)
Datastores = list[tuple[str, str, str]]


def datastore_containers(listings: Iterable[Datastores]) -> dict[str, set[str]]:
    """account -> containers behind the blob datastores of the source's hub and of each of its
    projects (``listings``: one per workspace): every project's default datastore has a
    container of its own."""
    found: dict[str, set[str]] = {}
    for entries in listings:
        for _, account, container in entries:
            found.setdefault(account, set()).add(container)
    return found


def datastore_location(ds: Any) -> tuple[str, str] | None:
    """(account, container) behind a blob or ADLS Gen2 datastore; None for other kinds. An ADLS
    Gen2 datastore names its container ``filesystem`` (azure.ai.ml AzureDataLakeGen2Datastore);
    missing it would leave its data silently unprotected."""
    account = getattr(ds, "account_name", None)
    container = getattr(ds, "container_name", None) or getattr(ds, "filesystem", None)
    return (account, container) if account and container else None


def _datastores(factory: ClientFactory, side: str, workspace: str | None = None) -> list[tuple[str, str, str]]:
    """(name, account, container) of the blob datastores of one workspace (None: the side's hub)."""
    hub = factory.plan.side(side).hub  # type: ignore[arg-type]
    ml = factory.ml_client(side, None if workspace in (None, hub) else workspace)  # type: ignore[arg-type]
    out = []
    for ds in ml.datastores.list():
        where = datastore_location(ds)
        if where:
            out.append((ds.name, *where))
    return out


def destination_containers(factory: ClientFactory, dest_side: str, pairs: Iterable[tuple[str, str]],
                           source: Callable[[str], Datastores]) -> dict[tuple[str, str], str]:
    """(source account, container) -> the container of the same-named datastore in the twin workspace
    (``pairs``: source and twin workspaces; ``source``: a source workspace's datastores).

    Each workspace's default datastore (workspaceblobstore) has a container of its own: a hub's
    ``azureml-blobstore-<workspace id>``, a project's ``<workspace id>-azureml-blobstore``. Data
    behind it must land behind the twin workspace's default datastore (hub -> hub, project ->
    same-named project), or the asset paths rewritten to that datastore would point at nothing.
    An unreachable or missing destination workspace maps nothing for its pair (containers keep
    their names); a container two workspaces share keeps the first pairing (the hub's)."""
    from azure.core.exceptions import AzureError

    out: dict[tuple[str, str], str] = {}
    for src_ws, dst_ws in pairs:
        try:
            dest = {name: container for name, _, container in _datastores(factory, dest_side, dst_ws)}
        except AzureError:
            continue
        for name, account, container in source(src_ws):
            if name in dest and dest[name] != container:
                out.setdefault((account, container), dest[name])
    return out


@task(
    name="blob-containers",
    **RETRIED_BULK,
)
def list_container_pairs(
    ref: FactoryRef, direction: Direction, from_datastores: Mapping[str, Iterable[str]] | None
) -> list[ContainerPair]:
    """The containers to replicate, per account pair: datastores' containers + plan patterns
    - excludes, among the containers that exist in the source account."""
    factory = ref.resolve()
    plan = factory.plan
    rep = plan.replication
    source_side, dest_side = sides_of(direction)
    # hub -> hub, then each project with its same-named twin, as asset metadata pairs them
    workspaces = workspace_pairs(factory, direction)
    source = functools.cache(lambda ws: _datastores(factory, source_side, ws))  # each listed once per run
    if from_datastores is None:
        from_datastores = datastore_containers(source(s) for s, _ in workspaces)
    renamed = destination_containers(factory, dest_side, workspaces, source)
    pairs: list[ContainerPair] = []
    for src, dst in account_pairs(plan.primary, plan.secondary, direction):
        existing = [c.name for c in factory.blob_service(src).list_containers()]
        chosen = select_containers(existing, from_datastores.get(src, ()), rep.containers, rep.exclude)
        pairs.extend(ContainerPair(src, dst, c, renamed.get((src, c))) for c in chosen)
    return pairs


@task(
    name="blob-shards",
    **RETRIED_BULK,
)
def list_shards(
    ref: FactoryRef, pair: ContainerPair, mirror_deletes: bool, shard_size: int, dry_run: bool = False
) -> list[Shard]:
    """Cut a container into prefix shards of at most ``shard_size`` blobs.

    A container that fits in one listing page is one shard at the cost of one request.
    Otherwise the names (only) are streamed once (source, and destination too when deletes
    are mirrored, so that destination-only names are covered) and split by prefix
    (:func:`~foundry_dr.blob_sync.shard_prefixes`: boundaries that mostly stay where they are as
    the container grows or shrinks). Shards of a new layout read the checkpoint files of the old
    one; the files no shard needs any more are deleted here.
    """
    factory = ref.resolve()
    dest = factory.blob_service(pair.dest_account)
    try:
        # one quick attempt: only a shortcut and a clean-up, not worth the SDK's retry back-off
        stored = list_checkpoints(dest, pair.source_account, pair.container, retry_total=0)
    except AzureError:  # the destination may be down: the source is what counts
        stored = None
    seen = stored[-1].blobs if stored and stored[-1].file.shard_id == Shard().id else None
    if seen is not None and seen <= shard_size // 2:
        # small last time, with room to grow: one shard, no listing here (the shard lists)
        shards = [Shard(estimated_blobs=seen)]
    else:
        shards = _cut(factory, pair, mirror_deletes, shard_size)
    if stored and not dry_run:
        _clean_up(dest, [c.file for c in stored], shards)
    return shards


def _cut(factory: ClientFactory, pair: ContainerPair, mirror_deletes: bool, shard_size: int) -> list[Shard]:
    src = factory.blob_service(pair.source_account).get_container_client(pair.container)
    pages = src.list_blob_names(results_per_page=min(PAGE_SIZE, shard_size)).by_page()
    first = list(next(pages, None) or [])
    if pages.continuation_token is None and not mirror_deletes:
        return [Shard(estimated_blobs=len(first))]
    # more than a page: the top-level folders are listed in parallel (list_names)
    whole = pages.continuation_token is None
    streams: list[Iterator[str]] = [itertools.chain(first) if whole else list_names(src)]
    if mirror_deletes:
        dst = factory.blob_service(pair.dest_account).get_container_client(pair.destination)
        if dst.exists():
            streams.append(list_names(dst))
    return shard_prefixes(merge_names(*streams), shard_size)


def _clean_up(dest: Any, files: list[CheckpointFile], shards: list[Shard]) -> None:
    """Delete the checkpoint files of earlier layouts that no longer speak for any name (best
    effort: a file left behind is only read, never trusted over a newer one)."""
    for path in superseded_checkpoints(files, shards):
        with contextlib.suppress(AzureError):
            dest.get_blob_client(STATE_CONTAINER, path).delete_blob()


@task(
    name="blob-shard",
    task_run_name="blob-shard-{job}",
    **RETRIED_BULK,
)
def replicate_shard(ref: FactoryRef, job: ShardJob) -> ShardResult:
    """Replicate one shard: list both sides, diff, copy (bounded threads), verify, checkpoint.
    Retried (by Prefect) only when its failure is transient; a retry resumes from the checkpoint
    that the failed attempt saved."""
    result = run_shard(ref.resolve(), job)
    c = result.counts
    get_run_logger().info(
        "%s: %s copied, %s updated, %s skipped, %s archived, %s deleted (%d bytes, %.1f s, %s)%s",
        job, c.copied, c.updated, c.skipped, c.archived, c.deleted, c.bytes_copied, result.seconds,
        result.transfer, " [dry run]" if job.dry_run else "",
    )  # fmt: skip
    return result


# ---- the entry the flows call --------------------------------------------------------------
@dataclass
class BlobReplicationReport:
    """Totals and per-shard results of one replication; no secrets, no per-blob map."""

    direction: str
    dry_run: bool
    verify: str
    containers: list[str] = field(default_factory=list)
    shards: list[ShardResult] = field(default_factory=list)
    totals: ShardCounts = field(default_factory=ShardCounts)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.totals.failed == 0

    @property
    def changed(self) -> int:
        t = self.totals
        return t.copied + t.updated + t.deleted

    def unprotected(self) -> list[str]:
        """Blobs left unreplicated with the reason (e.g. Archive tier), sampled per shard."""
        return [item for s in self.shards for item in s.unprotected]

    def conflict_copies(self) -> list[str]:
        """Where conflicts kept the version that is not live (account/container/path)."""
        return [item for s in self.shards for item in s.conflict_copies]

    def table(self) -> list[dict[str, Any]]:
        """One row per shard, for a table artifact."""
        return [
            {
                "container": f"{s.source_account}/{s.container} -> {s.dest_account}",
                "shard": s.shard,
                **{k: getattr(s.counts, k) for k in ("copied", "updated", "skipped", "archived", "deleted", "failed")},
                "bytes": s.counts.bytes_copied,
                "seconds": s.seconds,
                "transfer": s.transfer,
                "error": s.error or "",
            }
            for s in self.shards
        ]

    def summary(self) -> str:
        t = self.totals
        mode = "would copy" if self.dry_run else "copied"
        rate = t.bytes_copied / self.seconds / 1e6 if self.seconds else 0.0
        return (
            f"blobs {self.direction}: {mode} {t.copied} ({t.bytes_copied} bytes, {rate:.1f} MB/s), "
            f"updated {t.updated}, skipped {t.skipped}, archived {t.archived}, deleted {t.deleted}, "
            f"failed {t.failed}; {len(self.containers)} containers, {len(self.shards)} shards, "
            f"{self.seconds:.1f} s"
        )


class BlobReplicationFailed(PermanentError):
    """Some shards failed after their retries; ``report`` says which and what was done."""

    def __init__(self, report: BlobReplicationReport) -> None:
        self.report = report
        shown = "; ".join(report.failures[:5])
        super().__init__(f"blob replication failed in {len(report.failures)} shard(s): {shown}")


def replicate_blobs(
    plan: Plan,
    factory: ClientFactory,
    direction: Direction = "to-secondary",
    dry_run: bool = False,
    verify: Verify = "changed",
    *,
    datastores: Mapping[str, Iterable[str]] | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    shard_retries: int | None = None,
    raise_on_failure: bool = True,
    progress_key: str | None = None,
    since: datetime | None = None,
    source_since: datetime | None = None,
    shards_in_flight: int | None = None,
) -> BlobReplicationReport:
    """Replicate the blob containers of one side into the other. Call it inside a flow.

    ``datastores`` maps a source account to the containers behind the datastores of the hub and
    its projects (from an inventory); None asks each workspace (MLClient). ``since`` (fail-back) copies back only
    what changed after that recovery point and resolves blobs changed on both sides by the
    plan's ``failback.conflict_policy``. Shards run on the flow's task runner, at most
    ``shards_in_flight`` at a time (default :func:`default_shards_in_flight`), and their copies
    share the run's copy threads (``replication.concurrency`` in all, per process), so the
    threads stay bounded at any shard count; a progress artifact advances as shards finish.
    With ``raise_on_failure`` a failed shard (after its retries) raises
    :class:`BlobReplicationFailed` once every shard has finished; the exception carries the report.
    """
    started = time.monotonic()
    rep = plan.replication
    report = BlobReplicationReport(direction, dry_run, verify)
    logger = get_run_logger()
    secrets = _secrets(factory)
    plain = {str(k): sorted(v) for k, v in datastores.items()} if datastores is not None else None
    in_flight = shards_in_flight if shards_in_flight is not None else default_shards_in_flight(rep.concurrency)
    submitted = 0
    # released once every shard has finished; the run's copy threads live as long
    with shared_factory(factory) as ref, copy_pool_held(ref.token, rep.concurrency):
        pairs = list_container_pairs(ref, direction, plain)
        report.containers = [str(p) for p in pairs]
        shard_task = replicate_shard if shard_retries is None else replicate_shard.with_options(retries=shard_retries)

        progress = create_progress_artifact(
            progress=0.0, key=progress_key, description=f"Blob replication {direction}: shards finished"
        )
        planned: list[tuple[ContainerPair, list[Shard]]] = []

        def planned_one(pair: ContainerPair, fut: Any) -> None:
            try:
                planned.append((pair, fut.result()))
            except Exception as exc:  # noqa: BLE001 - reported, other containers go on
                report.failures.append(redact_text(f"{pair}: cannot list shards: {exc}", secrets))

        run_windowed(
            (((lambda p=p: list_shards.submit(ref, p, rep.mirror_deletes, shard_size, dry_run)), p) for p in pairs),
            in_flight,
            planned_one,
        )
        order = {p: i for i, p in enumerate(pairs)}
        planned.sort(key=lambda item: order[item[0]])
        jobs = [
            ShardJob(
                pair.source_account,
                pair.dest_account,
                pair.container,
                shard,
                dry_run=dry_run,
                dest_container=pair.dest_container,
                verify=verify,
                mirror_deletes=rep.mirror_deletes,
                transfer=_transfer(rep.transfer),
                concurrency=rep.concurrency,
                excludes=tuple(p for p in rep.exclude if "/" in p),
                since=since,
                source_since=source_since,
                clock_margin_seconds=plan.failback.clock_margin_seconds,
                conflict_policy=plan.failback.conflict_policy,
                dest_side="primary" if direction == "to-primary" else "secondary",
                pool_key=ref.token,
            )  # fmt: skip
            for pair, shards in planned
            for shard in shards
        ]
        submitted = len(jobs)
        finished = 0

        def collect(_job: ShardJob, fut: Any) -> None:
            nonlocal finished
            try:
                result = fut.result()
            except ShardFailed as exc:
                result = exc.result
                report.failures.append(redact_text(str(exc), secrets))
            except Exception as exc:  # noqa: BLE001 - a shard task's error of any kind: reported, the others go on
                result = None
                report.failures.append(redact_text(f"{type(exc).__name__}: {exc}", secrets))
            if result is not None:
                report.shards.append(result)
                report.totals.add(result.counts)
            finished += 1
            update_progress_artifact(progress, 100.0 * finished / max(1, submitted))

        run_windowed((((lambda j=j: shard_task.submit(ref, j)), j) for j in jobs), in_flight, collect)
    if not submitted:
        update_progress_artifact(progress, 100.0)
    report.shards.sort(key=lambda s: (s.source_account, s.container, s.shard))
    report.seconds = round(time.monotonic() - started, 3)
    (logger.warning if report.failures else logger.info)(report.summary())
    if report.failures and raise_on_failure:
        raise BlobReplicationFailed(report)
    return report


SHARDS_IN_FLIGHT = 16


def default_shards_in_flight(concurrency: int) -> int:
    """Shards running at once: a constant, whatever the shard count or the copy cap. Enough to
    keep the shared copy threads busy and to overlap the shards' listings (I/O bound: each shard
    lists both sides in two threads of its own), so the process holds at most ``concurrency``
    copy threads + 3 x this + Prefect's own, at 10 shards as at 10,000."""
    return SHARDS_IN_FLIGHT


def run_windowed(items: Iterable[tuple[Callable[[], Any], K]], limit: int, on_done: Callable[[K, Any], None]) -> int:
    """Submit ``items`` (a call that submits a task, and a key) with at most ``limit`` futures in
    flight; ``on_done(key, future)`` runs in this thread as each one finishes. Prefect's default
    task runner starts a thread per submitted task with no cap: this window is the cap. The
    number of items submitted."""
    limit = max(1, limit)
    pending: dict[Any, K] = {}
    count = 0
    for submit, key in items:
        while len(pending) >= limit:
            done = next(iter(as_completed(list(pending))))
            on_done(pending.pop(done), done)
        pending[submit()] = key
        count += 1
    for done in as_completed(list(pending)):
        on_done(pending.pop(done), done)
    return count


def _transfer(value: str) -> Transfer:
    return value if value in ("server-side", "streaming", "auto") else "auto"  # type: ignore[return-value]


def _secrets(factory: ClientFactory) -> list[str]:
    if not factory.is_sandbox:
        return []
    return [a.get("key", "") for a in factory.sandbox_env.get("storage_accounts", {}).values()]
