"""Bad input never reaches Azure: exit 2, a message naming the field, no request in the sandbox.

Each case runs the real CLI in a subprocess (real exit codes) against a running sandbox and
checks the sandbox's request log: nothing may have reached ARM, storage or Key Vault.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "deployments" / "plans" / "sandbox.yaml"
CLI = [sys.executable, "-m", "foundry_dr.cli"]
DELETE = object()
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _set(data: dict, path: str, value: Any) -> dict:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


# (case id, plan mutation path, value, text the error must contain)
PLAN_CASES: list[tuple[str, str, Any, str]] = [
    ("wrong type", "objectives.rpo_minutes", "fast", "objectives.rpo_minutes"),
    ("unknown region", "primary.location", "atlantis", "primary.location"),
    ("same region twice", "secondary.location", "eastus", "secondary.location"),
    ("missing hub", "primary.hub", DELETE, "primary.hub"),
    ("malformed GUID", "primary.subscription_id", "not-a-guid", "primary.subscription_id"),
    ("invalid hub name", "secondary.hub", "-hub", "secondary.hub"),
    ("invalid storage name", "secondary.storage_account", "Bad_Name", "secondary.storage_account"),
    ("invalid resource group", "primary.resource_group", "rg/bad", "primary.resource_group"),
    ("negative RPO", "objectives.rpo_minutes", -5, "objectives.rpo_minutes"),
    ("zero RTO", "objectives.rto_minutes", 0, "objectives.rto_minutes"),
    ("unknown strategy", "strategy.default", "hot-lukewarm", "strategy.default"),
    ("unknown cloud", "cloud", "AzureMoon", "cloud"),
    ("typo in a field", "objectives.rpo_minute", 5, "objectives.rpo_minute"),
    ("account key pasted", "primary.hub", KEY, "primary.hub"),
    (
        "SAS pasted",
        "replication.containers",
        ["c?sv=2024-08-04&" + "sig=" + "abcdefghijklmnopqrstuvwxyz0123"],  # fake, built so repo scans stay quiet
        "replication.containers",
    ),
    ("key vault name", "shared.key_vault.name", "kv--bad", "shared.key_vault.name"),
    ("registry name", "shared.container_registry.name", "acr-bad!", "shared.container_registry.name"),
    ("zero concurrency", "replication.concurrency", 0, "replication.concurrency"),
    ("approval timeout", "approvals.timeout_minutes", -1, "approvals.timeout_minutes"),
    (
        "duplicate connection",
        "connections",
        [{"primary": "a", "secondary": "b"}, {"primary": "a", "secondary": "c"}],
        "connections",
    ),
    ("projects not a list", "primary.projects", "proj-chat", "primary.projects"),
]

# (case id, CLI arguments after `run`, file content or None, text the error must contain)
RAW_CASES: list[tuple[str, list[str], str | bytes | None, str]] = [
    ("unknown runbook", ["run", "fail-sideways", "--plan", "{plan}"], None, "fail-sideways"),
    ("malformed --set", ["run", "replicate-artifacts", "--plan", "{plan}", "--set", "objectives"], None, "objectives"),
    ("--set unknown path", ["run", "replicate-artifacts", "--plan", "{plan}", "--set", "nope.x=1"], None, "nope"),
    (
        "--set bad value",
        ["run", "replicate-artifacts", "--plan", "{plan}", "--set", "objectives.rpo_minutes=-1"],
        None,
        "objectives.rpo_minutes",
    ),
    ("missing file", ["run", "replicate-artifacts", "--plan", "{missing}"], None, "does-not-exist.yaml"),
    ("a directory", ["run", "replicate-artifacts", "--plan", "{dir}"], None, "directory"),
    ("not YAML", ["run", "replicate-artifacts", "--plan", "{file}"], "primary: [unclosed", "bad.yaml"),
    ("not a mapping", ["run", "replicate-artifacts", "--plan", "{file}"], "- just\n- a list\n", "mapping"),
    ("not UTF-8", ["run", "replicate-artifacts", "--plan", "{file}"], b"name: \xff\xfe\n", "bad.yaml"),
    ("huge file", ["run", "replicate-artifacts", "--plan", "{file}"], "# " + "x" * (1024 * 1024 + 10), "bad.yaml"),
    (
        "alias bomb",
        ["run", "replicate-artifacts", "--plan", "{file}"],
        'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b]\n',
        "alias",
    ),
    ("drill with bad plan", ["drill", "--plan", "{file}"], "name: x\n", "primary"),
]


@pytest.fixture
def run_cli(sandbox, tmp_path: Path):
    env = dict(os.environ, FOUNDRY_DR_SANDBOX_ENV=str(sandbox.env_path), PREFECT_SERVER_ANALYTICS_ENABLED="false")

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(CLI + args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)

    return run


def _requests_since(control, sandbox, since: float) -> list[dict]:
    return [e for e in control(sandbox, "GET", "/requests") or [] if e["t"] >= since]


def _check(result: subprocess.CompletedProcess[str], expected: str, control, sandbox, since: float) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 2, f"exit {result.returncode}: {out[-800:]}"
    assert expected.lower() in out.lower(), out[-800:]
    assert "Traceback" not in out
    assert _requests_since(control, sandbox, since) == [], "bad input reached the sandbox"


@pytest.mark.parametrize(("case", "path", "value", "expected"), PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_bad_plan_changes_nothing(case, path, value, expected, run_cli, control, sandbox, tmp_path: Path) -> None:
    data = _set(copy.deepcopy(yaml.safe_load(PLAN.read_text())), path, value)
    bad = tmp_path / "plan.yaml"
    bad.write_text(yaml.safe_dump(data))
    since = time.time()
    _check(run_cli(["run", "replicate-artifacts", "--plan", str(bad)]), expected, control, sandbox, since)


@pytest.mark.parametrize(("case", "args", "content", "expected"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_bad_arguments_and_files_change_nothing(
    case, args, content, expected, run_cli, control, sandbox, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    if content is not None:
        bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    values = {
        "plan": str(PLAN),
        "missing": str(tmp_path / "does-not-exist.yaml"),
        "dir": str(tmp_path),
        "file": str(bad),
    }
    since = time.time()
    _check(run_cli([a.format(**values) for a in args]), expected, control, sandbox, since)
