"""What moves, as pure functions of time and seed: the ego car (speed, distance, bends, camera
sway) and the oncoming traffic, with the platform-independent hash that seeds them."""
from __future__ import annotations

import math

import numpy as np

from .constants import EGO_SPEED, MASK64, VIEW_M


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, platform-independent integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def hash01(*keys: int) -> float:
    """A uniform number in [0, 1) determined by ``keys`` alone (exact on every platform)."""
    h = 0
    for k in keys:
        h = mix64(h ^ (k & MASK64))
    return (h >> 11) * 2.0 ** -53


class Drive:
    """The ego car's motion: speed, distance travelled and camera sway, as functions of time.

    Shared by the picture and the sound so the engine note follows the speed.
    """

    def __init__(self, seed: int) -> None:
        ph = [2 * math.pi * hash01(seed, 101, i) for i in range(16)]
        self.ph = ph
        self.speed_amp = 1.2          # m/s of slow speed variation
        self.speed_period = 23.0      # s

    def speed(self, t: float | np.ndarray) -> float | np.ndarray:
        """Ego speed in m/s."""
        w = 2 * math.pi / self.speed_period
        return EGO_SPEED + self.speed_amp * np.sin(w * t + self.ph[0])

    def distance(self, t: float) -> float:
        """Metres travelled since t = 0 (the integral of ``speed``)."""
        w = 2 * math.pi / self.speed_period
        return (EGO_SPEED * t
                - self.speed_amp / w * (math.cos(w * t + self.ph[0]) - math.cos(self.ph[0])))

    def curvature(self, t: float) -> float:
        """Road curvature ahead (1/m): slow, gentle bends left and right."""
        return 1.0 / 1800.0 * math.sin(2 * math.pi * t / 27.0 + self.ph[1])

    def lateral(self, t: float) -> float:
        """The ego car's drift inside its lane, metres to the right."""
        return 0.22 * math.sin(2 * math.pi * t / 8.5 + self.ph[2])

    def sway(self, t: float) -> tuple[float, float, float]:
        """Camera (dx, dy) as fractions of the frame height and roll in degrees.

        Slow body motion, road bumps and a little engine vibration; a few tenths of a percent,
        like a dashcam on a windscreen.
        """
        p = self.ph
        tau = 2 * math.pi * t
        dx = 0.0025 * math.sin(0.31 * tau + p[3]) + 0.0007 * math.sin(1.7 * tau + p[4])
        dy = (0.0030 * math.sin(1.1 * tau + p[5]) + 0.0016 * math.sin(2.7 * tau + p[6])
              + 0.0005 * math.sin(9.3 * tau + p[7]) + 0.0003 * math.sin(13.1 * tau + p[8]))
        roll = 0.22 * math.sin(0.7 * tau + p[9]) + 0.08 * math.sin(2.3 * tau + p[10])
        return dx, dy, roll


class OncomingTraffic:
    """Oncoming cars: positions along the road at t = 0 and speeds, drawn lazily from the seed.

    Cars are drawn in order from one generator, so the first cars never depend on how many
    are needed: frame ``i`` is the same whatever the clip length.
    """

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed & MASK64, 202])
        self.start: list[float] = []
        self.speed: list[float] = []
        # the first car is already on its way so that every clip, even one second long,
        # shows a pair of headlights
        self._next = 55.0 + 45.0 * float(self._rng.random())

    def cars_at(self, t: float, travelled: float) -> list[tuple[float, int]]:
        """(distance ahead in metres, car index) of the cars in view at time ``t``."""
        while not self.start or self.start[-1] - 20.0 * t < travelled + VIEW_M:
            self.start.append(self._next)
            self.speed.append(11.0 + 7.0 * float(self._rng.random()))
            self._next += 45.0 + 190.0 * float(self._rng.random())
        out = []
        for k, (s0, v) in enumerate(zip(self.start, self.speed)):
            z = s0 - v * t - travelled
            if 1.0 < z < VIEW_M:
                out.append((z, k))
        return out
