"""The ``foundry-dr`` command line (README.md, "The CLI": a stable contract scripts depend on).

Thin by design: validate input, then hand over to the runbook's Prefect flow. Every bad
input is reported before anything runs (exit 2); runbooks are imported lazily so that
``plan validate`` stays fast and works even when the flows' dependencies are broken.
Extra command groups (``sandbox``) are plugins found through entry points, so product
code never imports the sandbox package.
"""

import importlib
import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from foundry_dr.cli_report import report_app
from foundry_dr.errors import FoundryDrError, PlanError
from foundry_dr.exit_codes import ExitCode
from foundry_dr.plan import Plan, apply_overrides, load_plan, plan_json_schema
from foundry_dr.redact import redact_text as redact
from foundry_dr.runbooks import RUNBOOKS

# Runbook name -> "module:function" of its flow (from the registry), imported only when that
# runbook runs. Each flow is called as flow(plan=Plan, approve=bool, dry_run=bool).
FLOWS: dict[str, str] = {runbook.name: runbook.import_path for runbook in RUNBOOKS}

PLUGIN_GROUP = "foundry_dr.cli"

# Without PREFECT_API_URL a runbook starts Prefect's embedded (ephemeral) server, and Prefect gives
# it 20 s to answer (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS). On a loaded orchestrator,
# which is what the worst day looks like, that start took longer and the cut-over failed with
# "Timed out while attempting to connect to ephemeral Prefect API server". Give it more room
# unless the operator chose a value; set before Prefect is imported (it reads its settings then).
EPHEMERAL_STARTUP_SECONDS = "120"

app = typer.Typer(
    name="foundry-dr",
    help=(
        "Disaster-recovery runbooks for Azure AI Foundry hub projects, as Prefect flows.\n\n"
        "Exit codes: 0 done (or nothing to do), 1 runbook failed or not implemented, 2 bad input, "
        "3 rejected or timed out at approval, 4 the plan's failover lock is held by another run "
        "(nothing changed; retry later)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="Validate a DR plan, or print its JSON schema.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(report_app, name="report")  # foundry_dr/cli_report.py

PlanOption = Annotated[
    Path, typer.Option("--plan", "-p", help="The DR plan (YAML).", show_default=False, metavar="PLAN")
]
ApproveOption = Annotated[
    bool,
    typer.Option("--approve", help="Pre-approve this run's approval gates (recorded in the report)."),
]
FenceOption = Annotated[
    bool,
    typer.Option("--fence-primary", help="dr-drill: rehearse the unplanned cut-over; no call to the primary."),
]


def _exit(code: ExitCode, lines: list[str] | tuple[str, ...] = ()) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(int(code))


def _plan_problems(error: PlanError) -> list[str]:
    """The lines printed for a bad plan: a header naming the file, then ``path: message`` each."""
    if error.source is None:
        return error.problems
    count = len(error.problems)
    return [f"{error.source}: {count} problem{'s' if count != 1 else ''}", *error.problems]


def _load(plan_path: Path, overrides: list[str] | None = None) -> Plan:
    """The validated plan with ``--set`` overrides applied, or exit 2 listing every problem."""
    try:
        plan = load_plan(plan_path)
        return apply_overrides(plan, overrides) if overrides else plan
    except PlanError as exc:
        _exit(ExitCode.BAD_INPUT, _plan_problems(exc))


@app.callback()
def main() -> None:
    """Disaster-recovery runbooks for Azure AI Foundry hub projects."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_SECONDS)


@plan_app.command("validate")
def plan_validate(
    plan: Annotated[Path, typer.Argument(help="The DR plan (YAML).", show_default=False, metavar="PLAN")],
) -> None:
    """Validate a plan: exit 0 with a one-line summary, or exit 2 listing every problem."""
    typer.echo(f"ok: {_load(plan).summary()}")


@plan_app.command("schema")
def plan_schema() -> None:
    """Print the plan's JSON schema (for editors and CI linting)."""
    typer.echo(json.dumps(plan_json_schema(), indent=2))


@app.command("run")
def run(
    runbook: Annotated[
        str, typer.Argument(help=f"One of: {', '.join(FLOWS)}.", metavar="RUNBOOK", show_default=False)
    ],
    plan: PlanOption,
    approve: ApproveOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and report the plan of changes; change nothing.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override a plan value for this run: dotted path, YAML value (repeatable).",
        ),
    ] = None,
    in_process: Annotated[
        bool,
        typer.Option("--in-process", help="Run the flow in this process even when PREFECT_API_URL is set."),
    ] = False,
    fence_primary: FenceOption = False,
) -> None:
    """Run a runbook (PREFECT_API_URL set: its deployment on that server; else in process).

    With PREFECT_API_URL, the run is started on the server and followed to its end; a pause
    for approval prints the run id and the approve/reject commands.
    """
    if runbook not in FLOWS:
        _exit(ExitCode.BAD_INPUT, [f"unknown runbook {runbook!r}; expected one of: {', '.join(FLOWS)}"])
    if fence_primary and runbook != "dr-drill":
        _exit(ExitCode.BAD_INPUT, [f"--fence-primary: only dr-drill is fenced, not {runbook}; drop the option"])
    extra = {"fence_primary": True} if fence_primary else {}
    loaded = _load(plan, overrides)
    if os.environ.get("PREFECT_API_URL") and not in_process:
        # Send the plan the CLI validated, not its path: a relative path means another file (or
        # none) in the worker's directory, and the file may change before the worker reads it.
        _run_remote(runbook, {"plan": loaded.model_dump(mode="json"), "approve": approve, "dry_run": dry_run, **extra})
    _run_runbook(runbook, loaded, approve=approve, dry_run=dry_run, **extra)


