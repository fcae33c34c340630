"""Replication engine at scale, without Azure or Azurite (issue 21, goals 3 and 4).

    .venv/bin/python benchmarks/replication_scale.py threads   [--shards 1000 --concurrency 16]
    .venv/bin/python benchmarks/replication_scale.py memory    [--sizes 100000,10000000]
    .venv/bin/python benchmarks/replication_scale.py stability [--blobs 200000 --shard-size 5000]
    .venv/bin/python benchmarks/replication_scale.py stability --baseline REV   (the code of REV)

- **threads**: the real engine (``foundry_dr.replication.engine.run_shard``) over ``--shards``
  shards against the in-memory storage of ``tests/unit/fake_blob_service.py`` (each server-side
  copy takes ``--copy-ms``), all submitted at once to an executor with no worker cap, as Prefect's
  default task runner is. Peak thread count of the process, three ways: per-shard copy pools (the
  design before issue 21); the run's shared copy pool alone; the shared pool plus the window of
  shards in flight that ``replicate_blobs`` applies (``tasks.storage.run_windowed``).
- **memory**: tracemalloc peak of one shard's listing and diff path: two synthetic listings
  prefetched in background threads (``replication.listing.prefetch``, as the engine lists), the
  previous checkpoint streamed, merge-joined by ``blob_sync.diff_sorted``; at each size.
- **stability**: synthetic names, pure: (1) ``--blobs`` files under one AML run folder
  (``azureml/ExperimentRun/dcid.<long id>/outputs/...``): how many shards and the largest;
  (2) a container of mixed folders that grows by 34 % and 50 % and shrinks by 50 %: the share of
  blobs whose shard keeps its id, and the share whose checkpoint record the new layout's shard
  reads (the engine's ``ShardCheckpoint`` on the in-memory storage).

``--baseline REV`` runs the same measurement against the code of a git revision (``git archive``
into a temporary directory, first on ``PYTHONPATH``), for the figures before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO / "tests" / "unit"))  # the in-memory storage
if not os.environ.get("FOUNDRY_DR_BASELINE"):
    sys.path.insert(0, str(REPO))

AML_RUN = "azureml/ExperimentRun/dcid.HD_3f2a9c4e-1b7d-4e8a-9f0c-2d5e6a7b8c9d_17/outputs/"


# ---- threads ---------------------------------------------------------------------------------
class _Sampler:
    """Peak ``threading.active_count()`` while the block runs (sampled every millisecond)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, threading.active_count())
            self._stop.wait(0.001)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _Future:
    """A concurrent future as ``prefect.futures.as_completed`` sees a task future."""

    _final_state = None

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        self.inner.add_done_callback(lambda _f: fn(self))

    def result(self) -> Any:
        return self.inner.result()


