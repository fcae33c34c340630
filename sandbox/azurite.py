"""Locate and start Azurite, Microsoft's storage emulator (npm ``azurite``, pinned in package.json).

One Azurite instance serves every storage account of the sandbox: server-side copies between
accounts only work inside one instance. Clients never talk to it directly; they go through the
fault-injecting storage proxy (:mod:`foundry_dr_sandbox.storage_proxy`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO

from foundry_dr_sandbox.config import SandboxConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_VERSION = "3.37.0"
KEEP_ALIVE_SECONDS = 600  # above foundry_dr_sandbox.upstream.IDLE_SECONDS, so Azurite never closes first


class AzuriteNotInstalled(RuntimeError):
    pass


def azurite_executable() -> Path:
    """``node_modules/.bin/azurite-blob`` of the repository (installed by ``npm ci``)."""
    candidates = [
        REPO_ROOT / "node_modules" / ".bin" / "azurite-blob",
        Path.cwd() / "node_modules" / ".bin" / "azurite-blob",
    ]
    for path in candidates:
        if path.exists():
            return path
    hint = "run `npm ci` in the repository root (needs Node 20+)"
    if shutil.which("node") is None:
        hint = "install Node.js 20+, then run `npm ci` in the repository root"
    raise AzuriteNotInstalled(f"Azurite {AZURITE_VERSION} is not installed: {hint}")


def accounts_variable(config: SandboxConfig) -> str:
    """``AZURITE_ACCOUNTS``: ``name:key;name:key`` (keys are base64, as Azurite expects)."""
    return ";".join(f"{name}:{acct.key}" for name, acct in config.storage_accounts.items())


def command(config: SandboxConfig) -> list[str]:
    return [
        str(azurite_executable()),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(config.ports["azurite"]),
        "--location", str(config.azurite_dir),
        "--skipApiVersionCheck",  # newer SDKs send api-versions Azurite does not know yet
        "--loose",  # ignore headers Azurite does not implement instead of failing
        "--silent",  # no access log: it would only duplicate the sandbox's request log
        "--disableTelemetry",
        "--blobKeepAliveTimeout", str(KEEP_ALIVE_SECONDS),  # the proxy pools connections (foundry_dr_sandbox.upstream)
    ]  # fmt: skip


def start(config: SandboxConfig, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start Azurite detached in its own process group (so ``down`` can stop it as a group)."""
    config.azurite_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, AZURITE_ACCOUNTS=accounts_variable(config))
    return subprocess.Popen(
        command(config),
        cwd=config.dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


# ---- the emulator's own calls to Azurite ---------------------------------------------------
# What an Azure RP does in storage on its own (the ML RP creates a workspace's default container;
# it lists the blobs behind a model path before registering it). The emulator calls Azurite
# directly, not through the storage proxy: the ARM app and the proxy share one event loop and an
# ARM handler is synchronous, so a call through the proxy would wait on the loop it is blocking.
# No retries and short timeouts: without Azurite (the ARM app served alone, for control-plane
# tests) these calls answer "unknown" at once instead of failing the ARM request.
_CLIENTS: dict[tuple[int, str], object] = {}
_CLIENTS_LOCK = threading.Lock()


def _service(config: SandboxConfig, account: str):  # -> azure.storage.blob.BlobServiceClient
    from azure.storage.blob import BlobServiceClient

    key = (int(config.ports["azurite"]), account)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = BlobServiceClient(
                f"http://127.0.0.1:{key[0]}/{account}",
                credential={"account_name": account, "account_key": config.storage_accounts[account].key},
                retry_total=0,
                connection_timeout=2,
                read_timeout=10,
            )
            _CLIENTS[key] = client
        return client


def ensure_container(config: SandboxConfig, account: str, container: str) -> bool | None:
    """Create ``container`` in ``account`` unless it exists. True when it exists afterwards; None when
    Azurite cannot be reached; False for an account that is not the sandbox's."""
    from azure.core.exceptions import AzureError, ResourceExistsError

    if account not in config.storage_accounts:
        return False
    try:
        _service(config, account).create_container(container)
    except ResourceExistsError:
        pass
    except AzureError:
        return None
    return True


def holds_blobs(config: SandboxConfig, account: str, container: str, prefix: str) -> bool | None:
    """Whether at least one blob's name starts with ``prefix`` in ``account``/``container``; None when
    that cannot be told (not a sandbox account, Azurite unreachable)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    if account not in config.storage_accounts:
        return None
    cc = _service(config, account).get_container_client(container)
    try:
        return next(iter(cc.list_blob_names(name_starts_with=prefix or None, results_per_page=1)), None) is not None
    except ResourceNotFoundError:
        return False
    except AzureError:
        return None