def _run_remote(runbook: str, parameters: dict[str, Any]) -> NoReturn:
    """Start the runbook's deployment, follow it to the end, exit with its outcome."""
    from foundry_dr import remote

    try:
        flow_run = remote.start_deployment(runbook, parameters)
        typer.echo(f"started {runbook} run {flow_run.id} ({flow_run.name}) on {remote.api_url()}", err=True)
        if url := remote.run_url(flow_run.id):
            typer.echo(f"follow it in the Prefect UI: {url}", err=True)
        code, state = remote.follow(flow_run.id, lambda line: typer.echo(line, err=True))
    except remote.RemoteError as exc:
        _exit(exc.code, [f"{runbook}: {exc}"])
    except KeyboardInterrupt:
        _exit(ExitCode.FAILED, [f"{runbook}: stopped following; the run goes on ({remote.api_url()})"])
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: server unreachable, auth refused, ...
        _exit(ExitCode.FAILED, [f"{runbook}: Prefect API {remote.api_url()}: {type(exc).__name__}: {redact(str(exc))}"])
    if code == ExitCode.OK and (report := remote.report_markdown(flow_run.id)):
        _print_markdown(report)
    verdict = {ExitCode.OK: "done", ExitCode.REJECTED: "rejected or timed out at approval"}.get(code, "failed")
    _exit(code, [f"{runbook}: {verdict} ({state.name})"])


def _print_markdown(markdown: str) -> None:
    """A runbook report: rendered on a terminal; as its Markdown source elsewhere (a pipe, a CI
    log), where rich would assume 80 columns and cut the tables. Redacted either way: reports
    never carry secrets, but the CLI is the last place to make sure."""
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console()
    if console.is_terminal:
        console.print(Markdown(redact(markdown)))
    else:
        typer.echo(redact(markdown))


RunIdArgument = Annotated[str, typer.Argument(help="The paused flow run's id.", metavar="RUN_ID", show_default=False)]
ApproverOption = Annotated[str, typer.Option("--approver", help="Who decides (name or e-mail).", show_default=False)]
ReasonOption = Annotated[str, typer.Option("--reason", help="Reason or change/incident ticket.", show_default=False)]


ConfirmUnplannedOption = Annotated[bool, typer.Option(
    "--confirm-unplanned",
    help="Confirm an unplanned cut-over while the primary answers healthy (it skips the final sync); "
    "the run's form asks for it then.",
)]


@app.command("approve")
def approve_run(
    run_id: RunIdArgument,
    approver: ApproverOption,
    reason: ReasonOption,
    confirm_unplanned: ConfirmUnplannedOption = False,
) -> None:
    """Approve a runbook run paused for approval (through PREFECT_API_URL).

    When the plan asks for two approvers, the run pauses again after the first approval: a
    second, different person approves it the same way."""
    _resume(run_id, approve=True, approver=approver, reason=reason, confirm_unplanned=confirm_unplanned)


@app.command("reject")
def reject_run(run_id: RunIdArgument, approver: ApproverOption, reason: ReasonOption) -> None:
    """Reject a runbook run paused for approval: it stops, having changed nothing."""
    _resume(run_id, approve=False, approver=approver, reason=reason)


