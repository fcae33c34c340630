"""Interrupted jobs and their resubmission specs: listed, never dropped, never submitted twice."""

from __future__ import annotations

import copy
from typing import Any

from foundry_dr.asset_sync import RefMap
from foundry_dr.jobs_remap import interrupted_jobs, job_references, plan_resubmissions, remap_spec


def job(name: str, status: str = "Running", **fields: Any) -> dict[str, Any]:
    base = {"name": name, "status": status, "type": "command", "command": "python train.py",
            "compute": "cpu-cluster", "environment": "train-env:3", "experiment": "exp",
            "display_name": f"{name} display", "tags": {"team": "ml"}}  # fmt: skip
    base.update(fields)
    return base


def inventory(**workspaces: list[dict]) -> dict[str, Any]:
    return {"workspaces": {ws.replace("_", "-"): {"jobs": jobs} for ws, jobs in workspaces.items()}}


COMPUTES = {"proj-chat": {"cpu-cluster"}, "proj-vision": {"cpu-cluster", "gpu-cluster"}}
ENVS = {"proj-chat": {"train-env:3"}, "proj-vision": {"train-env:3", "vision-env:1"}}


# ---- interrupted_jobs ----------------------------------------------------------------------------
def test_only_unfinished_jobs_are_interrupted() -> None:
    inv = inventory(proj_chat=[job("a", "Running"), job("b", "Completed"), job("c", "Queued"),
                               job("d", "Failed"), job("e", "Canceled"), job("f", "NotStarted")])  # fmt: skip
    assert [j["name"] for _, j in interrupted_jobs(inv)] == ["a", "c", "f"]


def test_status_spellings_are_normalised() -> None:
    inv = inventory(proj_chat=[job("enum", "JobStatus.RUNNING"), job("snake", "not_started"),
                               job("upper", "PREPARING"), job("fin", "Finalizing"), job("none", None)])  # fmt: skip
    assert [j["name"] for _, j in interrupted_jobs(inv)] == ["enum", "snake", "upper", "fin"]


def test_jobs_come_workspace_by_workspace_in_sorted_order() -> None:
    inv = inventory(proj_vision=[job("v1")], proj_chat=[job("c1"), job("c2")])
    assert [(ws, j["name"]) for ws, j in interrupted_jobs(inv)] == [
        ("proj-chat", "c1"), ("proj-chat", "c2"), ("proj-vision", "v1"),
    ]  # fmt: skip


def test_an_empty_or_missing_inventory_has_no_jobs() -> None:
    assert interrupted_jobs({}) == []
    assert interrupted_jobs({"workspaces": None}) == []
    assert interrupted_jobs({"workspaces": {"proj-chat": {}}}) == []


# ---- plan_resubmissions --------------------------------------------------------------------------
def test_a_resubmission_copies_the_job_spec_under_a_new_name_and_tags_its_origin() -> None:
    (sub,) = plan_resubmissions(inventory(proj_chat=[job("train-1")]), COMPUTES, ENVS, "dr20261127")
    assert (sub.workspace, sub.source_name, sub.new_name, sub.problem) == (
        "proj-chat", "train-1", "train-1-dr20261127", None,
    )  # fmt: skip
    assert sub.spec == {
        "command": "python train.py", "environment": "train-env:3", "compute": "cpu-cluster",
        "experiment_name": "exp", "display_name": "train-1 display",
        "tags": {"team": "ml", "foundry-dr.resubmitted-from": "train-1"},
    }  # fmt: skip


def test_the_inventory_is_not_modified() -> None:
    inv = inventory(proj_chat=[job("train-1")], proj_vision=[job("v", "Completed")])
    before = copy.deepcopy(inv)
    plan_resubmissions(inv, COMPUTES, ENVS, "dr")
    assert inv == before


def test_finished_jobs_are_not_resubmitted() -> None:
    subs = plan_resubmissions(inventory(proj_chat=[job("done", "Completed"), job("live")]), COMPUTES, ENVS, "dr")
    assert [s.source_name for s in subs] == ["live"]


