"""``sandbox up/down`` on a sandbox of the test's own (not the session one): idempotence,
the ``env --json`` contract, state kept across a restart, and no process left behind."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient
from azure.storage.blob import BlobServiceClient
from typer.testing import CliRunner

from foundry_dr_sandbox import lifecycle
from foundry_dr_sandbox.cli import app

ENV_KEYS = {
    "arm_endpoint",
    "ca_bundle",
    "cloud_name",
    "cloud_metadata",
    "credential",
    "control_endpoint",
    "regions",
    "storage_accounts",
}


def _recorded(directory: Path) -> dict[str, int]:
    """The pids that ``up`` recorded, by process name."""
    raw = json.loads((directory / "pids.json").read_text())
    return {name: raw[name] for name in lifecycle.PROCESSES}


def _tree(pids: dict[str, int]) -> list[psutil.Process]:
    """The recorded processes and all their descendants."""
    procs = []
    for pid in pids.values():
        proc = psutil.Process(pid)
        procs += [proc, *proc.children(recursive=True)]
    return procs


def _blob(env: dict) -> BlobServiceClient:
    acct = env["storage_accounts"]["stfdreastus"]
    return BlobServiceClient(
        acct["blob_endpoint"], credential={"account_name": "stfdreastus", "account_key": acct["key"]}
    )


def _vault(env: dict) -> SecretClient:
    c = env["credential"]
    cred = ClientSecretCredential(
        c["tenant_id"],
        c["client_id"],
        c["client_secret"],
        authority=c["authority"],
        disable_instance_discovery=True,
        connection_verify=env["ca_bundle"],
    )
    return SecretClient(
        env["keyvault_uri"], cred, verify_challenge_resource=False, connection_verify=env["ca_bundle"]
    )


def test_up_down_purge(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    runner = CliRunner()
    messages: list[str] = []

    config = lifecycle.up(directory, detach=True, echo=messages.append)
    try:
        pids = _recorded(directory)
        assert lifecycle.status(directory)["running"]
        assert (config.server_key_path.stat().st_mode & 0o777) == 0o600

        # idempotent: the second call leaves the running processes alone
        lifecycle.up(directory, detach=True, echo=messages.append)
        assert "already running" in messages[-1]
        assert _recorded(directory) == pids

        result = runner.invoke(app, ["env", "--json", "--dir", str(directory)])
        assert result.exit_code == 0, result.output
        env = json.loads(result.output)
        assert env.keys() >= ENV_KEYS
        assert env["regions"] == ["eastus", "westus"]
        assert {"tenant_id", "client_id", "client_secret", "authority"} <= env["credential"].keys()
        assert {a["region"] for a in env["storage_accounts"].values()} == {"eastus", "westus"}
        assert all({"region", "blob_endpoint", "key"} <= a.keys() for a in env["storage_accounts"].values())

        # some state, to see it survive a restart
        _blob(env).create_container("keepme").upload_blob("a/b.txt", b"persisted")
        _vault(env).set_secret("active-hub", "eastus")

        tree = _tree(pids)
        assert runner.invoke(app, ["down", "--dir", str(directory)]).exit_code == 0
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)
        assert not (directory / "pids.json").exists()
        assert runner.invoke(app, ["status", "--dir", str(directory)]).exit_code == 3

        # a restart keeps blobs and secrets (nothing in memory only)
        lifecycle.up(directory, detach=True, echo=messages.append)
        assert _blob(env).get_blob_client("keepme", "a/b.txt").download_blob().readall() == b"persisted"
        assert _vault(env).get_secret("active-hub").value == "eastus"
        tree = _tree(_recorded(directory))
    finally:
        result = runner.invoke(app, ["down", "--purge", "--dir", str(directory)])
    assert result.exit_code == 0, result.output
    assert not directory.exists()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)


def test_purge_refuses_a_directory_that_is_not_a_sandbox(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(lifecycle.SandboxError):
        lifecycle.down(tmp_path, purge=True, echo=lambda *_: None)
    assert (tmp_path / "precious.txt").exists()


def test_a_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    directory = tmp_path / "sb"
    config = lifecycle.load_or_create(directory)
    config.server_key_path.write_text("not a key")  # kept by ensure_tls; the emulator cannot serve TLS
    try:
        with pytest.raises(lifecycle.SandboxError, match="server") as info:
            lifecycle.up(directory, detach=True, timeout=60, echo=lambda *_: None)
        assert "server.log" in str(info.value)
        assert not (directory / "pids.json").exists()  # Azurite was stopped too
    finally:
        lifecycle.down(directory, purge=True, echo=lambda *_: None)