def _resume(run_id: str, *, approve: bool, approver: str, reason: str, confirm_unplanned: bool = False) -> None:
    from foundry_dr import remote

    try:
        flow_run = remote.resume(run_id, approve=approve, approver=approver, reason=reason,
                                 confirm_unplanned=confirm_unplanned)  # fmt: skip
    except remote.RemoteError as exc:
        _exit(exc.code, [str(exc)])
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: server unreachable, ...
        _exit(ExitCode.FAILED, [f"Prefect API {remote.api_url()}: {type(exc).__name__}: {redact(str(exc))}"])
    typer.echo(f"{'approved' if approve else 'rejected'} run {flow_run.id} ({flow_run.name}) as {approver}")


trigger_app = typer.Typer(help="Start runbooks from alerts (Azure Monitor webhooks).", no_args_is_help=True)
app.add_typer(trigger_app, name="trigger")


@trigger_app.command("serve")
def trigger_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    state_file: Annotated[
        Path | None, typer.Option("--state-file", help="Where handled alert ids are kept (survives restarts).")
    ] = None,
    plan: Annotated[
        str | None,
        typer.Option("--plan", help="Plan path passed to cut-over (default: the deployment's own).", metavar="PLAN"),
    ] = None,
) -> None:
    """Receive Azure Monitor alerts; start cut-over (never auto-approved) once per alert id.

    Callers authenticate as an Azure Monitor secure webhook (FOUNDRY_DR_TRIGGER_TENANT_ID and
    FOUNDRY_DR_TRIGGER_AUDIENCE: the action group's tenantId and identifierUri) or with the
    shared secret FOUNDRY_DR_TRIGGER_SECRET (in the webhook URL as ?secret=, or the
    X-Foundry-DR-Secret header).
    """
    from foundry_dr import trigger

    try:
        trigger.serve(host=host, port=port, state_file=state_file, plan=plan)
    except trigger.TriggerConfigError as exc:
        _exit(ExitCode.BAD_INPUT, [str(exc)])


drill_app = typer.Typer(help="Run a DR drill, or clean up what dead drills left.")
app.add_typer(drill_app, name="drill")


@drill_app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    plan: Annotated[
        Path | None, typer.Option("--plan", "-p", help="The DR plan (YAML).", show_default=False, metavar="PLAN")
    ] = None,
    approve: ApproveOption = False,
    fence_primary: FenceOption = False,
) -> None:
    """Run a DR drill (the dr-drill runbook) in this process: test failover, measure RTO/RPO, clean up.

    It reports to PREFECT_API_URL when set (else to an embedded server); to start the server's
    dr-drill deployment instead, use `foundry-dr run dr-drill`."""
    if ctx.invoked_subcommand is not None:
        return
    if plan is None:
        _exit(ExitCode.BAD_INPUT, ["drill: --plan PLAN is required (the DR plan, YAML)"])
    _run_runbook("dr-drill", _load(plan), approve=approve, dry_run=False, fence_primary=fence_primary)


@drill_app.command("cleanup")
def drill_cleanup(plan: PlanOption) -> None:
    """Remove what drills created and did not clean up (a killed drill), once older than the plan's
    drill.max_lifetime_hours: exactly the resources recorded in the secondary's storage, each tagged
    by its drill. Exit 1 if any could not be removed (re-run it)."""
    from foundry_dr.clients import ClientFactory
    from foundry_dr.flows.dr_drill import cleanup_drill_targets

    loaded = _load(plan)
    factory = ClientFactory(loaded)
    try:
        results = cleanup_drill_targets(factory)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary
        _exit(ExitCode.FAILED, [f"drill cleanup failed: {type(exc).__name__}: {redact(str(exc))}"])
    finally:
        factory.close()
    for r in results:
        typer.echo(f"{r['drill']}: {r['resource']}: {r['result']}")
    if not results:
        typer.echo(f"nothing to clean up (no drill target older than {loaded.drill.max_lifetime_hours} h)")
    if any(r.get("error") for r in results):
        _exit(ExitCode.FAILED, ["drill cleanup: some resources could not be removed; re-run it"])


