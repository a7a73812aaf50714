"""The sound track of the night drive: engine hum following the car's speed, road rumble, hiss."""
from __future__ import annotations

import math

import numpy as np

from .checks import check_int
from .constants import AUDIO_SAMPLE_RATE, EGO_SPEED, MASK64
from .motion import Drive


def _lowpass(rate: int, cutoff: float, taps: int) -> np.ndarray:
    """A Hamming-windowed sinc low-pass FIR, normalised to unit gain at DC."""
    n = np.arange(taps) - (taps - 1) / 2
    k = np.sinc(2 * cutoff / rate * n) * np.hamming(taps)
    return k / k.sum()


class RoadSound:
    """Engine hum (following the speed of ``Drive``) and road rumble, produced in blocks.

    The noise generator and the filters' history carry over from block to block, so the sound
    is continuous and depends only on the seed and on the sequence of block sizes; callers use
    ``BLOCK``-sized blocks (the AAC frame size) so the result does not depend on them at all.
    """

    BLOCK = 1024

    def __init__(self, seed: int, rate: int = AUDIO_SAMPLE_RATE) -> None:
        self.rate = rate
        self.drive = Drive(seed)
        self.rng = np.random.default_rng([seed & MASK64, 606])
        self.done = 0
        self.cycles = 0.0
        self.rumble = _lowpass(rate, 180.0, 511)
        self.rumble /= math.sqrt(float(np.sum(self.rumble ** 2)))   # unit-variance output
        lp = _lowpass(rate, 3000.0, 63)
        self.hiss = -lp
        self.hiss[31] += 1.0                                     # delta - low-pass = high-pass
        self.hiss /= math.sqrt(float(np.sum(self.hiss ** 2)))
        self.history = np.zeros((3, self.rumble.size - 1))
        # a four-cylinder's firing order: strong fundamental, a half-order roughness, harmonics
        self.harm = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 6.0])
        self.amp = np.array([0.25, 1.0, 0.45, 0.25, 0.14, 0.06])
        self.phase = self.rng.random(self.harm.size) * 2 * math.pi

    def render(self, count: int) -> np.ndarray:
        """The next ``count`` samples, (2, count) float32 in [-1, 1]."""
        t = (self.done + np.arange(count)) / self.rate
        speed = self.drive.speed(t)
        f0 = 4.2 * speed                                   # firing frequency, ~63 Hz at 15 m/s
        cycles = self.cycles + np.cumsum(f0) / self.rate
        self.cycles = float(cycles[-1] % 2.0)              # 2: keeps the half order continuous
        engine = (self.amp[:, None]
                  * np.sin(2 * math.pi * self.harm[:, None] * cycles[None, :]
                           + self.phase[:, None])).sum(axis=0)
        engine *= 0.09 * (1.0 + 0.08 * np.sin(2 * math.pi * 0.37 * t))
        # sample-major draws: the noise does not depend on how the samples are blocked
        white = self.rng.standard_normal((count, 3)).T
        hist = np.concatenate([self.history, white], axis=1)
        self.history = hist[:, -(self.rumble.size - 1):]
        rumble = np.stack([np.convolve(row, self.rumble, mode="valid") for row in hist])
        short = hist[:, -(count + self.hiss.size - 1):]
        hiss = np.stack([np.convolve(row, self.hiss, mode="valid") for row in short[1:]])
        level = speed / EGO_SPEED
        common = 0.05 * level * rumble[0]
        left = engine * 1.05 + common + 0.03 * level * rumble[1] + 0.006 * level * hiss[0]
        right = engine * 0.95 + common + 0.03 * level * rumble[2] + 0.006 * level * hiss[1]
        self.done += count
        return np.clip(np.stack([left, right]), -1.0, 1.0).astype(np.float32)


def render_night_audio(num_samples: int, sample_rate: int = AUDIO_SAMPLE_RATE,
                       seed: int = 0) -> np.ndarray:
    """The sound track of the night drive: (2, num_samples) float32 stereo in [-1, 1].

    A four-cylinder engine hum whose pitch follows the car's speed, plus tyre/road rumble and
    a little hiss, decorrelated between the channels. Deterministic for ``seed``.
    """
    num_samples = check_int("num_samples", num_samples, 0)
    sample_rate = check_int("sample_rate", sample_rate, 8000)
    check_int("seed", seed)
    sound = RoadSound(seed, sample_rate)
    out = np.empty((2, num_samples), np.float32)
    for start in range(0, num_samples, RoadSound.BLOCK):
        n = min(RoadSound.BLOCK, num_samples - start)
        out[:, start:start + n] = sound.render(n)
    return out
