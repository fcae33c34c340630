"""``foundry-dr sandbox ...``: start, stop and break the local two-region Azure.

Mounted into the ``foundry-dr`` CLI through the ``foundry_dr.cli`` entry point, so the product
package never imports the sandbox. Fault commands talk to the running emulator's control API
(``{control_endpoint}/faults``, ``/heal``, ``/requests``) over HTTPS with the sandbox CA.
Bad input exits with 2 and names the option; a sandbox that is not running exits with 1.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from foundry_dr_sandbox import lifecycle
from foundry_dr_sandbox.azurite import AzuriteNotInstalled
from foundry_dr_sandbox.config import REGIONS, SandboxConfig, sandbox_dir
from foundry_dr_sandbox.control import Control

app = typer.Typer(
    help="A local two-region Azure (Azurite + an ARM emulator) to rehearse DR drills without a subscription.",
    no_args_is_help=True,
)
faults_app = typer.Typer(help="Inject throttling, latency and failures; heal; show.", no_args_is_help=True)
app.add_typer(faults_app, name="faults")

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Sandbox directory (default: $FOUNDRY_DR_SANDBOX_DIR, else ./.sandbox)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class OutageMode(StrEnum):
    http503 = "503"
    reset = "reset"


class Service(StrEnum):
    arm = "arm"
    storage = "storage"
    keyvault = "keyvault"
    scoring = "scoring"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _config(directory: Path | None) -> SandboxConfig:
    path = sandbox_dir(directory)
    try:
        return SandboxConfig.load(path)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc


def _control(config: SandboxConfig, method: str, path: str, body: dict | None = None) -> Any:
    """Call the control API; exit 1 with a clear message when the sandbox is not running."""
    try:
        return Control(config).request(method, path, body)
    except httpx.TransportError as exc:
        raise _fail(f"sandbox not running in {config.dir} (run `foundry-dr sandbox up --detach`)") from exc
    except httpx.HTTPStatusError as exc:
        resp = exc.response
        raise _fail(f"control API {method} {path} answered {resp.status_code}: {resp.text[:500]}") from exc


def _print_faults(state: dict) -> None:
    typer.echo(json.dumps(state, indent=2))


# ---- lifecycle ---------------------------------------------------------------------------
@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once the sandbox answers.")] = False,
    directory: DirOption = None,
    arm_port: Annotated[int | None, typer.Option(help="ARM/token/control port (HTTPS).")] = None,
    keyvault_port: Annotated[int | None, typer.Option(help="Key Vault port (HTTPS).")] = None,
    storage_port: Annotated[int | None, typer.Option(help="Storage proxy port (http).")] = None,
    azurite_port: Annotated[int | None, typer.Option(help="Azurite's own port (behind the proxy).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sandbox to answer.", min=1)] = 120,
) -> None:
    """Start Azurite and the emulator (idempotent). Ports are picked free unless given."""
    ports = {"arm": arm_port, "keyvault": keyvault_port, "storage": storage_port, "azurite": azurite_port}
    for name, port in ports.items():
        if port is not None and not 1 <= port <= 65535:
            raise typer.BadParameter(f"{port} is not a TCP port", param_hint=f"--{name}-port")
    try:
        lifecycle.up(
            sandbox_dir(directory),
            detach=detach,
            ports={k: v for k, v in ports.items() if v},
            timeout=timeout,
            echo=typer.echo,
        )
    except (lifecycle.SandboxError, AzuriteNotInstalled) as exc:
        raise _fail(str(exc)) from exc


@app.command()
def down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete the sandbox's state.")] = False,
    directory: DirOption = None,
) -> None:
    """Stop both processes (nothing left behind); --purge also deletes the directory."""
    try:
        lifecycle.down(sandbox_dir(directory), purge=purge, echo=typer.echo)
    except lifecycle.SandboxError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def status(directory: DirOption = None, as_json: JsonOption = False) -> None:
    """Whether the sandbox is configured and running, with its endpoints (no secrets)."""
    info = lifecycle.status(sandbox_dir(directory))
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        state = "running" if info["running"] else ("stopped" if info["configured"] else "not configured")
        typer.echo(f"sandbox {state}: {info['dir']}")
        for name, proc in info.get("processes", {}).items():
            typer.echo(f"  {name}: pid {proc['pid']} alive={proc['alive']} answering={proc['answering']}")
    if not info["running"]:
        raise typer.Exit(3)


@app.command()
def env(directory: DirOption = None, as_json: JsonOption = False) -> None:
    """Endpoints and credentials for clients. --json prints the contract document (with keys)."""
    config = _config(directory)
    doc = config.env()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    # Human form: no secrets on the terminal; --json (or DIR/env.json) has them.
    typer.echo(f"arm_endpoint:     {doc['arm_endpoint']}")
    typer.echo(f"control_endpoint: {doc['control_endpoint']}")
    typer.echo(f"keyvault_uri:     {doc['keyvault_uri']}")
    typer.echo(f"ca_bundle:        {doc['ca_bundle']}")
    typer.echo(f"tenant_id:        {doc['credential']['tenant_id']}")
    for name, acct in doc["storage_accounts"].items():
        typer.echo(f"storage {name:<18} {acct['region']:<8} {acct['blob_endpoint']}")
    typer.echo(f"credentials and keys: `foundry-dr sandbox env --json` or {config.env_path}")


@app.command()
def seed(
    scale: Annotated[int, typer.Option(help="Size factor of the seeded data.", min=1)] = 1,
    directory: DirOption = None,
) -> None:
    """Build a production-like primary hub in the primary region."""
    try:
        from foundry_dr_sandbox import seed as seed_module
    except ImportError:
        seed_module = None
    seed_fn = getattr(seed_module, "seed", None)
    if seed_fn is None:
        raise _fail("not implemented yet: sandbox seed")
    config = _config(directory)
    seed_fn(config, scale=scale)


# ---- faults ------------------------------------------------------------------------------
def _check_region(config: SandboxConfig, region: str) -> str:
    known = config.regions or REGIONS
    if region not in known:
        raise typer.BadParameter(
            f"unknown region '{region}' (known: {', '.join(known)})", param_hint="REGION"
        )
    return region


@app.command()
def outage(
    region: Annotated[str, typer.Argument(help="Region to take down, e.g. eastus.")],
    heal: Annotated[bool, typer.Option("--heal", help="Bring the region back.")] = False,
    mode: Annotated[OutageMode, typer.Option(help="503 answers, or connection resets.")] = OutageMode.http503,
    directory: DirOption = None,
) -> None:
    """Take a region down (every ARM, storage and scoring call touching it fails) or heal it."""
    config = _config(directory)
    _check_region(config, region)
    spec = {"outage": {"region": region, "down": not heal, "mode": mode.value}}
    _control(config, "POST", "/faults", spec)
    typer.echo(f"{region}: {'healed' if heal else f'down ({mode.value})'}")


@faults_app.command()
def throttle(
    rate: Annotated[float, typer.Option(help="Share of calls answered 429 (storage: 503 ServerBusy), 0..1.")],
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds.", min=0)] = 1,
    service: Annotated[Service | None, typer.Option(help="Only this service (default: all).")] = None,
    directory: DirOption = None,
) -> None:
    """Throttle a share of the calls."""
    if not 0.0 <= rate <= 1.0:
        raise typer.BadParameter(f"{rate} is not between 0 and 1", param_hint="--rate")
    config = _config(directory)
    spec = {
        "throttle": {"rate": rate, "retry_after": retry_after, "service": service.value if service else None}
    }
    _print_faults(_control(config, "POST", "/faults", spec))


@faults_app.command()
def latency(
    ms: Annotated[int, typer.Argument(help="Milliseconds added to every call.", min=0)],
    directory: DirOption = None,
) -> None:
    """Add latency to every call."""
    _print_faults(_control(_config(directory), "POST", "/faults", {"latency_ms": ms}))


@faults_app.command("fail-nth")
def fail_nth(
    n: Annotated[int, typer.Argument(help="Fail the N-th matching call from now.", min=1)],
    status_code: Annotated[
        int, typer.Option("--status", help="HTTP status to answer.", min=400, max=599)
    ] = 500,
    code: Annotated[str | None, typer.Option(help="Error code (default from the status).")] = None,
    service: Annotated[Service | None, typer.Option(help="Only calls to this service.")] = None,
    method: Annotated[str | None, typer.Option(help="Only this HTTP method.")] = None,
    path_contains: Annotated[str | None, typer.Option(help="Only paths containing this text.")] = None,
    region: Annotated[str | None, typer.Option(help="Only calls touching this region.")] = None,
    directory: DirOption = None,
) -> None:
    """Fail the N-th call that matches the filters."""
    config = _config(directory)
    if region is not None and region not in (config.regions or REGIONS):
        raise typer.BadParameter(f"unknown region '{region}'", param_hint="--region")
    rule: dict[str, Any] = {"n": n, "status": status_code}
    default_codes = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
    rule["code"] = code or default_codes.get(status_code, f"Http{status_code}")
    for key, value in (
        ("service", service.value if service else None),
        ("method", method.upper() if method else None),
        ("path_contains", path_contains),
        ("region", region),
    ):
        if value is not None:
            rule[key] = value
    _print_faults(_control(config, "POST", "/faults", {"fail_nth": rule}))


@faults_app.command("heal")
def faults_heal(directory: DirOption = None) -> None:
    """Remove every fault (outages included)."""
    _control(_config(directory), "POST", "/heal")
    typer.echo("all faults healed")


@faults_app.command("show")
def faults_show(directory: DirOption = None) -> None:
    """Print the faults in force."""
    _print_faults(_control(_config(directory), "GET", "/faults"))


# ---- request log -------------------------------------------------------------------------
@app.command()
def requests(
    as_json: JsonOption = False,
    clear: Annotated[bool, typer.Option("--clear", help="Empty the log.")] = False,
    service: Annotated[Service | None, typer.Option(help="Only this service.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    directory: DirOption = None,
) -> None:
    """The request log (method, path, status, region); --clear empties it."""
    config = _config(directory)
    if clear:
        _control(config, "DELETE", "/requests")
        typer.echo("request log cleared")
        return
    entries = _control(config, "GET", "/requests") or []
    if isinstance(entries, dict):  # tolerate {"value": [...]}
        entries = entries.get("value", [])
    entries = [
        e
        for e in entries
        if (service is None or e.get("service") == service.value)
        and (region is None or e.get("region") == region)
    ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        typer.echo(
            f"{e.get('t', 0):.3f} {e.get('service', ''):<8} {str(e.get('region') or '-'):<8} "
            f"{e.get('status', 0):>3} {e.get('method', ''):<6} {e.get('path', '')}"
        )
