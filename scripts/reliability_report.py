#!/usr/bin/env python3
"""Write docs/reliability.md from a real run of the reliability suite (tests/reliability).

    .venv/bin/python scripts/reliability_report.py                 # run the whole suite, write the doc
    .venv/bin/python scripts/reliability_report.py --junit FILE    # only render an existing junit file

The suite records, per test, what it saw (``outcome``), what it verified (``verified``) and how often
the injected fault hit the run (``fault_hits``) with ``record_property``; they land in the junit XML
(``junit_family=legacy``), which this script turns into the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = "tests/reliability"
DOC = ROOT / "docs" / "reliability.md"
COMMAND = "`.venv/bin/python scripts/reliability_report.py`"

# test function -> (area, runbook)
AREAS: dict[str, tuple[str, str]] = {
    "test_replicate_artifacts_under_fault": ("fault matrix", "replicate-artifacts"),
    "test_replicate_artifacts_sigkilled_then_rerun": ("fault matrix", "replicate-artifacts"),
    "test_recreate_deployments_under_fault": ("fault matrix", "recreate-deployments"),
    "test_unplanned_cut_over_with_primary_down_and_secondary_throttled": ("fault matrix", "cut-over"),
    "test_cut_over_assessment_rides_out_one_throttled_probe": ("fault matrix", "cut-over (dry run)"),
    "test_no_secret_in_logs_artifacts_results_output_or_files_after_a_full_drill": ("secrets", "dr-drill + CLI"),
    "test_scanner_finds_what_it_is_meant_to_find": ("secrets", "(scanner self-check)"),
    "test_reader_fails_at_the_first_write_without_retrying": ("authorization", ""),
    "test_one_runs_the_others_fail_naming_the_lock": ("concurrency", "cut-over, fail-back, dr-drill"),
    "test_a_waiting_drill_runs_only_after_the_holder_released": ("concurrency", "cut-over, dr-drill"),
    "test_fresh_orchestrators_fail_over_and_back_with_the_primary_region_down":
        ("worst day", "cut-over, status, fail-back (CLI)"),
    "test_1_fail_back_verify_never_repairs_a_newer_primary_blob": ("nothing lost", "fail-back"),
    "test_2_forward_replication_refused_while_the_secondary_serves": ("nothing lost", "replicate-artifacts"),
    "test_2_fail_back_uses_the_recovery_point_recorded_at_cut_over": ("nothing lost", "fail-back"),
    "test_3_recovery_point_is_the_listing_start": ("nothing lost", "replicate-artifacts"),
    "test_4_mirror_deletes_never_delete_a_primary_write_after_the_recovery_point": ("nothing lost", "fail-back"),
    "test_5_append_blobs_keep_their_type_and_never_switch_the_pair": ("nothing lost", "replicate-artifacts"),
    "test_6_archived_blobs_are_named_and_the_rpo_is_not_met": ("nothing lost", "replicate-artifacts"),
    "test_6_adls_gen2_datastores_are_replicated": ("nothing lost", "replicate-artifacts"),
    "test_7_a_writer_during_fail_back_never_loses_its_write": ("nothing lost", "fail-back"),
    "test_7_a_re_run_keeps_a_second_primary_version_and_copies_stay_outside_datastores":
        ("nothing lost", "fail-back"),
    "test_random_histories_lose_nothing": ("nothing lost", "history checker"),
    "test_200_random_histories_lose_nothing": ("nothing lost", "history checker"),
}
SCENARIOS: dict[str, str] = {
    "test_replicate_artifacts_sigkilled_then_rerun": "runbook process SIGKILLed mid-copy, then re-run",
    "test_unplanned_cut_over_with_primary_down_and_secondary_throttled":
        "primary region down (connection resets) + 30 % ARM throttling, unplanned cut-over",
    "test_cut_over_assessment_rides_out_one_throttled_probe":
        "primary down, one 429 on the secondary hub's probe (deterministic form of the throttled cut-over)",
    "test_no_secret_in_logs_artifacts_results_output_or_files_after_a_full_drill":
        "full drill with DEBUG logging; scan logs, artifacts, states, variables, CLI output, checkpoints, template",
    "test_scanner_finds_what_it_is_meant_to_find": "planted key, SAS, JWT and client secret are all found",
    "test_one_runs_the_others_fail_naming_the_lock":
        "cut-over (paused, holding the lock) + fail-back + dr-drill started together",
    "test_a_waiting_drill_runs_only_after_the_holder_released":
        "dr-drill waits on a paused cut-over's lock, runs after the rejection",
    "test_fresh_orchestrators_fail_over_and_back_with_the_primary_region_down":
        "primary region down (vault read-only); every step from a brand-new Prefect home: two cut-overs at once, "
        "SIGKILL of the holder, take-over after the lease, status, heal, fail-back",
    "test_random_histories_lose_nothing": "seeded random histories (CI: FOUNDRY_DR_HISTORIES, default 6)",
    "test_200_random_histories_lose_nothing": "200 seeded random histories",
}
NOT_COVERED = [
    "Region outage starting at *each* task boundary: the matrix starts the secondary outage once the first blob "
    "write reaches it (mid-blob-copy); outages during the asset, image and checkpoint steps are not separately run.",
    "fail-back under faults, and provision-secondary under faults (only its authorization is tested).",
    "ARM emulator restart during recreate-deployments, cut-over or fail-back (replicate-artifacts only); SIGKILL "
    "of replicate-artifacts mid-copy and of cut-over while it waits for approval, not mid-action.",
    "Clock skew between orchestrators (lease expiry and fail-back thresholds are judged on synced clocks; the "
    "plan's failback.clock_margin_seconds is the allowance).",
    "Outage in `reset` mode for storage mid-run (the mid-run outage uses 503 answers; reset is used for the "
    "cut-over's primary outage).",
    "Prefect events (`foundry-dr.*`) are not scanned for secrets (logs, artifacts, states, variables are).",
    "Azure SDK loggers were attached to the Prefect API (PREFECT_LOGGING_EXTRA_LOGGERS=azure) but log nothing at "
    "their default level; the drill's DEBUG logs are Prefect's and foundry-dr's own.",
    "Secrets: bearer tokens issued by the sandbox are matched by shape (JWT), not by exact value.",
    "Real Azure: everything here runs against the local sandbox (Azurite + ARM emulator).",
]


@dataclass
class Case:
    name: str
    function: str
    param: str
    seconds: float
    result: str
    detail: str = ""
    props: dict[str, str] = field(default_factory=dict)
    slow: bool = False


def run_suite(junit: Path) -> int:
    """The whole suite (slow included), junit with the recorded properties."""
    cmd = [sys.executable, "-m", "pytest", SUITE, "-m", "slow or not slow", "-q", "-p", "no:cacheprovider",
           "-o", "junit_family=legacy", f"--junitxml={junit}"]  # fmt: skip
    print("running:", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def slow_tests() -> set[str]:
    """Node names (function[param]) of the tests marked slow, from pytest's own collection."""
    out = subprocess.run([sys.executable, "-m", "pytest", SUITE, "-m", "slow", "--collect-only", "-q",
                          "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True).stdout  # fmt: skip
    return {line.split("::", 1)[1] for line in out.splitlines() if "::" in line}


def read_cases(junit: Path, slow: set[str]) -> list[Case]:
    cases = []
    for tc in ET.parse(junit).iter("testcase"):
        name = tc.get("name", "")
        function, _, param = name.partition("[")
        result, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = tc.find(tag)
            if node is not None:
                kind = node.get("type", "")
                result = "xfail (known bug)" if kind == "pytest.xfail" else ("skipped" if tag == "skipped" else tag)
                detail = (node.get("message") or "").strip()
                break
        props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
        cases.append(Case(name, function, param.rstrip("]"), float(tc.get("time", 0)), result, detail, props,
                          name in slow))  # fmt: skip
    return cases


def _cell(text: str, limit: int = 400) -> str:
    text = re.sub(r"\s+", " ", text).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nothing_lost_summary(cases: list[Case]) -> list[str]:
    """The history checker's figures (issue 12): histories run, writes checked, writes lost."""
    runs = [c for c in cases if c.props.get("histories")]
    if not runs:
        return []
    # the CI run's seeds are the first of the slow run's: report the largest run, not a sum
    biggest = max(runs, key=lambda c: int(c.props["histories"]))
    histories, writes = int(biggest.props["histories"]), int(biggest.props.get("writes_checked", 0))
    lost = "0" if all(c.result == "passed" for c in runs) else "see the failing rows"
    return [
        f"**Nothing lost: {histories} randomized histories, {writes} acknowledged writes checked, {lost} lost.** "
        "Each history interleaves writes, overwrites and deletes on both sides with forward runs (some crashing "
        "mid-run), a planned or unplanned cut-over, refused forward runs while the secondary serves, stray writes "
        "to the old primary, and a fail-back (sometimes crashing, then re-run) under a random conflict policy and "
        "`mirror_deletes` setting; then every write still its side's latest must be the live blob or a conflict "
        "copy, bytes intact (`tests/reliability/test_nothing_lost.py`).",
        "",
    ]


def render(cases: list[Case]) -> str:
    bad = [c for c in cases if c.function.startswith("test_bad_")]
    main = [c for c in cases if not c.function.startswith("test_bad_")]
    total = sum(c.seconds for c in cases)
    ci = sum(c.seconds for c in cases if not c.slow)
    counts: dict[str, int] = {}
    for c in cases:
        counts[c.result] = counts.get(c.result, 0) + 1
    lines = [
        "# Reliability: nothing lost, worst day, faults, bad input, secrets, authorization, concurrency",
        "",
        f"Generated by `scripts/reliability_report.py` from a real run of `{SUITE}` "
        f"on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC ({platform.system()}, Python "
        f"{platform.python_version()}). Regenerate it (runs the whole suite, slow part included) with:",
        "",
        f"    {COMMAND.strip('`')}",
        "",
        "The same suite in CI (the default `pytest -m \"not slow\"`) runs the unmarked scenarios only.",
        "",
        f"**{len(cases)} tests: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f".** "
        f"Time: whole suite {total / 60:.1f} min; CI part (not `slow`) {ci / 60:.1f} min "
        f"(sum of test times incl. fixtures: each sandbox's start-up and seeding is counted in the first test that "
        f"needs it).",
        "",
        "Every fault scenario ends with `tests/reliability/verify.py` comparing both regions item by item "
        "through the SDKs: each primary blob downloaded from both sides and compared by MD5 (and size, content type, "
        "metadata); each asset version (models, data, environments, components, archived too) present with equal "
        "description/tags, data paths rewritten to the secondary, same image; no asset version in the secondary "
        "that the primary lacks (duplicate or half-created); every secondary endpoint/deployment `Succeeded`; the "
        "active-hub pointer consistent with the last approved decision.",
        "",
        *nothing_lost_summary(cases),
        "| area | runbook | scenario | CI | result | what happened | items verified | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = list(dict.fromkeys(area for area, _ in AREAS.values()))
    main.sort(key=lambda c: order.index(AREAS.get(c.function, ("other", ""))[0]) if c.function in AREAS else 99)
    for c in main:
        area, runbook = AREAS.get(c.function, ("other", ""))
        if c.function == "test_reader_fails_at_the_first_write_without_retrying":
            runbook = c.param
        scenario = SCENARIOS.get(c.function) or c.param or c.function
        if c.function == "test_reader_fails_at_the_first_write_without_retrying":
            scenario = "run as the sandbox's Reader principal: one 403 at the first write, no retry, role named"
        what = c.props.get("outcome", "")
        if c.props.get("fault_hits"):
            what += f" (fault hit {c.props['fault_hits']} request(s))"
        if c.props.get("restart"):
            what += f" ({c.props['restart']})"
        if c.result != "passed":
            what = f"{what} — {c.detail}" if what else c.detail
        lines.append(f"| {area} | {runbook} | {_cell(scenario, 160)} | {'slow' if c.slow else 'yes'} | "
                     f"{c.result} | {_cell(what)} | {_cell(c.props.get('verified', ''), 160)} | "
                     f"{c.seconds:.0f} |")  # fmt: skip
    if bad:
        ok = sum(c.result == "passed" for c in bad)
        lines.append(f"| bad input | all (real CLI) | {len(bad)} malformed plans, arguments and files (wrong types, "
                     f"unknown region, alias bomb, pasted secrets, ...) | yes | {ok}/{len(bad)} passed | exit 2, "
                     f"message names the field, no traceback | sandbox request log: no request | "
                     f"{sum(c.seconds for c in bad):.0f} |")  # fmt: skip
    lines += ["", "## Where it lives", "",
              "- `tests/reliability/test_faults.py`: the fault matrix (replicate-artifacts on the shared session "
              "sandbox; recreate-deployments and cut-over on private sandboxes, so pointer flips never reach other "
              "tests).",
              "- `tests/reliability/test_security.py`: secrets scan after a full drill; the Reader principal.",
              "- `tests/reliability/test_concurrency.py`: the failover lock of cut-over, fail-back and dr-drill.",
              "- `tests/reliability/test_nothing_lost.py` (+ `historykit.py`): one test per data-loss defect of "
              "issue 12, and the randomized history checker (a failure prints the seed and the minimal history; "
              "replay one with `FOUNDRY_DR_HISTORY_SEED=<seed> FOUNDRY_DR_HISTORIES=1`).",
              "- `tests/reliability/test_worst_day.py`: cut-over, status and fail-back from brand-new Prefect homes "
              "with the primary region down.",
              "- `tests/reliability/test_bad_input.py`: malformed plans and arguments through the real CLI.",
              "- `tests/reliability/verify.py`: the item-by-item verifier; `faultkit.py`: private sandboxes, the CLI "
              "in a subprocess, faults started mid-run.",
              "- A result of `xfail (known bug)` is a product bug the test shows (strict: it turns red once fixed, "
              "so the marker is removed with the fix).",
              "", "## Not covered yet", "", *(f"- {item}" for item in NOT_COVERED), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", type=Path, help="Render this junit file instead of running the suite.")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args()
    junit = args.junit
    code = 0
    if junit is None:
        junit = Path(tempfile.mkdtemp(prefix="reliability-")) / "junit.xml"
        code = run_suite(junit)
    args.out.write_text(render(read_cases(junit, slow_tests())))
    print(f"wrote {args.out} from {junit}")
    return code


if __name__ == "__main__":
    sys.exit(main())
