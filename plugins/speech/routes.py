"""/api/v1/speech (endpoints 67-69): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import current_user, ok, rate_limit, require_auth, responds, validate_request
from plugins.speech import schemas as s
from plugins.speech import service

bp = Blueprint("speech", __name__, url_prefix="/api/v1/speech")


@bp.post("/recognition")
@rate_limit("ai")
@require_auth
@validate_request(s.SpeechIn)
@responds(s.RecognitionOut)
async def recognition(data: s.SpeechIn):
    """Speech to text from `file_id`, `audio_data` (base64) or `audio_url` (this server's
    media); any format PyAV decodes, or raw `pcm_s16le` with `sample_rate`."""
    return ok(await service.run(current_user(), "recognition", data), "recognised")


@bp.post("/emotion")
@rate_limit("ai")
@require_auth
@validate_request(s.SpeechIn)
async def emotion(data: s.SpeechIn):
    """The speaker's emotion: `{emotion, confidence, details}` (needs an emotion engine)."""
    return ok(await service.run(current_user(), "emotion", data), "classified")


@bp.post("/synthesis-detection")
@rate_limit("ai")
@require_auth
@validate_request(s.SpeechIn)
async def synthesis_detection(data: s.SpeechIn):
    """Whether the voice is synthetic: `{is_synthetic, probability, confidence}`."""
    return ok(await service.run(current_user(), "synthesis_detection", data), "judged")
