"""The runbooks, listed once. Every other list of them is derived from this one.

The CLI's ``run`` command, the plan's ``approvals`` section, ``deployments/serve.py`` and the
check of ``prefect.yaml`` (tests/unit/test_runbooks.py) all read :data:`RUNBOOKS`; adding a
runbook means adding one entry here, a flow module, and its prefect.yaml deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ApprovalMode = Literal["required", "auto"]


@dataclass(frozen=True)
class Runbook:
    """One runbook: its name (the Prefect flow, deployment and CLI name) and where its flow lives."""

    name: str
    module: str  # under foundry_dr.flows (the checkout's flows/ folder)
    approval: ApprovalMode  # the default of the plan's approvals.<name>
    summary: str

    @property
    def function(self) -> str:
        return self.module

    @property
    def import_path(self) -> str:
        """``module:function`` as installed: what the CLI imports."""
        return f"foundry_dr.flows.{self.module}:{self.function}"

    @property
    def entrypoint(self) -> str:
        """``path:function`` relative to the checkout: what prefect.yaml names."""
        return f"flows/{self.module}.py:{self.function}"

    @property
    def field(self) -> str:
        """The attribute name of its approval mode in :class:`foundry_dr.plan.Approvals`."""
        return self.module


RUNBOOKS: tuple[Runbook, ...] = (
    Runbook("provision-secondary", "provision_secondary", "required",
            "create or update the secondary hub, projects and dependencies from the primary"),
    Runbook("replicate-artifacts", "replicate_artifacts", "auto",
            "copy blobs, asset metadata and images to the serving side's twin; record the checkpoint"),
    Runbook("recreate-deployments", "recreate_deployments", "auto",
            "recreate endpoints, deployments and schedules on a side, at the plan's sizing"),
    Runbook("cut-over", "cut_over", "required", "make the secondary serve (planned or unplanned)"),
    Runbook("fail-back", "fail_back", "required", "copy the secondary's writes back and make the primary serve"),
    Runbook("dr-drill", "dr_drill", "auto", "rehearse a cut-over and measure RPO and RTO against the objectives"),
    Runbook("readiness", "readiness", "auto",
            "check, changing nothing, that the secondary could take over now: verdict, score, reasons"),
)
BY_NAME: dict[str, Runbook] = {runbook.name: runbook for runbook in RUNBOOKS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def get(name: str) -> Runbook:
    """The runbook called ``name``; KeyError names the valid ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown runbook {name!r}; expected one of: {', '.join(NAMES)}") from None
