"""The CLI contract (README.md, "The CLI"): exit codes, messages, dispatch, plugins."""

from __future__ import annotations

import json
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml
from typer.testing import CliRunner

from foundry_dr import cli
from foundry_dr.errors import RunbookRejected
from foundry_dr.exit_codes import ExitCode
from foundry_dr.plan import Plan
from foundry_dr.runbooks import NAMES as RUNBOOK_NAMES

runner = CliRunner()
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def invoke(*args: str | Path, app: typer.Typer | None = None) -> Any:
    return runner.invoke(app or cli.app, [str(a) for a in args])


@pytest.fixture
def fake_flows(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Point every runbook at a fake flow module; ``calls`` records how each was called."""
    state: dict[str, Any] = {"calls": [], "behaviour": None}
    module = types.ModuleType("fake_foundry_flows")

    def make(name: str) -> Any:
        def flow(**kwargs: Any) -> Any:
            state["calls"].append((name, kwargs))
            if state["behaviour"]:
                return state["behaviour"]()
            return None

        return flow

    for runbook in RUNBOOK_NAMES:
        function = runbook.replace("-", "_")
        setattr(module, function, make(runbook))
        monkeypatch.setitem(cli.FLOWS, runbook, f"fake_foundry_flows:{function}")
    monkeypatch.setitem(sys.modules, "fake_foundry_flows", module)
    return state


@pytest.mark.parametrize(
    "command", [[], ["plan"], ["plan", "validate"], ["plan", "schema"], ["run"], ["drill"], ["status"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


# --- plan validate / schema ------------------------------------------------------------------


def test_validate_ok_prints_one_line(sandbox_plan_path: Path) -> None:
    result = invoke("plan", "validate", sandbox_plan_path)
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.strip().splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("ok: contoso-sandbox (sandbox)")


def test_validate_lists_every_problem(write_plan: Any, sandbox_plan_data: dict[str, Any]) -> None:
    sandbox_plan_data["name"] = "Bad Name"
    sandbox_plan_data["secondary"]["location"] = "eastus"
    sandbox_plan_data["objectives"]["rto_minutes"] = 0
    result = invoke("plan", "validate", write_plan(sandbox_plan_data))
    assert result.exit_code == ExitCode.BAD_INPUT
    lines = result.stderr.splitlines()
    assert "3 problems" in lines[0]
    assert {line.split(": ", 1)[0] for line in lines[1:]} == {
        "name",
        "secondary.location",
        "objectives.rto_minutes",
    }
    assert result.stdout == ""


@pytest.mark.parametrize("content", [None, "- a list\n", "a: [\n", "a: &x 1\nb: *x\n"])
def test_validate_bad_files_exit_2_with_one_line(
    write_plan: Any, tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "missing.yaml" if content is None else write_plan(content)
    result = invoke("plan", "validate", path)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr


def test_secret_in_plan_is_refused(write_plan: Any, sandbox_plan_data: dict[str, Any]) -> None:
    sandbox_plan_data["primary"]["storage_account"] = ACCOUNT_KEY
    result = invoke("plan", "validate", write_plan(sandbox_plan_data))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "primary.storage_account: looks like a secret" in result.stderr
    assert "secrets never go in a plan" in result.stderr
    assert ACCOUNT_KEY[:16] not in result.output


def test_schema_validates_the_shipped_plans(sandbox_plan_path: Path, example_plan_path: Path) -> None:
    result = invoke("plan", "schema")
    assert result.exit_code == 0
    validator = jsonschema.Draft202012Validator(json.loads(result.stdout))
    for path in (sandbox_plan_path, example_plan_path):
        validator.validate(yaml.safe_load(path.read_text()))
    assert list(validator.iter_errors({"name": "x"}))  # and it does reject things


# --- run -------------------------------------------------------------------------------------


def test_unknown_runbook_names_the_valid_ones(sandbox_plan_path: Path) -> None:
    result = invoke("run", "failover", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "unknown runbook 'failover'" in result.stderr
    for name in RUNBOOK_NAMES:
        assert name in result.stderr


def test_bad_plan_stops_before_dispatch(
    write_plan: Any, sandbox_plan_data: dict[str, Any], fake_flows: Any
) -> None:
    sandbox_plan_data["cloud"] = "Azure"
    result = invoke("run", "replicate-artifacts", "--plan", write_plan(sandbox_plan_data))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "cloud: " in result.stderr
    assert fake_flows["calls"] == []


def test_run_dispatches_with_plan_and_flags(sandbox_plan_path: Path, fake_flows: Any) -> None:
    result = invoke(
        "run", "cut-over", "--plan", sandbox_plan_path, "--approve", "--dry-run",
        "--set", "replication.concurrency=3", "--set", "objectives.rpo_minutes=5",
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.output
    [(name, kwargs)] = fake_flows["calls"]
    assert name == "cut-over"
    assert kwargs["approve"] is True and kwargs["dry_run"] is True
    plan = kwargs["plan"]
    assert isinstance(plan, Plan)
    assert plan.replication.concurrency == 3 and plan.objectives.rpo_minutes == 5


def test_run_defaults_do_not_approve(sandbox_plan_path: Path, fake_flows: Any) -> None:
    result = invoke("run", "provision-secondary", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.OK, result.output
    [(_, kwargs)] = fake_flows["calls"]
    assert kwargs["approve"] is False and kwargs["dry_run"] is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("concurrency", "expected KEY=VALUE"),
        ("=3", "empty key"),
        ("replication.concurency=3", "did you mean 'replication.concurrency'?"),
        ("replication.concurrency=0", "replication.concurrency: "),
    ],
)
def test_malformed_set_exits_2(sandbox_plan_path: Path, fake_flows: Any, override: str, message: str) -> None:
    result = invoke("run", "replicate-artifacts", "--plan", sandbox_plan_path, "--set", override)
    assert result.exit_code == ExitCode.BAD_INPUT
    assert message in result.stderr
    assert fake_flows["calls"] == []


def test_rejection_exits_3(sandbox_plan_path: Path, fake_flows: Any) -> None:
    def reject() -> None:
        raise RunbookRejected("cut-over", "not during business hours", approver="ops")

    fake_flows["behaviour"] = reject
    result = invoke("run", "cut-over", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.REJECTED
    assert "rejected at approval by ops: not during business hours" in result.stderr


def test_approval_timeout_exits_3(sandbox_plan_path: Path, fake_flows: Any) -> None:
    def time_out() -> None:
        raise RunbookRejected("fail-back", timed_out=True)

    fake_flows["behaviour"] = time_out
    result = invoke("run", "fail-back", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.REJECTED
    assert "approval timed out" in result.stderr


def test_runbook_failure_exits_1_without_leaking_secrets(sandbox_plan_path: Path, fake_flows: Any) -> None:
    def fail() -> None:
        raise RuntimeError(f"copy failed with AccountKey={ACCOUNT_KEY}")

    fake_flows["behaviour"] = fail
    result = invoke("run", "replicate-artifacts", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.FAILED
    assert "replicate-artifacts failed: RuntimeError: copy failed" in result.stderr
    assert ACCOUNT_KEY[:16] not in result.output


def test_failed_state_exits_1(sandbox_plan_path: Path, fake_flows: Any) -> None:
    class FailedState:
        def is_failed(self) -> bool:
            return True

        def __str__(self) -> str:
            return "Failed('boom')"

    fake_flows["behaviour"] = FailedState
    result = invoke("run", "recreate-deployments", "--plan", sandbox_plan_path)
    assert result.exit_code == ExitCode.FAILED
    assert "Failed('boom')" in result.stderr


def test_drill_runs_dr_drill(sandbox_plan_path: Path, fake_flows: Any) -> None:
    result = invoke("drill", "--plan", sandbox_plan_path, "--approve")
    assert result.exit_code == ExitCode.OK, result.output
    assert [(n, k["approve"], k["dry_run"]) for n, k in fake_flows["calls"]] == [("dr-drill", True, False)]


def test_status_validates_then_says_how_to_reach_the_sandbox(
    sandbox_plan_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("status", "--plan", tmp_path / "nope.yaml").exit_code == ExitCode.BAD_INPUT
    monkeypatch.setenv("FOUNDRY_DR_SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    monkeypatch.delenv("FOUNDRY_DR_SANDBOX_ENV", raising=False)
    result = invoke("status", "--plan", sandbox_plan_path, "--json")
    assert result.exit_code == ExitCode.FAILED
    assert "sandbox up" in result.stderr


# --- plugins ---------------------------------------------------------------------------------


def _plugin_app() -> typer.Typer:
    plugin = typer.Typer()

    @plugin.command("hello")
    def hello() -> None:
        typer.echo("hello from plugin")

    @plugin.command("bye")
    def bye() -> None:
        typer.echo("bye")

    return plugin


def test_plugins_are_added_and_broken_ones_do_not_break_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.ModuleType("fake_good_plugin")
    good.app = _plugin_app()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_good_plugin", good)
    points = [
        EntryPoint(name="sandbox", value="fake_good_plugin:app", group=cli.PLUGIN_GROUP),
        EntryPoint(name="broken", value="fake_missing_plugin_xyz:app", group=cli.PLUGIN_GROUP),
        EntryPoint(name="plan", value="fake_good_plugin:app", group=cli.PLUGIN_GROUP),
    ]
    monkeypatch.setattr(cli, "entry_points", lambda group: [ep for ep in points if ep.group == group])
    target = typer.Typer()

    @target.command("plan")
    def plan() -> None:
        typer.echo("product plan command")

    cli.register_plugins(target)

    assert invoke("sandbox", "hello", app=target).stdout == "hello from plugin\n"
    assert invoke("plan", app=target).stdout == "product plan command\n"  # not hijacked
    assert invoke("--help", app=target).exit_code == 0
    broken = invoke("broken", "up", "--detach", app=target)
    assert broken.exit_code == ExitCode.FAILED
    assert "cannot load plugin fake_missing_plugin_xyz:app" in broken.stderr


def test_the_embedded_server_gets_time_to_start_on_a_loaded_machine(tmp_path: Path) -> None:
    """Prefect's 20 s ephemeral-server start timeout failed a worst-day cut-over under load; the
    CLI raises it before Prefect reads its settings, unless the operator set a value."""
    import subprocess

    probe = (
        "import os, sys\n"
        "from typer.testing import CliRunner\n"
        "from foundry_dr.cli import app\n"
        "CliRunner().invoke(app, ['plan', 'schema'])\n"
        "assert 'prefect' not in sys.modules or os.environ.get('PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS')\n"
        "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as s\n"
        "print(s.value())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == cli.EPHEMERAL_STARTUP_SECONDS
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "45"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "45"


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_answering_without_a_configured_server_says_so(command: str) -> None:
    """Without an API URL Prefect's client starts a temporary server, where no paused run exists:
    the CLI must say no server is configured, not 'no flow run'."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = invoke(command, "6c6b1a36-6a8f-4d43-9a46-1d7a0f2c9e11", "--approver", "a", "--reason", "b")
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "no Prefect server is configured: set PREFECT_API_URL" in result.output


def test_a_report_sent_to_a_pipe_keeps_its_tables_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a terminal: rich would render at 80 columns and cut wide tables; the Markdown goes out whole."""
    row = f"| {'x' * 70} | {'y' * 70} |"
    cli._print_markdown(f"# report\n\n| a | b |\n|---|---|\n{row}\n")
    assert row in capsys.readouterr().out
