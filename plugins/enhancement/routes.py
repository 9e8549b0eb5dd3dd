"""POST /api/v1/audio/denoising and POST /api/v1/video/enhancement (endpoints 70-71)."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import current_user, ok, rate_limit, require_auth, responds, validate_request
from plugins.enhancement import schemas as s
from plugins.enhancement import service

bp = Blueprint("enhancement", __name__, url_prefix="/api/v1")


@bp.post("/audio/denoising")
@rate_limit("ai")
@require_auth
@validate_request(s.DenoiseIn)
@responds(s.EnhancedOut)
async def denoising(data: s.DenoiseIn):
    """Remove background noise: `file_id` → a new file; `audio_data` → base64 WAV back."""
    return ok(await service.denoise(current_user(), data.file_id, data.audio_data), "denoised")


@bp.post("/video/enhancement")
@rate_limit("ai")
@require_auth
@validate_request(s.VideoIn)
@responds(s.EnhancedOut)
async def video_enhancement(data: s.VideoIn):
    """Enhance a video (`enhancement_type`: denoise, sharpen, upscale) into a new file."""
    result = await service.enhance_video(
        current_user(), data.file_id, data.video_data, data.enhancement_type
    )
    return ok(result, "enhanced")
