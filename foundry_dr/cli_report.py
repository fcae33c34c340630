"""``foundry-dr report``: what auditors ask for, read from the secondary region's storage.

``report drills --since 90d [--html FILE]`` prints the drill table of the period (the drill
history kept next to the lock, foundry_dr/stores/drill.py) and can write it as a self-contained
HTML report with the trend plots (foundry_dr/evidence.py). Registered in foundry_dr/cli.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from foundry_dr.exit_codes import ExitCode

report_app = typer.Typer(help="Reports for auditors: the drill table of a period, as text or HTML.",
                         no_args_is_help=True)  # fmt: skip

_PERIOD = re.compile(r"^\s*(\d+)\s*([dhw])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "w": "weeks"}


def parse_period(text: str) -> timedelta:
    """``90d``, ``12w``, ``36h`` -> a timedelta; ValueError otherwise."""
    match = _PERIOD.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a period: use a positive number of days, weeks or hours (90d, 12w, 36h)")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


@report_app.command("drills")
def report_drills(
    plan: Annotated[Path, typer.Option("--plan", "-p", help="The DR plan (YAML).", show_default=False,
                                       metavar="PLAN")],
    since: Annotated[str, typer.Option("--since", help="The period: 90d (days), 12w (weeks) or 36h (hours).",
                                       metavar="PERIOD")] = "90d",
    html_file: Annotated[Path | None, typer.Option("--html", help="Also write the report as self-contained HTML.",
                                                   metavar="FILE", show_default=False)] = None,
) -> None:
    """Print the drills of the period (newest first) from the drill history in the secondary's storage."""
    from foundry_dr.cli import _exit, _load
    from foundry_dr.redact import redact_text

    try:
        period = parse_period(since)
    except ValueError as exc:
        _exit(ExitCode.BAD_INPUT, [f"--since: {exc}"])
    loaded = _load(plan)
    from foundry_dr.clients import ClientFactory
    from foundry_dr.evidence import drill_rows, drills_since, render_drills_html, text_table
    from foundry_dr.flows.evidence import evidence_plots
    from foundry_dr.stores.drill import read_drills

    now = datetime.now(UTC)
    start = now - period
    rto, rpo = loaded.objectives.rto_minutes * 60, loaded.objectives.rpo_minutes * 60
    factory = ClientFactory(loaded)
    try:
        drills = drills_since(read_drills(factory), start)
        plots = evidence_plots(factory, drills) if html_file else {}
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: the secondary's store unreachable, ...
        _exit(ExitCode.FAILED, [f"report drills: the drill history can't be read from the secondary's storage: "
                                f"{type(exc).__name__}: {redact_text(str(exc))}"])  # fmt: skip
    finally:
        factory.close()
    real = [d for d in drills if not d.dry_run]
    typer.echo(f"Drills of plan {loaded.name} since {start.isoformat(timespec='minutes')}: {len(real)} drill(s), "
               f"{sum(1 for d in real if d.passed)} passed (objectives: RTO {rto / 60:.0f} min, "
               f"RPO {rpo / 60:.0f} min)")  # fmt: skip
    rows = drill_rows(drills, rto, rpo)
    typer.echo(text_table(rows) if rows else "no drill in the period")
    if html_file:
        page = render_drills_html(loaded.name, drills, since=start, rto_objective_seconds=rto,
                                  rpo_objective_seconds=rpo, plots=plots, now=now)  # fmt: skip
        try:
            html_file.write_text(page, encoding="utf-8")
        except OSError as exc:
            _exit(ExitCode.BAD_INPUT, [f"--html: cannot write {html_file}: {exc.strerror or exc}"])
        typer.echo(f"wrote {html_file}", err=True)