def bench_threads(
    shards_n: int,
    concurrency: int,
    blobs_per_shard: int,
    copy_ms: float,
    window: int | None = None,
    before_shards: int | None = None,
) -> dict[str, Any]:
    from fake_blob_service import FakeFactory, FakeStore

    from foundry_dr.blob_sync import Shard, ShardPart
    from foundry_dr.replication.engine import run_shard
    from foundry_dr.replication.job import ShardJob

    has_pool = "pool_key" in ShardJob.__dataclass_fields__
    out: dict[str, Any] = {"shards": shards_n, "concurrency": concurrency, "blobs": shards_n * blobs_per_shard}
    modes = ["per-shard pools"] + (["shared pool", "shared pool + window"] if has_pool else [])
    for mode in modes:
        # per-shard pools start up to concurrency + 3 threads per shard: at 1,000 shards that is
        # most of a default pid_max (32,768) on a shared machine, so it may be measured on fewer
        n = before_shards if mode == "per-shard pools" and before_shards else shards_n
        store = FakeStore(copy_seconds=copy_ms / 1000)
        for s in range(n):
            for i in range(blobs_per_shard):
                store.put("src", "c", f"s{s:05d}/{i:04d}", b"x")
        factory = FakeFactory(store)
        shards = [Shard((ShardPart(f"s{s:05d}/"),), blobs_per_shard) for s in range(n)]
        extra = {"pool_key": "bench-run"} if mode != "per-shard pools" else {}
        jobs = [ShardJob("src", "dst", "c", shard, concurrency=concurrency, **extra) for shard in shards]
        base = threading.active_count()
        runner = ThreadPoolExecutor(max_workers=sys.maxsize)  # Prefect's default task runner: no cap
        started = time.monotonic()
        copied = 0
        with _Sampler() as sampler:
            if mode == "shared pool + window":
                from foundry_dr.replication.pool import hold
                from foundry_dr.tasks.storage import default_shards_in_flight, run_windowed

                window = window or default_shards_in_flight(concurrency)
                results: list[Any] = []
                with hold("bench-run", concurrency):
                    run_windowed(
                        (((lambda j=j, r=runner, fa=factory: _Future(r.submit(run_shard, fa, j))), j) for j in jobs),
                        window,
                        lambda _j, f, out=results: out.append(f.result()),
                    )
                out["window"] = window
            else:
                results = [f.result() for f in [runner.submit(run_shard, factory, j) for j in jobs]]
        runner.shutdown()
        copied = sum(r.counts.copied for r in results)
        out[mode] = {
            "shards": n,
            "peak_threads": sampler.peak,
            "threads_over_baseline": sampler.peak - base,
            "max_copies_in_flight": store.max_active_copies,
            "copied": copied,
            "seconds": round(time.monotonic() - started, 1),
        }
        print(f"threads [{mode}]: {out[mode]}", flush=True)
    return out


# ---- memory ----------------------------------------------------------------------------------
def bench_memory(sizes: list[int]) -> dict[str, Any]:
    from foundry_dr.blob_sync import BlobEntry, diff_sorted
    from foundry_dr.replication.listing import prefetch

    md5 = b"\x01" * 16

    def listing(n: int) -> Iterator[BlobEntry]:
        for i in range(n):
            yield BlobEntry(f"datasets/part-{i:09d}.parquet", 4096, f'"0x{i:x}"', md5)

    def checkpoint(n: int) -> Iterator[tuple[str, str, str]]:
        for i in range(n):
            yield (f"datasets/part-{i:09d}.parquet", f'"0x{i:x}"', md5.hex())

    out: dict[str, Any] = {}
    for n in sizes:
        started = time.monotonic()
        tracemalloc.start()
        actions = 0
        for _ in diff_sorted(prefetch(lambda n=n: listing(n)), prefetch(lambda n=n: listing(n)), checkpoint(n)):
            actions += 1
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert actions == n
        out[str(n)] = {"peak_bytes": peak, "seconds": round(time.monotonic() - started, 1)}
        print(f"memory: {n:,} entries: peak {peak / 2**20:.1f} MiB ({out[str(n)]['seconds']} s)", flush=True)
    return out


# ---- stability -------------------------------------------------------------------------------
def _covers(shard: Any) -> Callable[[str], bool]:
    try:
        from foundry_dr.blob_sync import PartIndex

        return PartIndex(shard.parts).covers
    except ImportError:  # a baseline without it
        return lambda name: any(p.matches(name) for p in shard.parts)


def _assign(shards: list[Any], names: list[str]) -> dict[str, str]:
    """name -> shard id."""
    covers = [(s.id, _covers(s)) for s in shards]
    out = {}
    for name in names:
        out[name] = next(sid for sid, c in covers if c(name))
    return out


def _mixed_names(rng: random.Random, n: int) -> list[str]:
    folders = ["datasets/", "models/", "azureml/ExperimentRun/dcid.", "LocalUpload/", "UI/"]
    return [f"{rng.choice(folders)}{rng.getrandbits(48):012x}/part-{rng.randrange(100):02d}" for _ in range(n)]


