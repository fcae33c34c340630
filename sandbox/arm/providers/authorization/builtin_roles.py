"""The built-in role definitions the runbooks use, with their well-known ids.

Names and ids: learn.microsoft.com, "Azure built-in roles"
(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles); a built-in role's
id is the same GUID in every subscription and tenant. The permissions are a summary of each role's
documented ``actions``/``dataActions`` (enough to read as Azure answers, not an authorization engine).
Document shape: examples/GetRoleDefinitionById.json (Azure/azure-rest-api-specs,
specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01).
"""

from __future__ import annotations

# name -> (id, description, actions, dataActions)
BUILTIN_ROLES: dict[str, tuple[str, str, list[str], list[str]]] = {
    "Owner": ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
              "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
              ["*"], []),
    "Contributor": ("b24988ac-6180-42a0-ab88-20f7382dd24c",
                    "Grants full access to manage all resources, but does not allow you to assign roles in "
                    "Azure RBAC.", ["*"], []),
    "Reader": ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "View all resources, but does not allow you to make any "
               "changes.", ["*/read"], []),
    "AcrPull": ("7f951dda-4ed3-4680-a7ca-43fe172d538d", "Pull artifacts from a container registry.",
                ["Microsoft.ContainerRegistry/registries/pull/read"], []),
    "Storage Blob Data Reader": ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
                                 "Read and list Azure Storage containers and blobs.",
                                 ["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
                                 ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]),
    "Storage Blob Data Contributor": ("ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                                      "Read, write, and delete Azure Storage containers and blobs.",
                                      ["Microsoft.Storage/storageAccounts/blobServices/containers/*"],
                                      ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"]),
    "Key Vault Secrets User": ("4633458b-17de-408a-b874-0445c86b69e6",
                               "Read secret contents. Only works for key vaults that use the 'Azure role-based "
                               "access control' permission model.", [],
                               ["Microsoft.KeyVault/vaults/secrets/getSecret/action",
                                "Microsoft.KeyVault/vaults/secrets/readMetadata/action"]),
    "Cognitive Services OpenAI User": ("5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
                                       "Read access to view files, models, deployments. The ability to create "
                                       "completion and embedding calls.",
                                       ["Microsoft.CognitiveServices/*/read"],
                                       ["Microsoft.CognitiveServices/accounts/OpenAI/*/read",
                                        "Microsoft.CognitiveServices/accounts/OpenAI/deployments/*/action"]),
    "AzureML Data Scientist": ("f6c7c914-8db3-469d-8ca1-694a8f32e121",
                               "Can perform all actions within an Azure Machine Learning workspace, except for "
                               "creating or deleting compute resources and modifying the workspace itself.",
                               ["Microsoft.MachineLearningServices/workspaces/*/read",
                                "Microsoft.MachineLearningServices/workspaces/*/action",
                                "Microsoft.MachineLearningServices/workspaces/*/write"], []),
}  # fmt: skip

BUILTIN_BY_ID: dict[str, str] = {rid: name for name, (rid, *_rest) in BUILTIN_ROLES.items()}


def builtin_doc(role_id: str, subscription: str) -> dict | None:
    """The built-in role ``role_id`` as GET answers it at a subscription (or below), else None."""
    name = BUILTIN_BY_ID.get(role_id.lower())
    if name is None:
        return None
    rid, description, actions, data_actions = BUILTIN_ROLES[name]
    return {
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": description,
            "assignableScopes": ["/"],
            "permissions": [{"actions": actions, "notActions": [], "dataActions": data_actions,
                             "notDataActions": []}],  # fmt: skip
        },
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{rid}",
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": rid,
    }
