"""Log-mel band energies of a clip, the input of antispoof models (numpy only)."""

from __future__ import annotations

import numpy as np

RATE = 16000
BANDS = 40
FFT = 512
HOP = 160


def mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + hz / 700)


def filterbank() -> np.ndarray:
    """A triangular mel filterbank, BANDS x (FFT // 2 + 1)."""
    edges = 700 * (10 ** (np.linspace(0, mel(np.array(RATE / 2)), BANDS + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(FFT, 1 / RATE)
    bank = np.zeros((BANDS, len(bins)))
    for band in range(BANDS):
        low, mid, high = edges[band : band + 3]
        rising = (bins - low) / (mid - low)
        falling = (high - bins) / (high - mid)
        bank[band] = np.clip(np.minimum(rising, falling), 0, None)
    return bank


def log_mel(samples: np.ndarray) -> np.ndarray:
    """[frames, BANDS] log energies of 16 kHz mono samples (int16 or float)."""
    audio = samples.astype(np.float64) / 32768
    if len(audio) < FFT:
        audio = np.pad(audio, (0, FFT - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, FFT)[::HOP] * np.hanning(FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log(power @ filterbank().T + 1e-10).astype(np.float32)
