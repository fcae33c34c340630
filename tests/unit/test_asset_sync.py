"""Unit tests of the asset-metadata replication logic (foundry_dr/asset_sync.py)."""

from __future__ import annotations

import pytest

from foundry_dr.asset_sync import (
    KIND_ORDER,
    ImageRef,
    RefMap,
    canonical_uri,
    fingerprint,
    normalise,
    parse_image,
    plan_asset_actions,
    rewrite_refs,
    rewrite_uri,
    summarise,
    translate,
)
from foundry_dr.sides import sides_of

SUB_P = "00000000-0000-4000-8000-000000000001"
SUB_S = "00000000-0000-4000-8000-000000000002"
REFS = RefMap(
    datastores={"trainingdata": "trainingdata-west"},
    workspaces={"hub-contoso-eastus": "hub-contoso-westus"},
    subscription_id=SUB_S,
    resource_group="rg-foundry-westus",
)


def model(version: str = "1", **over: object) -> dict:
    fields = {
        "name": "churn",
        "version": version,
        "type": "custom_model",
        "path": "azureml://datastores/workspaceblobstore/paths/models/churn/1/",
        "description": "v1",
        "tags": {"stage": "candidate"},
        "properties": {"trained_on": "2026-11-01"},
        "stage": "Development",
        "id": "azureml:/subscriptions/x/.../versions/1",
        "creation_context": {"created_at": "2026-11-27"},
        "archived": False,
    }
    fields.update(over)
    return normalise("models", fields, workspace="proj-chat")


# ---- rewrite_uri -----------------------------------------------------------------------------
def test_rewrite_short_form_maps_the_datastore_only() -> None:
    assert (
        rewrite_uri("azureml://datastores/trainingdata/paths/a/b.csv", {"trainingdata": "td2"})
        == "azureml://datastores/td2/paths/a/b.csv"
    )
    # unmapped datastores keep their name (both hubs use the same names)
    assert (
        rewrite_uri("azureml://datastores/workspaceblobstore/paths/x/", {})
        == "azureml://datastores/workspaceblobstore/paths/x/"
    )


def test_rewrite_full_form_maps_subscription_group_workspace_and_datastore() -> None:
    uri = (
        f"azureml://subscriptions/{SUB_P}/resourcegroups/rg-foundry-eastus/workspaces/"
        "hub-contoso-eastus/datastores/trainingdata/paths/data/v1/"
    )
    out = rewrite_uri(
        uri,
        {"TrainingData": "td2"},
        workspace_map={"HUB-contoso-eastus": "hub-contoso-westus"},
        subscription_id=SUB_S,
        resource_group="rg-foundry-westus",
    )
    assert out == (
        f"azureml://subscriptions/{SUB_S}/resourcegroups/rg-foundry-westus/workspaces/"
        "hub-contoso-westus/datastores/td2/paths/data/v1/"
    )


def test_rewrite_full_form_with_provider_segment_and_unknown_workspace() -> None:
    uri = (
        f"azureml://subscriptions/{SUB_P}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
        "workspaces/proj-chat/datastores/workspaceblobstore/paths/m/"
    )
    out = rewrite_uri(uri, {}, subscription_id=SUB_S, resource_group="rg2")
    assert out.endswith("/resourcegroups/rg2/workspaces/proj-chat/datastores/workspaceblobstore/paths/m/")


@pytest.mark.parametrize(
    "uri", ["https://acct.blob.core.windows.net/c/p", "azureml:churn:1", "./local/dir", "wasbs://c@a/p"]
)
def test_rewrite_leaves_other_uris_alone(uri: str) -> None:
    assert rewrite_uri(uri, {"c": "d"}, workspace_map={"a": "b"}) == uri


def test_rewrite_refs_rewrites_arm_ids_inside_a_component_spec() -> None:
    spec = {
        "environment": f"azureml:/subscriptions/{SUB_P}/resourceGroups/rg-foundry-eastus/providers/"
        "Microsoft.MachineLearningServices/workspaces/hub-contoso-eastus/environments/sk/versions/1",
        "inputs": {"d": {"path": "azureml://datastores/trainingdata/paths/x"}},
        "command": "python train.py",
        "n": 3,
    }
    out = rewrite_refs(spec, REFS)
    assert out["environment"] == (
        f"azureml:/subscriptions/{SUB_S}/resourceGroups/rg-foundry-westus/providers/"
        "Microsoft.MachineLearningServices/workspaces/hub-contoso-westus/environments/sk/versions/1"
    )
    assert out["inputs"]["d"]["path"] == "azureml://datastores/trainingdata-west/paths/x"
    assert out["command"] == "python train.py" and out["n"] == 3


