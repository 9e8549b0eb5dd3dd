"""Live recognition with PocketSphinx: partial hypotheses while an utterance goes on, a final
one when it ends.

Every stream has its own decoder (decoding state is per utterance; the model loads in about
half a second, in the caller's worker thread). Live decoding estimates the cepstral mean as it
goes, so the first words of a stream are often wrong ("low world" for "hello world"): the
partials come from the live pass, the final from decoding the whole utterance again at once
(`full_utt`), which normalises over the utterance and hears what the batch engine hears.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SAMPLE_RATE = 16000
PARTIAL_EVERY = SAMPLE_RATE // 2  # samples between partial hypotheses: twice a second
MAX_UTTERANCE = SAMPLE_RATE * 30  # a longer utterance is cut into finals of this length
SILENCE_RMS = 10  # about -70 dBFS: PocketSphinx "hears" words in digital silence


class PocketSphinxStream:
    """One speaker's live audio (16 kHz mono 16-bit PCM) to partial and final hypotheses."""

    sample_rate = SAMPLE_RATE

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.utterance = bytearray()
        self.in_utterance = False
        self.since_partial = 0
        self.last_partial = ""

    def accept(self, pcm: bytes) -> dict[str, Any] | None:
        if not pcm:
            return None
        if not self.in_utterance:
            self.decoder.start_utt()
            self.in_utterance = True
        self.decoder.process_raw(pcm, False, False)
        self.utterance += pcm
        self.since_partial += len(pcm) // 2
        if len(self.utterance) // 2 >= MAX_UTTERANCE:
            return self.finish()
        if self.since_partial < PARTIAL_EVERY:
            return None
        self.since_partial = 0
        hypothesis = self.decoder.hyp()
        text = hypothesis.hypstr if hypothesis else ""
        if not text or text == self.last_partial:
            return None
        self.last_partial = text
        return {"text": text, "final": False}

    def finish(self) -> dict[str, Any] | None:
        if not self.in_utterance:
            return None
        self.decoder.end_utt()  # ends the live pass (its estimate of the mean carries on)
        audio, self.utterance = bytes(self.utterance), bytearray()
        self.in_utterance, self.since_partial, self.last_partial = False, 0, ""
        samples = np.frombuffer(audio, dtype="<i2")
        if not len(samples) or np.sqrt(np.mean(samples.astype(np.float64) ** 2)) < SILENCE_RMS:
            return None
        self.decoder.start_utt()
        self.decoder.process_raw(audio, False, True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        text = hypothesis.hypstr if hypothesis else ""
        return {"text": text, "final": True} if text else None


def open_stream(language: str) -> PocketSphinxStream:
    """A stream on the US English model the wheel ships (`language` is "en")."""
    import pocketsphinx

    from plugins.pocketsphinx.engine import load

    return PocketSphinxStream(load(str(pocketsphinx.get_model_path("en-us"))))
