"""The one exception hierarchy of goldenpath, shared by the SDK, the CLI and the server.

Every error says what went wrong (`message`), what to do about it (`hint`), carries a stable
`code` and the HTTP `status` the server answers with. Over HTTP an error travels as
`{"code": ..., "message": ..., "hint": ...}` and the SDK raises the same class again.

    GoldenpathError
    ├── ConfigurationError        bad settings or environment (500)
    ├── ServerUnreachable         the SDK cannot reach the promotion server (503)
    ├── AuthError                 missing/invalid token (401); PermissionDenied (403)
    ├── NotFound                  unknown service, release, environment (404)
    ├── Conflict                  a concurrent change won, or a state forbids it (409)
    ├── InvalidInput              bad request data (400)
    │   ├── UnsupportedModel      a model object goldenpath cannot package
    │   ├── SampleMismatch        the sample does not fit the model
    │   └── InvalidBundle         a corrupt, hostile or oversized archive (PayloadTooLarge 413)
    ├── ParityError               the bundled model predicts differently from the original (422)
    ├── PolicyDenied              a policy or admission check refused the release (422)
    └── DeploymentFailed          the target could not bring the release live (502)
"""

from __future__ import annotations

from typing import Any


class GoldenpathError(Exception):
    status = 500
    code = "error"

    def __init__(self, message: str, hint: str = "", *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.details is not None:
            body["details"] = self.details
        return body


class ConfigurationError(GoldenpathError):
    status, code = 500, "configuration_error"


class ServerUnreachable(GoldenpathError):
    status, code = 503, "server_unreachable"


class AuthError(GoldenpathError):
    status, code = 401, "unauthenticated"


class PermissionDenied(AuthError):
    status, code = 403, "permission_denied"


class NotFound(GoldenpathError):
    status, code = 404, "not_found"


class Conflict(GoldenpathError):
    status, code = 409, "conflict"


class InvalidInput(GoldenpathError):
    status, code = 400, "invalid_input"


class UnsupportedModel(InvalidInput):
    code = "unsupported_model"


class SampleMismatch(InvalidInput):
    code = "sample_mismatch"


class InvalidBundle(InvalidInput):
    code = "invalid_bundle"


class PayloadTooLarge(InvalidBundle):
    status, code = 413, "payload_too_large"


class ParityError(GoldenpathError):
    status, code = 422, "parity_failed"


class PolicyDenied(GoldenpathError):
    status, code = 422, "policy_denied"


class DeploymentFailed(GoldenpathError):
    status, code = 502, "deployment_failed"


class PredictionFailed(GoldenpathError):
    """The live model raised on a request; the message is its own exception."""

    status, code = 502, "prediction_failed"


def _all_subclasses(cls: type[GoldenpathError]) -> list[type[GoldenpathError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def from_response(status: int, body: dict[str, Any]) -> GoldenpathError:
    """Rebuild the server's error on the client side, by its stable code."""
    by_code = {cls.code: cls for cls in _all_subclasses(GoldenpathError)}
    cls = by_code.get(str(body.get("code")), GoldenpathError)
    error = cls(str(body.get("message", f"HTTP {status}")), str(body.get("hint", "")),
                details=body.get("details"))
    if cls is GoldenpathError:
        error.status = status
    return error