def test_canonical_uri_full_form_of_the_owner_equals_short_form() -> None:
    full = f"azureml://subscriptions/{SUB_P}/resourcegroups/rg/workspaces/Proj-Chat/datastores/wbs/paths/a/"
    assert canonical_uri(full, "proj-chat") == "azureml://datastores/wbs/paths/a/"
    assert canonical_uri(full, "other").startswith("azureml://subscriptions/")
    assert canonical_uri(None, "x") is None


# ---- normalise -------------------------------------------------------------------------------
def test_normalise_ignores_server_fields_and_empty_values() -> None:
    a = model()
    b = model(id="other", creation_context={"created_at": "later"}, description="v1", properties={})
    b_props = model(properties={"trained_on": "2026-11-01"})
    assert "id" not in a and "creation_context" not in a
    assert a["path"] == "azureml://datastores/workspaceblobstore/paths/models/churn/1/"
    assert a == b_props
    assert a["properties"] != b["properties"]  # properties are content


def test_normalise_environment_and_component() -> None:
    env = normalise(
        "environments",
        {"name": "sk", "version": "1-4", "image": "acr.azurecr.io/sk:1.4", "os_type": "Linux", "tags": None},
    )
    assert env["image"] == "acr.azurecr.io/sk:1.4" and env["os_type"] == "linux" and env["tags"] == {}
    comp = normalise(
        "components",
        {
            "name": "train",
            "version": "1",
            "$schema": "x",
            "id": "y",
            "creation_context": {},
            "description": "d",
            "type": "command",
            "command": "python t.py",
            "environment": "azureml:sk:1-4",
        },
    )
    assert comp["spec"] == {"type": "command", "command": "python t.py", "environment": "azureml:sk:1-4"}
    assert comp["description"] == "d"


def test_normalise_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown asset kind"):
        normalise("featuresets", {"name": "a", "version": "1"})


# ---- planning --------------------------------------------------------------------------------
def test_plan_create_skip_update_conflict() -> None:
    src = [model("1"), model("2", description="new"), model("3", archived=True), model("4", path="azureml://datastores/x/paths/y")]
    dest = [model("1"), model("2", description="old"), model("3"), model("4")]
    src.append(model("5"))
    ops = {a.version: a for a in plan_asset_actions(src, dest)}
    assert ops["1"].op == "skip"
    assert ops["2"].op == "update" and ops["2"].changes == ("description",)
    assert ops["3"].op == "update" and ops["3"].changes == ("archived",)
    assert ops["4"].op == "conflict" and ops["4"].changes == ("path",)
    assert "immutable" in ops["4"].reason
    assert ops["5"].op == "create"


def test_plan_is_in_dependency_order() -> None:
    comp = normalise("components", {"name": "c", "version": "1", "type": "command", "command": "x"})
    env = normalise("environments", {"name": "e", "version": "1", "image": "i:1"})
    data = normalise("data", {"name": "d", "version": "1", "type": "uri_folder", "path": "azureml://datastores/a/paths/b"})
    actions = plan_asset_actions([comp, model("10"), model("9"), env, data], [])
    assert [a.kind for a in actions] == ["data", "models", "models", "environments", "components"]
    assert [a.version for a in actions if a.kind == "models"] == ["9", "10"]  # numeric, not lexical
    assert list(KIND_ORDER).index("environments") < list(KIND_ORDER).index("components")


