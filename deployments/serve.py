"""Serve every runbook from one process: the quick start that needs no work pool or worker.

    PREFECT_API_URL=http://127.0.0.1:4200/api .venv/bin/python deployments/serve.py

The deployments (names, descriptions, tags, parameters, schedules, concurrency limits) are
read from ``prefect.yaml`` so the two ways of deploying can never drift apart; only the
work-pool and pull-step settings, which ``serve`` does not use, are ignored.
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from foundry_dr.runbooks import RUNBOOKS

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"


def load_deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` list of prefect.yaml (YAML anchors already resolved)."""
    with path.open(encoding="utf-8") as fh:
        return list(yaml.safe_load(fh)["deployments"])


def load_flow(entrypoint: str) -> Any:
    """The flow that prefect.yaml's ``path/to/file.py:function`` names, imported as installed
    (``foundry_dr.flows.<module>``): the runbook registry pairs the two spellings."""
    by_entrypoint = {runbook.entrypoint: runbook for runbook in RUNBOOKS}
    if entrypoint not in by_entrypoint:
        raise ValueError(f"{entrypoint}: not a runbook's entrypoint (foundry_dr/runbooks.py lists them)")
    module_name, function = by_entrypoint[entrypoint].import_path.split(":")
    return getattr(importlib.import_module(module_name), function)


def schedules_of(spec: dict[str, Any]) -> list[Any]:
    """prefect.yaml schedule entries (interval seconds or cron) as Prefect schedule objects."""
    from prefect.schedules import Cron, Interval

    out = []
    for item in spec.get("schedules") or []:
        common = {"parameters": item.get("parameters") or {}, "slug": item.get("slug")}
        if "interval" in item:
            out.append(Interval(timedelta(seconds=float(item["interval"])), **common))
        elif "cron" in item:
            out.append(Cron(item["cron"], timezone=item.get("timezone"), **common))
        else:
            raise ValueError(f"{spec['name']}: unsupported schedule {item!r} (use interval or cron)")
    return out


def build_deployments(specs: list[dict[str, Any]] | None = None, only: set[str] | None = None) -> list[Any]:
    """One ``RunnerDeployment`` per prefect.yaml entry (or per name in ``only``)."""
    deployments = []
    for spec in specs if specs is not None else load_deployment_specs():
        if only and spec["name"] not in only:
            continue
        flow = load_flow(spec["entrypoint"])
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=list(spec.get("tags") or []),
                parameters=dict(spec.get("parameters") or {}),
                schedules=schedules_of(spec),
                concurrency_limit=spec.get("concurrency_limit"),
                enforce_parameter_schema=bool(spec.get("enforce_parameter_schema", True)),
            )
        )
    return deployments


def main(argv: list[str] | None = None) -> None:
    """Serve all runbooks (or those named on the command line) until interrupted.

    The plan paths in the parameters are relative to the checkout, so serve from there.
    """
    from prefect import serve

    os.chdir(ROOT)
    names = set(argv if argv is not None else sys.argv[1:]) or None
    serve(*build_deployments(only=names))


if __name__ == "__main__":
    main()
