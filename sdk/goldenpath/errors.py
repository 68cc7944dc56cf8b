"""goldenpath's errors (the one hierarchy lives in goldenpath_api, shared with the server)."""

from goldenpath_api.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    DeploymentFailed,
    GoldenpathError,
    InvalidBundle,
    InvalidInput,
    NotFound,
    ParityError,
    PayloadTooLarge,
    PermissionDenied,
    PolicyDenied,
    PredictionFailed,
    SampleMismatch,
    ServerUnreachable,
    UnsupportedModel,
    from_response,
)

__all__ = ["AuthError", "ConfigurationError", "Conflict", "DeploymentFailed", "GoldenpathError",
           "InvalidBundle", "InvalidInput", "NotFound", "ParityError", "PayloadTooLarge",
           "PermissionDenied", "PolicyDenied", "PredictionFailed", "SampleMismatch",
           "ServerUnreachable", "UnsupportedModel", "from_response"]