def test_translate_then_compare_with_a_full_form_destination() -> None:
    src = normalise(
        "data",
        {"name": "d", "version": "1", "type": "uri_folder", "path": "azureml://datastores/trainingdata/paths/v1/"},
    )
    moved = translate(src, REFS, "proj-chat")
    assert moved["path"] == "azureml://datastores/trainingdata-west/paths/v1/"
    dest = normalise(
        "data",
        {
            "name": "d",
            "version": "1",
            "type": "uri_folder",
            "path": f"azureml://subscriptions/{SUB_S}/resourcegroups/rg-foundry-westus/workspaces/proj-chat/"
            "datastores/trainingdata-west/paths/v1/",
        },
        workspace="proj-chat",
    )
    assert [a.op for a in plan_asset_actions([moved], [dest])] == ["skip"]


def test_summarise_and_fingerprint() -> None:
    actions = plan_asset_actions([model("1"), model("2")], [model("1")])
    assert summarise(actions)["models"] == {"create": 1, "skip": 1, "update": 0, "conflict": 0}
    assert fingerprint(model("1")) == fingerprint(model("1"))
    assert fingerprint(model("1")) != fingerprint(model("1", tags={"a": "b"}))


def test_sides_of() -> None:
    assert sides_of("to-secondary") == ("primary", "secondary")
    assert sides_of("to-primary") == ("secondary", "primary")
    with pytest.raises(ValueError):
        sides_of("sideways")  # type: ignore[arg-type]


# ---- images ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("acrfdrshared.azurecr.io/sklearn:1.4", ImageRef("acrfdrshared.azurecr.io", "sklearn", "1.4", None)),
        ("acr.azurecr.io/team/vision/serve:2", ImageRef("acr.azurecr.io", "team/vision/serve", "2", None)),
        ("localhost:5000/x", ImageRef("localhost:5000", "x", "latest", None)),
        ("library/python", ImageRef(None, "library/python", "latest", None)),
        ("acr.azurecr.io/r@sha256:abc", ImageRef("acr.azurecr.io", "r", None, "sha256:abc")),
    ],
)
def test_parse_image(image: str, expected: ImageRef) -> None:
    assert parse_image(image) == expected


def test_image_source_image() -> None:
    assert parse_image("a.azurecr.io/r:1").source_image == "r:1"
    assert parse_image("a.azurecr.io/r@sha256:abc").source_image == "r@sha256:abc"


def test_component_environment_id_of_the_owner_compares_equal_to_name_version() -> None:
    env_id = (
        f"azureml:/subscriptions/{SUB_S}/resourceGroups/rg-foundry-westus/providers/"
        "Microsoft.MachineLearningServices/workspaces/proj-chat/environments/sk/versions/1-4"
    )
    src = normalise("components", {"name": "c", "version": "1", "type": "command", "environment": "azureml:sk:1-4"})
    dst = normalise("components", {"name": "c", "version": "1", "type": "command", "environment": env_id},
                    workspace="proj-chat")
    assert dst["spec"]["environment"] == "azureml:sk:1-4"
    assert [a.op for a in plan_asset_actions([translate(src, REFS, "proj-chat")], [dst])] == ["skip"]
    other = normalise("components", {"name": "c", "version": "1", "environment": env_id}, workspace="proj-x")
    assert other["spec"]["environment"] == env_id


def test_a_code_version_points_at_the_destination_account_and_differs_only_by_its_uri() -> None:
    """Code versions are replicated like other assets; their codeUri (a blob URL on the source
    hub's storage account) is rewritten to the destination's account, and a destination version
    whose snapshot is somewhere else is a conflict, never overwritten."""
    uri = "https://stfdreastus.blob.core.windows.net/c/LocalUpload/abc/src"
    src = normalise("codes", {"name": "train-src", "version": "1", "code_uri": uri})
    refs = RefMap({}, {}, None, None, {"stfdreastus": "stfdrwestus"})
    moved = translate(src, refs, "proj-chat")
    assert moved["code_uri"] == "https://stfdrwestus.blob.core.windows.net/c/LocalUpload/abc/src"
    same = normalise("codes", {"name": "train-src", "version": "1", "code_uri": moved["code_uri"]})
    other = normalise("codes", {"name": "train-src", "version": "1", "code_uri": "https://x.blob.core.windows.net/d/s"})
    assert [a.op for a in plan_asset_actions([moved], [same])] == ["skip"]
    assert [a.op for a in plan_asset_actions([moved], [other])] == ["conflict"]
    assert KIND_ORDER.index("codes") < KIND_ORDER.index("components")
