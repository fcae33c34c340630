"""ARM error bodies: ``{"error": {"code", "message"}}`` with Azure's codes and statuses."""

from __future__ import annotations


class ArmError(Exception):
    """Raised anywhere in the emulator; the app turns it into an ARM error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[dict] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details  # ARM's error.details[] (e.g. DeploymentFailed lists the failing resources)

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(resource_id: str, kind: str = "resource") -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The {kind} '{resource_id}' was not found.")


def rg_not_found(rg: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")


def invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent", message)


def conflict(message: str) -> ArmError:
    return ArmError(409, "Conflict", message)