def test_already_resubmitted_jobs_are_not_submitted_twice() -> None:
    inv = inventory(proj_chat=[job("train-1"), job("train-2")])
    subs = plan_resubmissions(inv, COMPUTES, ENVS, "dr2", already={"train-1": "train-1-dr1"})
    first, second = subs
    assert (first.new_name, first.spec, first.problem) == ("train-1-dr1", {"already_submitted": True}, None)
    assert (second.new_name, second.problem) == ("train-2-dr2", None)
    assert "already_submitted" not in second.spec


def test_missing_compute_is_listed_not_dropped() -> None:
    inv = inventory(proj_chat=[job("gpu", compute="gpu-cluster")])
    (sub,) = plan_resubmissions(inv, COMPUTES, ENVS, "dr")
    assert sub.problem == "compute 'gpu-cluster' does not exist in the target workspace proj-chat"
    assert sub.spec["compute"] == "gpu-cluster"
    assert sub.spec["tags"]["foundry-dr.resubmitted-from"] == "gpu"


def test_compute_is_checked_in_the_jobs_own_workspace() -> None:
    inv = inventory(proj_chat=[job("c", compute="gpu-cluster")], proj_vision=[job("v", compute="gpu-cluster")])
    subs = {s.source_name: s for s in plan_resubmissions(inv, COMPUTES, ENVS, "dr")}
    assert subs["c"].problem is not None and "proj-chat" in subs["c"].problem
    assert subs["v"].problem is None


def test_a_workspace_unknown_on_the_target_has_no_compute() -> None:
    (sub,) = plan_resubmissions(inventory(proj_new=[job("x")]), COMPUTES, ENVS, "dr")
    assert sub.problem == "compute 'cpu-cluster' does not exist in the target workspace proj-new"


def test_unreplicated_environment_is_listed_with_the_fix() -> None:
    inv = inventory(proj_chat=[job("e", environment="train-env:4")])
    (sub,) = plan_resubmissions(inv, COMPUTES, ENVS, "dr")
    assert sub.problem == "environment 'train-env:4' is not replicated to proj-chat (run replicate-artifacts)"


def test_compute_problem_is_reported_before_environment_problem() -> None:
    inv = inventory(proj_chat=[job("both", compute="gpu-cluster", environment="nope:1")])
    (sub,) = plan_resubmissions(inv, COMPUTES, ENVS, "dr")
    assert sub.problem.startswith("compute 'gpu-cluster'")


def test_serverless_job_without_compute_or_environment_needs_neither() -> None:
    inv = inventory(proj_chat=[job("s", compute=None, environment=None)])
    (sub,) = plan_resubmissions(inv, {}, {}, "dr")
    assert sub.problem is None
    assert (sub.spec["compute"], sub.spec["environment"]) == (None, None)


def test_non_command_jobs_are_left_for_a_human() -> None:
    inv = inventory(proj_chat=[job("pipe", type="pipeline"), job("sweep", type="JobType.SWEEP"),
                               job("cmd", type="JobType.COMMAND")])  # fmt: skip
    subs = {s.source_name: s for s in plan_resubmissions(inv, COMPUTES, ENVS, "dr")}
    assert subs["pipe"].problem == "job type 'pipeline' is not resubmitted automatically; resubmit it by hand"
    assert subs["sweep"].problem is not None and "'JobType.SWEEP'" in subs["sweep"].problem
    assert subs["cmd"].problem is None


def test_a_job_without_a_command_cannot_be_resubmitted() -> None:
    (sub,) = plan_resubmissions(inventory(proj_chat=[job("x", command="")]), COMPUTES, ENVS, "dr")
    assert sub.problem == "the snapshot has no command for this job"


def test_jobs_without_tags_get_only_the_origin_tag() -> None:
    (sub,) = plan_resubmissions(inventory(proj_chat=[job("t", tags=None)]), COMPUTES, ENVS, "dr")
    assert sub.spec["tags"] == {"foundry-dr.resubmitted-from": "t"}