@app.command("status")
def status(
    plan: PlanOption,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 1) when a region's pointer store can't be read, instead of showing the "
        "last known value marked STALE with its age.")] = False,
) -> None:
    """Active region, failover lock, last checkpoint, RPO now (read-only)."""
    loaded = _load(plan)
    from foundry_dr.status import collect_status, render_status

    try:
        report = collect_status(loaded, allow_stale=not strict)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: an unreachable cloud or sandbox is a failure to report, not a crash
        _exit(ExitCode.FAILED, [f"status failed: {type(exc).__name__}: {redact(str(exc))}"])
    typer.echo(json.dumps(report, indent=2) if as_json else render_status(report))


def _run_runbook(name: str, plan: Plan, *, approve: bool, dry_run: bool, **extra: Any) -> None:
    """Import the runbook's flow and call it, mapping its outcome to an exit code."""
    module_name, function_name = FLOWS[name].split(":")
    flow = getattr(importlib.import_module(module_name), function_name)

    api = os.environ.get("PREFECT_API_URL")
    where = f"Prefect API {api}" if api else "an embedded Prefect server (PREFECT_API_URL is not set)"
    mode = " (dry run)" if dry_run else ""
    typer.echo(f"running {name}{mode} for plan {plan.name} on {where}", err=True)
    try:
        result: Any = flow(plan=plan, approve=approve, dry_run=dry_run, **{k: v for k, v in extra.items() if v})
    except PlanError as exc:
        _exit(exc.exit_code, _plan_problems(exc))
    except FoundryDrError as exc:  # an expected failure: its class says the exit code
        if exc.exit_code == ExitCode.FAILED:
            _exit(ExitCode.FAILED, [f"{name} failed: {type(exc).__name__}: {redact(str(exc))}"])
        _exit(exc.exit_code, [f"{name}: {redact(str(exc))}"])
    except Exception as exc:  # noqa: BLE001 - any other runbook failure is exit 1, with its message
        _exit(ExitCode.FAILED, [f"{name} failed: {type(exc).__name__}: {redact(str(exc))}"])
    is_failed = getattr(result, "is_failed", None)
    if callable(is_failed) and is_failed():  # a flow called with return_state=True
        _exit(ExitCode.FAILED, [f"{name} failed: {redact(str(result))}"])
    if isinstance(result, str) and result:
        typer.echo(result)
    if isinstance(result, dict) and result.get("nothing_to_do"):
        typer.echo(redact(str(result.get("summary") or "nothing to do; nothing changed")))
    if isinstance(result, dict) and result.get("report_markdown"):
        _print_markdown(str(result["report_markdown"]))
    if api:
        typer.echo(f"see the run in the Prefect UI at {api.removesuffix('/api')}/runs", err=True)
    verdict = result.get("verdict") if isinstance(result, dict) else None
    if isinstance(verdict, dict) and verdict.get("passed") is False:
        _exit(ExitCode.FAILED, [f"{name}{mode}: completed, but objectives or checks failed: "
                                + ", ".join(k for k, ok in verdict.get("checks", {}).items() if not ok)])
    typer.echo(f"{name}{mode}: done", err=True)


# --- plugins ---------------------------------------------------------------------------------


def register_plugins(target: typer.Typer, group: str = PLUGIN_GROUP) -> None:
    """Add the typer sub-apps declared in entry points ``group`` (e.g. ``sandbox``).

    A plugin that fails to load must not break the product's own commands: it becomes a
    command that explains the failure when (and only when) someone calls it.
    """
    taken = {"plan", "run", "drill", "status", "approve", "reject", "trigger", "report"}
    for ep in entry_points(group=group):
        if ep.name in taken:
            continue  # product commands always win
        try:
            sub_app = ep.load()
            if not isinstance(sub_app, typer.Typer):
                raise TypeError(f"{ep.value} is a {type(sub_app).__name__}, not a typer.Typer")
        except Exception as exc:  # noqa: BLE001 - any import-time failure of a plugin
            _add_unavailable(target, ep.name, ep.value, f"{type(exc).__name__}: {exc}")
        else:
            target.add_typer(sub_app, name=ep.name)
        taken.add(ep.name)


def _add_unavailable(target: typer.Typer, name: str, value: str, reason: str) -> None:
    @target.command(
        name,
        help=f"Unavailable: plugin {value} failed to load.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def unavailable(ctx: typer.Context) -> None:
        typer.echo(f"foundry-dr {name}: unavailable: cannot load plugin {value}: {reason}", err=True)
        raise typer.Exit(int(ExitCode.FAILED))


register_plugins(app)


if __name__ == "__main__":  # `python -m foundry_dr.cli`
    app()