def bench_stability(blobs: int, shard_size: int) -> dict[str, Any]:
    from fake_blob_service import FakeFactory, FakeStore

    from foundry_dr.blob_sync import shard_prefixes
    from foundry_dr.replication.shard_state import ShardCheckpoint

    out: dict[str, Any] = {}
    folder = AML_RUN
    names = sorted(f"{folder}step_{i:07d}/metrics.json" for i in range(blobs))
    shards = shard_prefixes(iter(names), shard_size)
    out["aml_folder"] = {
        "blobs": blobs,
        "shared_prefix_chars": len(folder) + 5,
        "shard_size": shard_size,
        "shards": len(shards),
        "largest_shard": max(s.estimated_blobs or 0 for s in shards),
    }
    print(f"stability: one AML run folder: {out['aml_folder']}", flush=True)

    for change in (0.34, 0.5, -0.5):
        rng = random.Random(21)
        old = _mixed_names(rng, blobs)
        now = old + _mixed_names(rng, int(blobs * change)) if change > 0 else rng.sample(old, int(blobs * (1 + change)))
        old_sorted, now_sorted = sorted(set(old)), sorted(set(now))
        before = shard_prefixes(iter(old_sorted), shard_size)
        after = shard_prefixes(iter(now_sorted), shard_size)
        kept = sorted(set(old_sorted) & set(now_sorted))
        a, b = _assign(before, kept), _assign(after, kept)
        same_id = sum(a[n] == b[n] for n in kept) / len(kept)
        # the checkpoint files of the old layout, then what the new layout's shards read
        factory = FakeFactory(FakeStore())
        svc = factory.blob_service("dst")
        old_by_shard: dict[str, list[str]] = {}
        for name, sid in _assign(before, old_sorted).items():
            old_by_shard.setdefault(sid, []).append(name)
        for shard in before:
            ck = ShardCheckpoint(svc, "src", "c", shard)
            list(ck.read())
            for name in old_by_shard.get(shard.id, []):
                ck.add(name, "e-" + name, "00" * 16)
            ck.save(ck.entries)
        new_by_shard: dict[str, set[str]] = {}
        for name in kept:
            new_by_shard.setdefault(b[name], set()).add(name)
        usable = 0
        for shard in after:
            mine = new_by_shard.get(shard.id, set())
            usable += sum(1 for r in ShardCheckpoint(svc, "src", "c", shard).read() if r[0] in mine)
        key = f"{change:+.0%}"
        out[key] = {
            "blobs_before": len(old_sorted),
            "blobs_after": len(now_sorted),
            "shards_before": len(before),
            "shards_after": len(after),
            "same_shard_id": round(same_id, 4),
            "record_usable": round(usable / len(kept), 4),
        }
        print(f"stability: {key}: {out[key]}", flush=True)
    return out


# ---- driver ----------------------------------------------------------------------------------
def _baseline(rev: str, argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "foundry_dr", "tasks"],
                                 check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        os.rename(f"{tmp}/tasks", f"{tmp}/foundry_dr/tasks")
        env = {**os.environ, "PYTHONPATH": tmp, "FOUNDRY_DR_BASELINE": rev}
        out = Path(tmp) / "out.json"
        subprocess.run([sys.executable, __file__, *argv, "--json", str(out)], check=True, env=env, cwd=tmp)
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["threads", "memory", "stability", "all"])
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--blobs-per-shard", type=int, default=20)
    ap.add_argument("--copy-ms", type=float, default=5.0)
    ap.add_argument("--before-shards", type=int, help="shards for the per-shard pools (before) mode")
    ap.add_argument("--window", type=int, help="shards in flight (default: replicate_blobs' own)")
    ap.add_argument("--sizes", default="100000,10000000")
    ap.add_argument("--blobs", type=int, default=200_000)
    ap.add_argument("--shard-size", type=int, default=5_000)
    ap.add_argument("--baseline", metavar="REV", help="measure the code of this git revision instead")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    if args.baseline:
        argv = [a for a in sys.argv[1:] if a not in ("--baseline", args.baseline)]
        print(json.dumps(_baseline(args.baseline, argv), indent=2))
        return
    figures: dict[str, Any] = {}
    if args.what in ("threads", "all"):
        figures["threads"] = bench_threads(
            args.shards, args.concurrency, args.blobs_per_shard, args.copy_ms, args.window, args.before_shards
        )
    if args.what in ("memory", "all"):
        figures["memory"] = bench_memory([int(s) for s in args.sizes.split(",")])
    if args.what in ("stability", "all"):
        figures["stability"] = bench_stability(args.blobs, args.shard_size)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