# ---- resubmission from the job's whole REST spec ---------------------------------------------------
SRC_WS = ("/subscriptions/s-p/resourceGroups/rg-p/providers/Microsoft.MachineLearningServices/workspaces/"
          "proj-chat")  # fmt: skip
DST_WS = SRC_WS.replace("s-p", "s-s").replace("rg-p", "rg-s")
SPEC = {
    "jobType": "Command", "status": "Running", "command": "python train.py --data ${{inputs.data}}",
    "codeId": f"{SRC_WS}/codes/train-src/versions/1", "environmentId": f"{SRC_WS}/environments/e/versions/1",
    "computeId": f"{SRC_WS}/computes/cpu-cluster",
    "inputs": {"data": {"jobInputType": "uri_folder", "uri": f"azureml:{SRC_WS}/data/customers/versions/2"},
               "raw": {"jobInputType": "uri_folder", "uri": "azureml://datastores/trainingdata/paths/raw/"},
               "epochs": {"jobInputType": "literal", "value": "10"}},
    "outputs": {"default": {"jobOutputType": "uri_folder", "uri": "azureml://datastores/workspaceartifactstore/x"},
                "model": {"jobOutputType": "mlflow_model"}},
    "environmentVariables": {"LOG_LEVEL": "info"}, "distribution": {"distributionType": "PyTorch"},
    "resources": {"instanceCount": 2}, "identity": {"identityType": "Managed"},
    "services": {"Studio": {"endpoint": "https://ml.azure.com/runs/x"}}, "tags": {"team": "ml"},
}  # fmt: skip
REFS = RefMap({}, {}, "s-s", "rg-s")


def test_a_job_with_its_spec_is_resubmitted_whole_with_every_reference_remapped() -> None:
    inv = inventory(proj_chat=[job("train-1", spec=SPEC)])
    (sub,) = plan_resubmissions(inv, {}, {}, "dr", refs=REFS, missing={"proj-chat": set()})
    props = sub.spec["properties"]
    assert sub.problem is None
    assert props["codeId"] == f"{DST_WS}/codes/train-src/versions/1"
    assert props["computeId"] == f"{DST_WS}/computes/cpu-cluster"
    assert props["inputs"]["data"]["uri"] == f"azureml:{DST_WS}/data/customers/versions/2"
    assert props["inputs"]["epochs"] == {"jobInputType": "literal", "value": "10"}
    assert props["environmentVariables"] == {"LOG_LEVEL": "info"} and props["resources"] == {"instanceCount": 2}
    assert props["identity"] == {"identityType": "Managed"} and props["distribution"] == {"distributionType": "PyTorch"}
    # what the service sets is not sent back: status, services, the run's own default output
    assert "status" not in props and "services" not in props and set(props["outputs"]) == {"model"}
    assert props["tags"] == {"team": "ml", "foundry-dr.resubmitted-from": "train-1"}


def test_every_reference_a_job_needs_is_listed_and_each_missing_one_named() -> None:
    remapped = remap_spec(SPEC, REFS, "train-1")
    refs = dict((ref, what) for what, ref in job_references(remapped))
    assert set(refs.values()) == {"code", "environment", "compute", "input data", "input raw (datastore)"}
    missing = {"proj-chat": {f"{DST_WS}/codes/train-src/versions/1", "datastores/trainingdata"}}
    (sub,) = plan_resubmissions(inventory(proj_chat=[job("t", spec=SPEC)]), {}, {}, "dr", refs=REFS, missing=missing)
    assert sub.problem and "code " in sub.problem and "datastores/trainingdata" in sub.problem
    assert "environment" not in sub.problem  # only what is missing is named


def test_pipeline_jobs_are_listed_as_not_resubmittable() -> None:
    inv = inventory(proj_chat=[job("p", spec={**SPEC, "jobType": "Pipeline", "jobs": {}})])
    (sub,) = plan_resubmissions(inv, {}, {}, "dr", refs=REFS, missing={})
    assert sub.problem and "Pipeline" in sub.problem and "by hand" in sub.problem
