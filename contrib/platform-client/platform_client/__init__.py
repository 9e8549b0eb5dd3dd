"""Python SDK for meeting-platform: REST (`PlatformClient`), signaling (`SignalingClient`) and,
with the `media` extra, a mesh WebRTC call (`platform_client.mesh.MeshCall`)."""

from platform_client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PlatformError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMedia,
    ValidationError,
)
from platform_client.rest import PlatformClient

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "PlatformClient",
    "PlatformError",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "Unauthorized",
    "UnsupportedMedia",
    "ValidationError",
]
