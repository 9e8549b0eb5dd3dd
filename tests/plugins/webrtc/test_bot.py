"""The media bot's signaling state machine on its own (no server): offers and answers."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from plugins.webrtc.bot import MediaBot


async def test_a_session_joining_with_the_bot_is_offered_once() -> None:
    # It joined while the bot did: announced (even before the bot's room-info) and listed.
    bot = MediaBot(1, "ws://127.0.0.1:9/ws/signaling", "token")
    try:
        await bot._handle({"type": "user-joined", "data": {"session_id": "s1", "user_id": 2}})
        first = bot.peers["s1"].pc
        room = {"session_id": "bot", "participants": [{"session_id": "s1", "user_id": 2}]}
        await bot._handle({"type": "room-info", "data": room})
        await bot._handle({"type": "user-joined", "data": {"session_id": "s1", "user_id": 2}})
        assert bot.peers["s1"].pc is first and bot.session_id == "bot"
        assert first.signalingState == "have-local-offer"

        # The device answers; a late duplicate answer is ignored, not a crash.
        device = RTCPeerConnection()
        await device.setRemoteDescription(first.localDescription)
        await device.setLocalDescription(await device.createAnswer())
        answer = {"type": "answer", "sdp": device.localDescription.sdp}
        for _ in range(2):
            await bot._handle({"type": "answer", "from_session": "s1", "data": answer})
        assert first.signalingState == "stable"
        await device.close()
    finally:
        await bot.stop()
