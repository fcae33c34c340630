"""Start, stop and inspect a sandbox: Azurite plus the emulator process.

``up`` is idempotent and safe to call from scripts and test fixtures: a sandbox whose recorded
processes are alive and answering is left alone. Both processes run in their own process
groups (``start_new_session``) so that ``down`` can stop everything they spawned and leave no
orphan behind, and so that a Ctrl-C in the terminal does not hit them twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from foundry_dr_sandbox import azurite
from foundry_dr_sandbox.certs import ensure_tls
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control

REPO_ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("azurite", "server")
READY_TIMEOUT = 120.0  # the emulator imports the SDKs' REST models for its contract check
STOP_TIMEOUT = 10.0


class SandboxError(RuntimeError):
    """A sandbox could not be started or stopped; the message says why and what to do."""


# ---- paths ---------------------------------------------------------------------------------
def pids_path(directory: Path) -> Path:
    return directory / "pids.json"


def logs_dir(directory: Path) -> Path:
    return directory / "logs"


def log_path(directory: Path, name: str) -> Path:
    return logs_dir(directory) / f"{name}.log"


# ---- process helpers -----------------------------------------------------------------------
def _read_pids(directory: Path) -> dict[str, int]:
    try:
        raw = json.loads(pids_path(directory).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {name: int(raw[name]) for name in PROCESSES if name in raw}


def _reap(pid: int) -> None:
    """Collect a child's exit status if it is ours, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (zombies of ours are reaped first)."""
    _reap(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(not _is_zombie(pid) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid``, from /proc (Linux; elsewhere the leader only)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may contain spaces
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    members.append(int(entry.name))
    return members


def _is_zombie(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _stop_group(pgid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)
    if group_alive(pgid):
        raise SandboxError(f"process group {pgid} did not stop after SIGKILL")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


# ---- readiness -----------------------------------------------------------------------------
def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def emulator_healthy(config: SandboxConfig, timeout: float = 2.0) -> bool:
    """GET {control_endpoint}/health over HTTPS, trusting only the sandbox CA."""
    return Control(config).healthy(timeout)


def answering(config: SandboxConfig) -> dict[str, bool]:
    return {
        "azurite": _port_open(config.ports["azurite"]),
        "server": emulator_healthy(config)
        and _port_open(config.ports["storage"])
        and _port_open(config.ports["keyvault"]),
    }


def wait_ready(
    config: SandboxConfig, timeout: float = READY_TIMEOUT, pids: dict[str, int] | None = None
) -> None:
    """Block until Azurite and the emulator answer; fail fast, with the log tail, if one dies."""
    pids = pids if pids is not None else _read_pids(config.dir)
    deadline = time.monotonic() + timeout
    while True:
        for name, pid in pids.items():
            if not pid_alive(pid):
                raise SandboxError(
                    f"the sandbox's {name} process exited during start-up; "
                    f"last lines of {log_path(config.dir, name)}:\n{_tail(log_path(config.dir, name))}"
                )
        state = answering(config)
        if all(state.values()):
            return
        if time.monotonic() > deadline:
            waiting = next(name for name, ok in state.items() if not ok)
            raise SandboxError(
                f"the sandbox's {waiting} did not answer within {timeout:.0f} s; "
                f"last lines of {log_path(config.dir, waiting)}:\n{_tail(log_path(config.dir, waiting))}"
            )
        time.sleep(0.1)


# ---- commands ------------------------------------------------------------------------------
def load_or_create(directory: Path, ports: dict[str, int] | None = None) -> SandboxConfig:
    """The sandbox's config, created on first use; ports given explicitly override saved ones."""
    directory = directory.resolve()
    wanted = {k: int(v) for k, v in (ports or {}).items() if v}
    if (directory / "sandbox.json").is_file():
        config = SandboxConfig.load(directory)
        changed = any(config.ports.get(k) != v for k, v in wanted.items())
        config.ports.update(wanted)
        if not config.token_rsa_key:  # a sandbox.json from before RS256 tokens: give it its key now
            from foundry_dr_sandbox.tokens import new_signing_key

            config.token_rsa_key, changed = new_signing_key(), True
        if changed:
            config.save()
    else:
        config = SandboxConfig.new(directory, wanted)
        config.save()
    os.chmod(directory, 0o700)  # keys, tokens' signing key and TLS key live here
    ensure_tls(config)
    config.write_env()
    return config


def is_running(directory: Path) -> bool:
    pids = _read_pids(directory)
    if set(pids) != set(PROCESSES) or not all(pid_alive(p) for p in pids.values()):
        return False
    return all(answering(SandboxConfig.load(directory)).values())


def _check_ports_free(config: SandboxConfig) -> None:
    busy = [f"{name}={port}" for name, port in config.ports.items() if _port_open(port)]
    if busy:
        raise SandboxError(
            f"port(s) already in use: {', '.join(busy)}. Stop whatever holds them, or pass other "
            "ports (--arm-port, --keyvault-port, --storage-port, --azurite-port)."
        )


def _server_environment() -> dict[str, str]:
    """The caller's environment minus azure-ai-ml's current-cloud marker: MLClient sets
    AZUREML_CURRENT_CLOUD to the sandbox cloud in its own process, and a child that inherits it
    fails to import azure.ai.ml (that custom cloud is registered only in the parent)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AZUREML_")}


def _start(config: SandboxConfig) -> dict[str, int]:
    logs_dir(config.dir).mkdir(parents=True, exist_ok=True)
    started: dict[str, int] = {}
    try:
        with open(log_path(config.dir, "azurite"), "ab") as log:
            started["azurite"] = azurite.start(config, log).pid
        with open(log_path(config.dir, "server"), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "foundry_dr_sandbox.server", "--dir", str(config.dir)],
                cwd=REPO_ROOT,  # `-m` imports the sandbox package from the repository
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=_server_environment(),
            )
            started["server"] = proc.pid
    finally:
        pids_path(config.dir).write_text(json.dumps({**started, "started_at": time.time()}))
    return started


def up(
    directory: Path,
    detach: bool = True,
    ports: dict[str, int] | None = None,
    timeout: float = READY_TIMEOUT,
    echo: Any = print,
) -> SandboxConfig:
    """Start the sandbox in ``directory`` (idempotent) and return its config.

    With ``detach`` it returns once both processes answer. Without, it stays in the foreground
    until Ctrl-C or SIGTERM (or until one of the processes dies) and then stops both.
    """
    directory = Path(directory).resolve()
    config = load_or_create(directory, ports)
    if is_running(directory):
        echo(f"sandbox already running in {directory}")
    else:
        _stop_recorded(directory)  # leftovers of a crashed run
        _check_ports_free(config)
        pids = _start(config)
        try:
            wait_ready(config, timeout, pids)
        except BaseException:
            _stop_recorded(directory)
            raise
        echo(f"sandbox up in {directory} (ARM {config.arm_endpoint}, storage {config.blob_endpoint('')})")
    if not detach:
        _foreground(directory, echo)
    return config


def _foreground(directory: Path, echo: Any) -> None:
    """Stay until Ctrl-C/SIGTERM or a process dies, then stop the sandbox."""
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    echo("press Ctrl-C to stop the sandbox")
    try:
        while not stop:
            dead = [name for name, pid in _read_pids(directory).items() if not pid_alive(pid)]
            if dead:
                echo(f"sandbox process {dead[0]} exited; see {log_path(directory, dead[0])}")
                break
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        down(directory, purge=False, echo=echo)


def _stop_recorded(directory: Path) -> bool:
    """Stop every recorded process group; True if something was running."""
    pids = _read_pids(directory)
    was_running = False
    for pid in pids.values():
        if group_alive(pid):
            was_running = True
            _stop_group(pid)
    pids_path(directory).unlink(missing_ok=True)
    return was_running


def down(directory: Path, purge: bool = False, echo: Any = print) -> None:
    """Stop both processes (no orphan left); with ``purge`` also delete the sandbox directory."""
    directory = Path(directory).resolve()
    if not directory.exists():
        echo(f"no sandbox in {directory}")
        return
    stopped = _stop_recorded(directory)
    echo(f"sandbox stopped in {directory}" if stopped else f"sandbox not running in {directory}")
    if purge:
        # Refuse to delete a directory that is not a sandbox: --dir may point anywhere.
        if not (directory / "sandbox.json").is_file():
            raise SandboxError(f"{directory} does not look like a sandbox (no sandbox.json); not deleting it")
        shutil.rmtree(directory)
        echo(f"sandbox state deleted: {directory}")


def status(directory: Path) -> dict[str, Any]:
    """What is configured and running, for ``sandbox status`` and scripts (no secrets)."""
    directory = Path(directory).resolve()
    if not (directory / "sandbox.json").is_file():
        return {"dir": str(directory), "configured": False, "running": False}
    config = SandboxConfig.load(directory)
    pids = _read_pids(directory)
    alive = {name: pid_alive(pid) for name, pid in pids.items()}
    answers = answering(config) if alive and all(alive.values()) else dict.fromkeys(PROCESSES, False)
    return {
        "dir": str(directory),
        "configured": True,
        "running": bool(alive) and all(alive.values()) and all(answers.values()),
        "processes": {name: {"pid": pids.get(name), "alive": alive.get(name, False),
                             "answering": answers.get(name, False)} for name in PROCESSES},
        "ports": dict(config.ports),
        "arm_endpoint": config.arm_endpoint,
        "control_endpoint": config.control_endpoint,
        "keyvault_uri": config.keyvault_uri,
    }  # fmt: skip
