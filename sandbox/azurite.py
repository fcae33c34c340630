"""Locate and start Azurite, Microsoft's storage emulator (npm ``azurite``, pinned in package.json).

One Azurite instance serves every storage account of the sandbox: server-side copies between
accounts only work inside one instance. Clients never talk to it directly; they go through the
fault-injecting storage proxy (:mod:`foundry_dr_sandbox.storage_proxy`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
