"""Procedural night-driving sample clips: the test and demo input of the pipeline.

``render_night_frames`` draws a dashcam's view of a road at night, frame by frame: a dark sky
over a treeline, an asphalt road in perspective with lane markings that stream toward the
camera, street lamps with glowing cores, halos and light pools that pass by, oncoming cars
whose headlights flare as they approach, a car ahead with red tail-lights (and brake lights),
gentle camera sway and signal-dependent sensor noise.  Everything is a function of the frame
time and the seed, so the same arguments always give the same frames.

``write_night_clip`` encodes such frames with PyAV (H.264 + optional AAC engine/road sound);
``main`` is the command line of ``tools/make_sample.py``.

How a frame is made (fully vectorised; OpenCV's multi-threaded uint8 kernels do the
full-resolution work, numpy only touches small buffers and small regions):

* a uint8 *albedo* image: the static sky, treeline and verge, then the road, markings, poles and
  cars drawn each frame with anti-aliased fixed-point polygons;
* a smooth *illumination* layer at ~68 rows: ambient light, our own low beams, fog and the
  moving pools of light under the lamps; upsampled and multiplied into the albedo;
* a smooth *emissive* layer at the same size: haze and the mid and wide lens glow of every
  light (energy splatted at sub-pixel positions, then blurred), plus wet-road reflections;
* light cores and their tight glow, stamped at full resolution in small regions;
* the bonnet, then Poisson-Gaussian sensor noise taken from a pre-generated bank.

Camera sway (a small roll and translation) is folded into the projection of everything drawn
and into the warps of the low-res layers, so the finished frame is never warped.
"""
from __future__ import annotations

import argparse
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Union

import av
import cv2
import numpy as np

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "ClipInfo",
    "MIN_SIZE",
    "main",
    "render_night_audio",
    "render_night_frames",
    "write_night_clip",
]

#: smallest width and height ``render_night_frames`` accepts
MIN_SIZE = 16
#: sample rate of the synthetic sound track
AUDIO_SAMPLE_RATE = 48_000

# --- world (metres, metres per second) -------------------------------------------------------
_CAM_HEIGHT = 1.35          # dashcam above the road
_LANE_W = 3.5               # two lanes; we drive in the right one
_ROAD_HALF = _LANE_W + 0.6  # half width of the asphalt, shoulder included
_EGO_SPEED = 15.0           # ~54 km/h
_FOG_M = 220.0              # extinction distance of the (slightly hazy) night air
_VIEW_M = 360.0             # nothing farther than this is drawn (it has faded into the haze)
_LAMP_SPACING = 38.0
_LAMP_HEIGHT = 8.4
_POST_SPACING = 50.0

# --- photometry (8-bit code values, "DN") -----------------------------------------------------
_SKY_TOP = (3.0, 4.0, 10.0)
_SKY_HORIZON = (34.0, 28.0, 30.0)    # city glow on the horizon
_TREES = (7.0, 8.0, 8.0)
_AIRLIGHT = (30.0, 26.0, 28.0)       # what distant ground fades into, about the horizon's level
_SKY_LIGHT = 0.25                    # see _NightScene._lowres_setup
_AMBIENT = (0.20, 0.21, 0.25)        # moon/city light on the ground, slightly blue
_BEAM = (1.6, 1.52, 1.36)            # our own low beams, warm white
_L_SCALE = 64.0                      # illumination is stored as uint8 in units of 1/64
_ASPHALT = (30, 30, 32)              # albedos as uint8 (255 = white paint under full light)
_PAINT = (185, 185, 175)
_VERGE = (34, 38, 28)
_POLE = (50, 50, 54)
_POST = (120, 120, 112)
_CAR_BODY = (70, 70, 78)
_CAR_GLASS = (20, 20, 24)
_ONCOMING_BODY = (26, 26, 30)
_PLATE = (255, 255, 240)
_SODIUM = np.array([1.0, 0.62, 0.26], np.float32)
_LED = np.array([0.88, 0.93, 1.0], np.float32)
_HEADLIGHT = np.array([0.92, 0.96, 1.0], np.float32)
_TAIL = np.array([1.0, 0.08, 0.04], np.float32)
_AMBER = np.array([1.0, 0.55, 0.12], np.float32)
_CORE_RADIANCE = 3000.0    # light cores are far brighter than full scale: they clip, as in a
                           # real night exposure, and sensor noise cannot pull them below 255

# lens point-spread function: share of a light's energy in each part of its halo
_W_TIGHT = 0.35            # sigma 0.5 % of the frame height, drawn at full resolution
_W_MID = 0.30              # sigma 2.2 %
_W_WIDE = 0.12             # sigma 7.5 %: the veil around strong lights
_W_STREAK = 0.02           # a faint horizontal smear from the windscreen

# --- sensor noise (Poisson-Gaussian in DN) ----------------------------------------------------
_SHOT_GAIN = 0.45          # variance per DN of signal
_READ_NOISE = 2.2          # DN
_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, platform-independent integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _hash01(*keys: int) -> float:
    """A uniform number in [0, 1) determined by ``keys`` alone (exact on every platform)."""
    h = 0
    for k in keys:
        h = _mix64(h ^ (k & _MASK64))
    return (h >> 11) * 2.0 ** -53


class _Drive:
    """The ego car's motion: speed, distance travelled and camera sway, as functions of time.

    Shared by the picture and the sound so the engine note follows the speed.
    """

    def __init__(self, seed: int) -> None:
        ph = [2 * math.pi * _hash01(seed, 101, i) for i in range(16)]
        self.ph = ph
        self.speed_amp = 1.2          # m/s of slow speed variation
        self.speed_period = 23.0      # s

    def speed(self, t: float | np.ndarray) -> float | np.ndarray:
        """Ego speed in m/s."""
        w = 2 * math.pi / self.speed_period
        return _EGO_SPEED + self.speed_amp * np.sin(w * t + self.ph[0])

    def distance(self, t: float) -> float:
        """Metres travelled since t = 0 (the integral of ``speed``)."""
        w = 2 * math.pi / self.speed_period
        return (_EGO_SPEED * t
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


class _OncomingTraffic:
    """Oncoming cars: positions along the road at t = 0 and speeds, drawn lazily from the seed.

    Cars are drawn in order from one generator, so the first cars never depend on how many
    are needed: frame ``i`` is the same whatever the clip length.
    """

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed & _MASK64, 202])
        self.start: list[float] = []
        self.speed: list[float] = []
        # the first car is already on its way so that every clip, even one second long,
        # shows a pair of headlights
        self._next = 55.0 + 45.0 * float(self._rng.random())

    def cars_at(self, t: float, travelled: float) -> list[tuple[float, int]]:
        """(distance ahead in metres, car index) of the cars in view at time ``t``."""
        while not self.start or self.start[-1] - 20.0 * t < travelled + _VIEW_M:
            self.start.append(self._next)
            self.speed.append(11.0 + 7.0 * float(self._rng.random()))
            self._next += 45.0 + 190.0 * float(self._rng.random())
        out = []
        for k, (s0, v) in enumerate(zip(self.start, self.speed)):
            z = s0 - v * t - travelled
            if 1.0 < z < _VIEW_M:
                out.append((z, k))
        return out


class _Light(NamedTuple):
    """A light source as seen this frame."""

    x: float                    # pixel position
    y: float
    r: float                    # radius of its bright core, pixels
    z: float                    # distance, metres
    core: np.ndarray            # core colour and level (1: far above full scale)
    energy: np.ndarray          # energy spread into its halo, DN * (frame height)^2
    streak: tuple[float, float, np.ndarray] | None  # mirror image on the road and its level


_RoadX = Callable[[Union[np.ndarray, float]], Union[np.ndarray, float]]
_Box = tuple[float, float, float, float, float]   # x0, x1, y0, y1 on screen; distance


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    u = np.clip((x - a) / (b - a), 0.0, 1.0)
    return u * u * (3 - 2 * u)


class _NightScene:
    """Everything about one (width, height, seed) that does not change from frame to frame,
    and the drawing of a frame."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.w, self.h, self.seed = width, height, seed
        # a ~78 degree dashcam lens; a narrow or portrait frame is a crop of a 16:9 one
        self.f = 0.62 * max(width, height * 16 / 9)
        self.cx = (width - 1) / 2
        self.yh = 0.45 * height
        self.drive = _Drive(seed)
        self.traffic = _OncomingTraffic(seed)
        self._lowres_setup()
        self._static_layers()
        self._hood_setup()
        self._noise_setup()

    # --- static layers ------------------------------------------------------------------------
    def _lowres_setup(self) -> None:
        """The smooth layers (illumination, glow, haze) live at ~68 rows, whatever the size.

        Illumination is stored as uint8 in units of 1/64 and multiplied into the uint8 albedo
        in one saturating OpenCV call: three times cheaper than float images at 1080p.
        """
        w, h = self.w, self.h
        self.s = max(1.0, h / 68.0)                 # full-res pixels per low-res pixel
        self.gw, self.gh = max(1, round(w / self.s)), max(1, round(h / self.s))
        self.kx, self.ky = self.gw / w, self.gh / h
        self.sig_mid = 0.022 * h / self.s           # low-res px
        self.sig_wide = 0.075 * h / self.s
        self.pad = int(math.ceil(3 * self.sig_wide)) + 2
        gh, gw, p = self.gh, self.gw, self.pad
        self.glow = np.zeros((gh + 2 * p, gw + 2 * p, 3), np.float32)
        self.pools = np.zeros((gh, gw, 3), np.float32)

        # the centres of the low-res pixels, in full-res pixel coordinates
        y = ((np.arange(gh, dtype=np.float32) + 0.5) / self.ky - 0.5)[:, None]
        x = ((np.arange(gw, dtype=np.float32) + 0.5) / self.kx - 0.5)[None, :]
        dy = y - self.yh
        ground = dy > 0.5
        z = self.f * _CAM_HEIGHT / np.maximum(dy, 0.5)             # distance of a ground point
        xw = (x - self.cx) * z / self.f                             # and its lateral position
        trans = np.exp(-z / _FOG_M)
        # low beams: bright from a few metres to ~40 m, wider with distance, a little to the
        # right (toward the verge) as in right-hand traffic
        beam = (_smoothstep(2.0, 6.0, z) * np.minimum(1.0, (10.0 / z) ** 1.5)
                * np.exp(-0.5 * ((xw - 0.5) / (1.8 + 0.2 * z)) ** 2))
        yc = (h - 1) / 2
        r2 = ((x - self.cx) ** 2 + (y - yc) ** 2) / (self.cx ** 2 + yc ** 2 + 1e-6)
        vignette = 1.0 - 0.3 * r2
        light = np.empty((gh, gw, 3), np.float32)
        haze = np.empty((gh, gw, 3), np.float32)
        for c in range(3):
            # the sky is emissive: its "albedo" is its own level divided by a constant light,
            # which keeps the illumination smooth across the horizon
            gl = (_AMBIENT[c] + _BEAM[c] * beam) * trans
            light[..., c] = np.where(ground, gl, _SKY_LIGHT)
            haze[..., c] = np.where(ground, _AIRLIGHT[c] * (1.0 - trans), 0.0)
        # both are fixed to the world and sway with it; the vignette is fixed to the lens
        self.light_low = light
        self.haze_low = haze
        self.vignette_low = np.repeat(vignette[..., None], 3, axis=2).astype(np.float32)

    def _upsampled(self, low: np.ndarray, scale: float) -> np.ndarray:
        """A low-res float layer as the uint8 full-res image a frame will use."""
        return cv2.resize(cv2.convertScaleAbs(low, alpha=scale), (self.w, self.h),
                          interpolation=cv2.INTER_LINEAR)

    def _static_layers(self) -> None:
        """The albedo image of what never moves: sky, treeline and verge."""
        w, h, f = self.w, self.h, self.f
        # a treeline on the horizon, dark against the city glow; its profile is a function of
        # the viewing angle, so it looks the same at every resolution
        rng = np.random.default_rng([self.seed & _MASK64, 303])
        angle = (np.arange(w, dtype=np.float32) - self.cx) / f
        coarse, fine = rng.random(64), rng.random(640)
        prof = (0.6 * np.interp(angle * 8 + 32, np.arange(64), coarse)
                + 0.4 * np.interp(angle * 80 + 320, np.arange(640), fine) ** 2)
        tree_h = (f * (0.004 + 0.035 * prof)).astype(np.float32)
        # the sky, rows above the horizon only (below it the static albedo is the verge)
        rows = min(h, math.floor(self.yh + 0.5) + 1)
        y = np.arange(rows, dtype=np.float32)[:, None]
        above = self.yh - y                                          # px above the horizon
        glow = np.exp(-np.clip(above / max(self.yh, 1.0), 0.0, 1.0) / 0.25)
        cover = (np.clip(tree_h[None, :] - above + 0.5, 0.0, 1.0) * (above > -1.0))[..., None]
        top, horizon = np.array(_SKY_TOP, np.float32), np.array(_SKY_HORIZON, np.float32)
        sky = (top + (horizon - top) * glow[..., None]) * (1 - cover)
        sky += np.array(_TREES, np.float32) * cover
        # albedo * light / 64 + haze must give the sky's level: solve for the albedo
        light = self._upsampled(self.light_low * self.vignette_low, _L_SCALE)[:rows]
        haze = self._upsampled(self.haze_low, 1.0)[:rows]
        sky_albedo = (sky - haze) * _L_SCALE / np.maximum(light, 1).astype(np.float32)
        albedo = np.empty((h, w, 3), np.uint8)
        albedo[...] = _VERGE
        sky_rows = (y[:, 0] - self.yh <= 0.5)
        albedo[:rows][sky_rows] = np.clip(sky_albedo[sky_rows].round(), 0, 255)
        self.albedo_static = albedo
        # Camera sway is applied while drawing (to every projected point and to the low-res
        # layers) rather than by warping the finished frame, which would cost a third of the
        # frame time. The static albedo is uniform below the horizon and a smooth gradient
        # high in the sky, so only a band around the horizon and the treeline is warped.
        sway = 0.006 * h + math.tan(math.radians(0.32)) * w / 2 + 2.0
        self.band_y0 = int(max(0, math.floor(self.yh - float(tree_h.max()) - sway)))
        self.band_y1 = int(min(h, math.ceil(self.yh + sway) + 1))

    def _hood_setup(self) -> None:
        """The bonnet at the bottom of the picture: it moves with the camera, not the world."""
        w, h = self.w, self.h
        u = (np.arange(w, dtype=np.float32) - self.cx) / max(self.cx, 1.0)
        edge = h * (0.94 + 0.045 * u * u)
        self.hood_y0 = int(min(h - 1, max(0, math.floor(edge.min()) - 1)))
        y = np.arange(self.hood_y0, h, dtype=np.float32)[:, None]
        alpha = np.clip(y - edge[None, :] + 0.5, 0.0, 1.0)[..., None]
        depth = np.clip((y - edge[None, :]) / (0.06 * h), 0.0, 1.0)
        # dark paint with a faint sheen near its edge, where it catches the road lights
        shade = (5.0 + 10.0 * np.exp(-depth / 0.3) * (1.0 - 0.5 * u * u)[None, :])[..., None]
        tint = np.array([1.0, 1.0, 1.15], np.float32)
        self.hood_keep = np.round(255 * (1 - alpha) * np.ones(3)).astype(np.uint8)
        self.hood_paint = np.round(shade * tint * alpha).astype(np.uint8)

    def _noise_setup(self) -> None:
        """A bank of demosaicked-looking noise, sliced at a random offset for each frame.

        Drawing 3*W*H fresh normals every frame would cost more than the rest of the frame; a
        bank one and a half frames long, read from a random pixel offset with a random sign,
        is statistically the same and never repeats visibly. It is int16 (units of 1/256)
        because the int16 arithmetic is twice as fast as float at 1080p.
        """
        w, h = self.w, self.h
        rows = h + max(8, h // 2)
        rng = np.random.default_rng([self.seed & _MASK64, 404])
        bank = rng.standard_normal((rows, w, 3), dtype=np.float32)
        # a sensor's noise is not white after demosaicking: neighbouring pixels and the three
        # channels are correlated. A light blur and a luma/chroma mix imitate that.
        bank = cv2.GaussianBlur(bank, (3, 3), 0.6, borderType=cv2.BORDER_REFLECT)
        mix = np.array([[0.80, 0.45, 0.35], [0.45, 0.80, 0.40], [0.35, 0.45, 0.80]], np.float32)
        bank = cv2.transform(bank, mix)
        # unit variance again (a normal sample never reaches the int16 limits at 256 per unit)
        k = cv2.getGaussianKernel(3, 0.6)
        gain = float(np.sum(k ** 2)) * np.sqrt(np.sum(mix ** 2, axis=1))
        bank *= (256.0 / gain).astype(np.float32)
        self.noise_bank = bank.astype(np.int16).reshape(-1)
        self.noise_span = (rows - h) * w                    # number of valid pixel offsets
        v = np.arange(256, dtype=np.float64)
        # standard deviation for each level, in units of 1/16
        sigma = np.sqrt(_SHOT_GAIN * v + _READ_NOISE ** 2)
        # a clipped pixel's true level is unknown but above full scale: noise cannot show there
        sigma[255] = 0.0
        self.noise_lut = np.round(16 * sigma).astype(np.int16).reshape(1, 256)
        # a few hot pixels, as on any cheap sensor (fixed, so a denoiser can learn them)
        n_hot = (w * h) // 80_000
        self.hot_y = rng.integers(0, h, n_hot)
        self.hot_x = rng.integers(0, w, n_hot)
        self.hot_v = rng.integers(70, 200, (n_hot, 1)).astype(np.uint8)

    # --- projection ---------------------------------------------------------------------------
    def _set_camera(self, t: float) -> None:
        """This frame's camera sway: the 2x3 matrix from the steady view to the shaken one."""
        dx, dy, roll = self.drive.sway(t)
        m = cv2.getRotationMatrix2D((self.cx, self.yh), roll, 1.0)
        m[0, 2] += dx * self.h
        m[1, 2] += dy * self.h
        self.m = m
        self.m_coef = tuple(float(v) for v in m.reshape(-1))
        # the same motion in low-res pixel coordinates: p_low = k * p + (k / 2 - 1 / 2)
        k = np.diag([self.kx, self.ky])
        c = np.array([0.5 * self.kx - 0.5, 0.5 * self.ky - 0.5])
        a = k @ m[:, :2] @ np.linalg.inv(k)
        self.m_low = np.hstack([a, (k @ m[:, 2] + c - a @ c)[:, None]])

    def proj(self, x: np.ndarray | float, y: np.ndarray | float,
             z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Camera coordinates (right, up from the road, ahead; metres) to pixel coordinates,
        camera sway included."""
        z = np.maximum(z, 0.05)
        u = self.cx + self.f * np.asarray(x) / z
        v = self.yh + self.f * (_CAM_HEIGHT - np.asarray(y)) / z
        a, b, c, d, e, f = self.m_coef
        px, py = np.broadcast_arrays(a * u + b * v + c, d * u + e * v + f)
        return px, py

    def point(self, x: float, y: float, z: float) -> tuple[float, float]:
        """``proj`` for one point, without numpy's per-call overhead."""
        z = max(z, 0.05)
        u = self.cx + self.f * x / z
        v = self.yh + self.f * (_CAM_HEIGHT - y) / z
        a, b, c, d, e, f = self.m_coef
        return a * u + b * v + c, d * u + e * v + f

    @staticmethod
    def _pts(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Pixel coordinates to OpenCV fixed-point polygon points (shift = 4)."""
        pts = np.stack([np.clip(px, -1e6, 1e6), np.clip(py, -1e6, 1e6)], axis=-1)
        return np.round(pts * 16).astype(np.int32)

    # --- one frame ----------------------------------------------------------------------------
    def render(self, t: float) -> np.ndarray:
        """The frame at time ``t`` seconds, (H, W, 3) uint8 RGB."""
        drive = self.drive
        travelled = drive.distance(t)
        curv = drive.curvature(t)
        # road centre, relative to the camera: we drive in the right lane
        x0 = -_LANE_W / 2 - drive.lateral(t)

        def road_x(z: np.ndarray | float) -> np.ndarray | float:
            return x0 + 0.5 * curv * np.square(z)

        self._set_camera(t)
        albedo = self.albedo_static.copy()
        y0, y1 = self.band_y0, self.band_y1
        if y1 > y0:
            band = self.m.copy()
            band[1, 2] -= y0
            albedo[y0:y1] = cv2.warpAffine(self.albedo_static, band, (self.w, y1 - y0),
                                           flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REPLICATE)
        self.glow.fill(0.0)
        self.pools.fill(0.0)
        lights: list[_Light] = []
        self._draw_road(albedo, road_x, travelled)
        self._draw_lamps(albedo, road_x, travelled, lights)
        self._draw_posts(albedo, road_x, travelled, lights)
        for z, k in sorted(self.traffic.cars_at(t, travelled), reverse=True):
            self._oncoming_car(albedo, road_x, z, k, lights)      # far to near
        box = self._car_ahead(albedo, road_x, t, lights)
        lights = [s for s in lights if not _hidden(s, box)]
        for s in lights:
            if s.streak is not None and s.streak[2].max() > 0.25:
                self._streak(s.streak[0], s.streak[1], s.z, s.streak[2])
        img = self._compose(albedo, lights)
        for s in lights:
            self._stamp_light(img, s)
        self._cover_hood(img)
        return self._add_noise(img, t)

    def _draw_road(self, albedo: np.ndarray, road_x: _RoadX, travelled: float) -> None:
        zs = np.geomspace(0.6, _VIEW_M, 64)
        xc = road_x(zs)

        def strip(a: float, b: float, z: np.ndarray, c: np.ndarray) -> np.ndarray:
            lx, ly = self.proj(c + a, 0.0, z)
            rx, ry = self.proj(c + b, 0.0, z)
            return self._pts(np.concatenate([lx, rx[::-1]]), np.concatenate([ly, ry[::-1]]))

        cv2.fillPoly(albedo, [strip(-_ROAD_HALF, _ROAD_HALF, zs, xc)], _ASPHALT, cv2.LINE_AA,
                     shift=4)
        edge = _LANE_W - 0.12
        near = zs < 150.0      # beyond that the lines are far thinner than a pixel
        lines = [strip(-edge - 0.15, -edge, zs[near], xc[near]),
                 strip(edge, edge + 0.15, zs[near], xc[near])]
        # centre line: 4 m dashes every 12 m, fixed to the road so they stream toward us
        period, dash = 12.0, 4.0
        first = math.floor((travelled + 0.6) / period)
        z_a = np.arange(first, first + int(150.0 / period) + 2) * period - travelled
        z_a = z_a[z_a + dash > 0.6]
        z_b = z_a + dash
        z_a = np.maximum(z_a, 0.6)
        zz = np.stack([z_a, z_b, z_b, z_a], axis=1)           # the four corners of each dash
        xx = road_x(zz) + np.array([-0.07, -0.07, 0.07, 0.07])
        lines.extend(self._pts(*self.proj(xx, 0.0, zz)))
        cv2.fillPoly(albedo, lines, _PAINT, cv2.LINE_AA, shift=4)

    def _draw_lamps(self, albedo: np.ndarray, road_x: _RoadX, travelled: float,
                    lights: list[_Light]) -> None:
        """Street lamps on both sides, staggered; a few are out, most are sodium orange."""
        poles: list[np.ndarray] = []
        for side, offset in ((1, 0.0), (-1, _LAMP_SPACING / 2)):
            k0 = math.ceil((travelled + 1.5 - offset) / _LAMP_SPACING)
            k1 = math.floor((travelled + _VIEW_M - offset) / _LAMP_SPACING)
            for k in range(k1, k0 - 1, -1):                      # far to near: near ones on top
                z = offset + k * _LAMP_SPACING - travelled
                h = _hash01(self.seed, 11, side, k)
                xc = float(road_x(z))
                pole_x = xc + side * (_ROAD_HALF + 1.4)
                head_x = xc + side * (_ROAD_HALF - 0.9)
                poles.extend(self._pole(pole_x, head_x, z))
                if h < 0.07:
                    continue                                     # a dead lamp
                color = _SODIUM if h < 0.72 else _LED
                power = (0.8 + 0.4 * _hash01(self.seed, 12, side, k)) * math.exp(-z / _FOG_M)
                px, py = self.point(head_x, _LAMP_HEIGHT - 0.15, z)
                rx, ry = self.point(head_x, -(_LAMP_HEIGHT - 0.15), z)
                lights.append(_Light(px, py, self.f * 0.28 / z, z, color,
                                     color * (110.0 * power / max(z, 6.0) ** 2),
                                     (rx, ry, color * (4.0 * power * min(1.0, 25.0 / z)))))
                # the pool of light it throws on the road under it
                self._pool(head_x, z, color * (1.1 * power))
        cv2.fillPoly(albedo, poles, _POLE, cv2.LINE_AA, shift=4)

    def _pole(self, pole_x: float, head_x: float, z: float) -> list[np.ndarray]:
        """The polygons of a lamp post and its arm."""
        half = 0.09
        thick = 0.6 * z / self.f + 0.05        # at least ~a pixel, so a far arm still shows
        corners = [(pole_x - half, 0.0), (pole_x + half, 0.0), (pole_x + half, _LAMP_HEIGHT),
                   (pole_x - half, _LAMP_HEIGHT)]
        arm = [(pole_x, _LAMP_HEIGHT - thick), (head_x, _LAMP_HEIGHT - thick),
               (head_x, _LAMP_HEIGHT + thick), (pole_x, _LAMP_HEIGHT + thick)]
        return [self._fixed([self.point(x, y, z) for x, y in corners]),
                self._fixed([self.point(x, y, z) for x, y in arm])]

    @staticmethod
    def _fixed(points: list[tuple[float, float]]) -> np.ndarray:
        """A few pixel coordinates as an OpenCV fixed-point polygon (shift = 4)."""
        return np.round(np.clip(np.array(points), -1e6, 1e6) * 16).astype(np.int32)

    def _draw_posts(self, albedo: np.ndarray, road_x: _RoadX, travelled: float,
                    lights: list[_Light]) -> None:
        """Reflector posts on the right verge: they light up in our own headlights."""
        k0 = math.ceil((travelled + 2.0 - 9.0) / _POST_SPACING)
        k1 = math.floor((travelled + 140.0 - 9.0) / _POST_SPACING)
        for k in range(k1, k0 - 1, -1):
            z = 9.0 + k * _POST_SPACING - travelled
            x = float(road_x(z)) + _ROAD_HALF + 0.5
            post = [(x - 0.05, 0.0), (x + 0.05, 0.0), (x + 0.05, 1.0), (x - 0.05, 1.0)]
            cv2.fillPoly(albedo, [self._fixed([self.point(u, v, z) for u, v in post])], _POST,
                         cv2.LINE_AA, shift=4)
            # retro-reflection of our beam: fades with distance
            ret = (12.0 / max(z, 12.0)) ** 2 * math.exp(-z / _FOG_M)
            rx, ry = self.point(x, 0.85, z)
            lights.append(_Light(rx, ry, self.f * 0.05 / z, z, _AMBER * ret,
                                 _AMBER * (6.0 * ret / max(z, 6.0) ** 2), None))

    def _oncoming_car(self, albedo: np.ndarray, road_x: _RoadX, z: float, k: int,
                      lights: list[_Light]) -> None:
        """A car in the left lane: a dim shape behind two bright, flaring headlights that are
        reflected on the road."""
        xc = float(road_x(z)) - _LANE_W / 2 + 0.2 * math.sin(k)
        body = [(xc - 0.9, 0.22), (xc + 0.9, 0.22), (xc + 0.9, 1.0), (xc - 0.9, 1.0)]
        cabin = [(xc - 0.8, 1.0), (xc + 0.8, 1.0), (xc + 0.62, 1.42), (xc - 0.62, 1.42)]
        # its front is in shadow behind its own lights: darker than the lit back of the car ahead
        cv2.fillPoly(albedo, [self._fixed([self.point(x, y, z) for x, y in body])],
                     _ONCOMING_BODY, cv2.LINE_AA, shift=4)
        cv2.fillPoly(albedo, [self._fixed([self.point(x, y, z) for x, y in cabin])],
                     _CAR_GLASS, cv2.LINE_AA, shift=4)
        power = (0.85 + 0.3 * _hash01(self.seed, 21, k)) * math.exp(-z / _FOG_M)
        for dx in (-0.78, 0.78):
            px, py = self.point(xc + dx, 0.68, z)
            rx, ry = self.point(xc + dx, -0.68, z)
            lights.append(_Light(px, py, self.f * 0.13 / z, z, _HEADLIGHT,
                                 _HEADLIGHT * (450.0 * power / max(z, 5.0) ** 2),
                                 (rx, ry, _HEADLIGHT * (40.0 * power * min(1.0, 20.0 / z)))))
        if z > 9.0:
            # its low beams light the road in front of it
            self._pool(xc, z - 6.0, _HEADLIGHT * (0.4 * power), reach=7.0)

    def _car_ahead(self, albedo: np.ndarray, road_x: _RoadX, t: float,
                   lights: list[_Light]) -> _Box:
        """A car ahead in our lane, between ~15 and ~40 m away, braking when the gap closes.

        Returns its screen rectangle and distance: it hides the lights behind it.
        """
        p = self.drive.ph
        w1, w2 = 2 * math.pi / 19.0, 2 * math.pi / 7.0
        z = 21.0 + 6.0 * math.sin(w1 * t + p[11]) + 2.0 * math.sin(w2 * t + p[12])
        closing = 6.0 * w1 * math.cos(w1 * t + p[11]) + 2.0 * w2 * math.cos(w2 * t + p[12])
        braking = closing < -1.2
        xc = float(road_x(z)) + _LANE_W / 2 + 0.15 * math.sin(0.4 * t + p[13])

        def quad(x0: float, x1: float, y0: float, y1: float, inset: float = 0.0) -> np.ndarray:
            return self._pts(*self.proj(
                np.array([xc + x0, xc + x1, xc + x1 - inset, xc + x0 + inset]),
                np.array([y0, y0, y1, y1]), z))

        # body, roof and rear window, number plate
        cv2.fillPoly(albedo, [quad(-0.9, 0.9, 0.22, 1.0)], _CAR_BODY, cv2.LINE_AA, shift=4)
        cv2.fillPoly(albedo, [quad(-0.8, 0.8, 1.0, 1.45, 0.14)], _CAR_GLASS, cv2.LINE_AA,
                     shift=4)
        cv2.fillPoly(albedo, [quad(-0.26, 0.26, 0.42, 0.53)], _PLATE, cv2.LINE_AA, shift=4)
        trans = math.exp(-z / _FOG_M)
        level = 2.2 if braking else 1.0
        for dx in (-0.7, 0.7):
            px, py = self.point(xc + dx, 0.85, z)
            rx, ry = self.point(xc + dx, -0.85, z)
            lights.append(_Light(px, py, self.f * 0.1 / z, z, _TAIL * min(1.0, 0.45 * level),
                                 _TAIL * (40.0 * level * trans / max(z, 5.0) ** 2),
                                 (rx, ry, _TAIL * (6.0 * level * trans))))
        if braking:
            px, py = self.point(xc, 1.4, z)
            lights.append(_Light(px, py, self.f * 0.05 / z, z, _TAIL * 0.8,
                                 _TAIL * (15.0 * trans / max(z, 5.0) ** 2), None))
        x0, y0 = self.point(xc - 0.9, 1.45, z)
        x1, y1 = self.point(xc + 0.9, 0.0, z)
        return x0, x1, y0, y1, z

    # --- light layers -------------------------------------------------------------------------
    def _low(self, x: float, y: float) -> tuple[float, float]:
        """Full-resolution pixel coordinates to low-resolution ones (cv2.resize's mapping)."""
        return (x + 0.5) * self.kx - 0.5, (y + 0.5) * self.ky - 0.5

    def _pool(self, x_world: float, z: float, rgb: np.ndarray, reach: float = 7.0) -> None:
        """Add the light a lamp throws on the road: an ellipse in perspective, its near half
        larger than its far half."""
        if z - reach > 160.0 or z + reach < 1.0:
            return                       # farther pools are a pixel wide and lost in the haze
        cx, cy = self.point(x_world, 0.0, z)
        y_far = self.point(x_world, 0.0, z + reach)[1]
        y_near = self.point(x_world, 0.0, max(z - reach, 1.0))[1]
        lx, ly = self._low(cx, cy)
        ax = max(self.f * reach / z * self.kx * 0.45, 0.3)
        up = max((cy - y_far) * self.ky * 0.45, 0.3)
        down = max((y_near - cy) * self.ky * 0.45, 0.3)
        x0 = int(max(0, math.floor(lx - 3 * ax)))
        x1 = int(min(self.gw, math.ceil(lx + 3 * ax) + 1))
        y0 = int(max(0, math.floor(ly - 3 * up)))
        y1 = int(min(self.gh, math.ceil(ly + 3 * down) + 1))
        if x0 >= x1 or y0 >= y1:
            return
        gx = (np.arange(x0, x1, dtype=np.float32) - lx) / ax
        gy = np.arange(y0, y1, dtype=np.float32) - ly
        gy = np.where(gy < 0, gy / up, gy / down)
        g = np.exp(-0.5 * (gy[:, None] ** 2 + gx[None, :] ** 2))
        self.pools[y0:y1, x0:x1] += g[..., None] * rgb

    def _streak(self, x: float, y: float, z: float, rgb: np.ndarray) -> None:
        """A light's reflection on the damp road: a vertical streak around its mirror image,
        longer toward the camera than away from it."""
        lx, ly = self._low(x, y)
        lx += self.pad
        ly += self.pad
        sx = min(max(0.5, 0.3 * self.f / z * self.kx), 0.02 * self.gw + 0.5)
        down = max(1.0, 0.05 * self.gh) * (0.5 + 0.5 * min(1.0, 30.0 / z))
        up = 0.5 * down
        gh, gw = self.glow.shape[:2]
        x0, x1 = int(max(0, math.floor(lx - 3 * sx))), int(min(gw, math.ceil(lx + 3 * sx) + 1))
        y0, y1 = int(max(0, math.floor(ly - 3 * up))), int(min(gh, math.ceil(ly + 3 * down) + 1))
        if x0 >= x1 or y0 >= y1:
            return
        gx = (np.arange(x0, x1, dtype=np.float32) - lx) / sx
        gy = np.arange(y0, y1, dtype=np.float32) - ly
        gy = np.where(gy < 0, gy / up, gy / down)
        g = np.exp(-0.5 * (gy[:, None] ** 2 + gx[None, :] ** 2))
        self.glow[y0:y1, x0:x1] += g[..., None] * rgb

    def _compose(self, albedo: np.ndarray, lights: list[_Light]) -> np.ndarray:
        """albedo * (static + pool light) + haze + mid and wide glow, as uint8 (H, W, 3)."""
        p = self.pad
        glow = self.glow
        if lights:
            # splat every light's energy bilinearly (sub-pixel positions keep the halos moving
            # smoothly), then spread it with the lens' point-spread function. Energies are in
            # DN * (frame height)^2, so the look does not depend on the resolution; one
            # low-res pixel is s^2 full-res pixels.
            x = np.array([s.x for s in lights])
            y = np.array([s.y for s in lights])
            e = np.array([s.energy for s in lights], np.float32) * (self.h / self.s) ** 2
            lx = (x + 0.5) * self.kx - 0.5 + p
            ly = (y + 0.5) * self.ky - 0.5 + p
            ok = (lx >= 0) & (ly >= 0) & (lx < glow.shape[1] - 1) & (ly < glow.shape[0] - 1)
            lx, ly, e = lx[ok], ly[ok], e[ok]
            ix, iy = np.floor(lx).astype(np.intp), np.floor(ly).astype(np.intp)
            fx = (lx - ix).astype(np.float32)[:, None]
            fy = (ly - iy).astype(np.float32)[:, None]
            splat = np.zeros_like(glow)
            np.add.at(splat, (iy, ix), e * (1 - fx) * (1 - fy))
            np.add.at(splat, (iy, ix + 1), e * fx * (1 - fy))
            np.add.at(splat, (iy + 1, ix), e * (1 - fx) * fy)
            np.add.at(splat, (iy + 1, ix + 1), e * fx * fy)
            border = cv2.BORDER_CONSTANT
            mid = cv2.GaussianBlur(splat, (0, 0), self.sig_mid, borderType=border)
            cv2.scaleAdd(mid, _W_MID, glow, glow)
            # the wide veil and the horizontal streak are blurred at half resolution: their
            # kernels would otherwise be 40-100 taps long
            gh, gw = glow.shape[:2]
            half = cv2.resize(splat, ((gw + 1) // 2, (gh + 1) // 2), interpolation=cv2.INTER_AREA)
            wide = cv2.GaussianBlur(half, (0, 0), self.sig_wide / 2, borderType=border)
            streak = cv2.GaussianBlur(half, (0, 0), sigmaX=1.25 * self.sig_wide, sigmaY=0.3,
                                      borderType=border)
            both = cv2.addWeighted(wide, _W_WIDE, streak, _W_STREAK, 0.0)
            cv2.add(glow, cv2.resize(both, (gw, gh), interpolation=cv2.INTER_LINEAR), dst=glow)
        size_low = (self.gw, self.gh)
        haze = cv2.warpAffine(self.haze_low, self.m_low, size_low, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        emissive = cv2.add(glow[p:p + self.gh, p:p + self.gw], haze)
        light = cv2.warpAffine(self.light_low, self.m_low, size_low, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        light = cv2.multiply(cv2.add(light, self.pools), self.vignette_low)
        img = cv2.multiply(albedo, self._upsampled(light, _L_SCALE), scale=1.0 / _L_SCALE)
        return cv2.add(img, self._upsampled(emissive, 1.0), dst=img)

    def _stamp_light(self, img: np.ndarray, s: _Light) -> None:
        """Add a light's core (an anti-aliased disk far above full scale) and its tight glow,
        at full resolution: both are too sharp for the low-res layers."""
        sig = max(0.6, 0.005 * self.h)
        # an unresolved light keeps its energy, not its brightness: dim it instead of shrinking
        r = max(s.r, 0.7)
        core = _CORE_RADIANCE * math.exp(-s.z / _FOG_M) * min(1.0, (s.r / 0.7) ** 2)
        energy = s.energy * (self.h * self.h * _W_TIGHT / (2 * math.pi * sig * sig))
        peak = max(core * float(np.max(s.core)), float(np.max(energy)), 1.0)
        reach = r + 1.0 + sig * math.sqrt(2 * math.log(peak / 0.5 + 1.0))
        reach = min(reach, r + 0.3 * self.h)
        x0, x1 = max(0, math.floor(s.x - reach)), min(self.w, math.ceil(s.x + reach) + 1)
        y0, y1 = max(0, math.floor(s.y - reach)), min(self.h, math.ceil(s.y + reach) + 1)
        if x0 >= x1 or y0 >= y1:
            return
        dx = np.arange(x0, x1, dtype=np.float32) - np.float32(s.x)
        dy = np.arange(y0, y1, dtype=np.float32) - np.float32(s.y)
        d = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
        cover = np.clip(r + 0.5 - d, 0.0, 1.0)[..., None]
        halo = np.exp(-0.5 * np.square(np.maximum(d - r, 0.0) / sig))[..., None]
        roi = img[y0:y1, x0:x1]
        total = roi + (cover * (core * s.core) + halo * energy + 0.5)
        roi[...] = np.minimum(total, 255.0)

    # --- fixed to the camera -------------------------------------------------------------------
    def _cover_hood(self, img: np.ndarray) -> None:
        band = img[self.hood_y0:]
        kept = cv2.multiply(band, self.hood_keep, scale=1.0 / 255)
        cv2.add(kept, self.hood_paint, dst=band)

    def _add_noise(self, img: np.ndarray, t: float) -> np.ndarray:
        """Shot + read noise whose deviation follows the signal (through a 256-entry table)."""
        key = int(round(t * 1e6))
        offset = int(_hash01(self.seed, 505, key) * self.noise_span)
        sign = 1.0 if _hash01(self.seed, 506, key) < 0.5 else -1.0
        n = self.w * self.h * 3
        sample = self.noise_bank[offset * 3: offset * 3 + n].reshape(self.h, self.w, 3)
        sigma = cv2.LUT(img, self.noise_lut)
        # (sigma * 16) * (n * 256) / 4096 = sigma * n, rounded to whole DN
        noise = cv2.multiply(sigma, sample, scale=sign / 4096.0, dtype=cv2.CV_16S)
        out = cv2.add(img, noise, dtype=cv2.CV_8U)      # saturating: no wrap-around at 0/255
        if len(self.hot_y):
            out[self.hot_y, self.hot_x] = np.maximum(out[self.hot_y, self.hot_x], self.hot_v)
        return out


def _hidden(s: _Light, box: _Box) -> bool:
    """Whether light ``s`` is behind the car ahead, whose screen box and distance is ``box``."""
    x0, x1, y0, y1, zc = box
    return s.z > zc + 0.5 and x0 <= s.x <= x1 and y0 <= s.y <= y1


# --- sound ------------------------------------------------------------------------------------
def _lowpass(rate: int, cutoff: float, taps: int) -> np.ndarray:
    """A Hamming-windowed sinc low-pass FIR, normalised to unit gain at DC."""
    n = np.arange(taps) - (taps - 1) / 2
    k = np.sinc(2 * cutoff / rate * n) * np.hamming(taps)
    return k / k.sum()


class _RoadSound:
    """Engine hum (following the speed of ``_Drive``) and road rumble, produced in blocks.

    The noise generator and the filters' history carry over from block to block, so the sound
    is continuous and depends only on the seed and on the sequence of block sizes; callers use
    ``BLOCK``-sized blocks (the AAC frame size) so the result does not depend on them at all.
    """

    BLOCK = 1024

    def __init__(self, seed: int, rate: int = AUDIO_SAMPLE_RATE) -> None:
        self.rate = rate
        self.drive = _Drive(seed)
        self.rng = np.random.default_rng([seed & _MASK64, 606])
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
        level = speed / _EGO_SPEED
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
    num_samples = _check_int("num_samples", num_samples, 0)
    sample_rate = _check_int("sample_rate", sample_rate, 8000)
    _check_int("seed", seed)
    sound = _RoadSound(seed, sample_rate)
    out = np.empty((2, num_samples), np.float32)
    for start in range(0, num_samples, _RoadSound.BLOCK):
        n = min(_RoadSound.BLOCK, num_samples - start)
        out[:, start:start + n] = sound.render(n)
    return out


# --- frames -----------------------------------------------------------------------------------
def _check_int(name: str, value: object, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return int(value)


def _as_fps(fps: object) -> Fraction:
    """``fps`` as an exact fraction: 30 -> 30, 29.97 -> 2997/100, 30000/1001 stays exact."""
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
        raise ValueError(f"fps must be a number, not {fps!r}")
    if not isinstance(fps, numbers.Rational):
        if not math.isfinite(fps):
            raise ValueError(f"fps must be finite, not {fps}")
        # 29.97002997 -> 30000/1001; 12.5 -> 25/2
        rate = Fraction(float(fps)).limit_denominator(1001)
    else:
        rate = Fraction(fps)
    if rate <= 0 or rate > 1000:
        raise ValueError(f"fps must be in (0, 1000], not {fps}")
    return rate


def render_night_frames(width: int, height: int, num_frames: int, fps: float | Fraction = 30.0,
                        seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` frames of a procedural night drive seen from a dashcam.

    Each frame is a new ``(height, width, 3)`` uint8 **RGB** array: a dark road and sky (mean
    level about 0.05-0.15 of full scale) with lane markings streaming toward the camera, street
    lamps with clipped cores, halos and light pools passing by, oncoming headlights, a car
    ahead with tail-lights, slight camera sway and shot + read sensor noise.

    Frame ``i`` shows time ``i / fps``; it depends only on (width, height, fps, seed, i), so the
    same arguments always give identical frames, and a longer clip starts like a shorter one.
    Any ``width`` and ``height`` >= ``MIN_SIZE`` work, odd ones included. Rendering is
    vectorised (OpenCV and numpy); the first ``next()`` also prepares the static layers and
    the noise bank (~0.2 s at 720p, ~0.45 s at 1080p on two cores).

    Raises ``ValueError`` for a size below ``MIN_SIZE``, a negative frame count, a
    non-positive ``fps`` or a non-integer seed.
    """
    width = _check_int("width", width, MIN_SIZE)
    height = _check_int("height", height, MIN_SIZE)
    num_frames = _check_int("num_frames", num_frames, 0)
    rate = _as_fps(fps)
    seed = _check_int("seed", seed)
    return _frames(width, height, num_frames, rate, seed)


def _frames(width: int, height: int, num_frames: int, rate: Fraction,
            seed: int) -> Iterator[np.ndarray]:
    if num_frames == 0:
        return
    scene = _NightScene(width, height, seed)
    for i in range(num_frames):
        yield scene.render(float(i / rate))


# --- encoding ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipInfo:
    """What ``write_night_clip`` wrote.

    ``width`` and ``height`` are the encoded size, which is the requested size rounded up to
    even numbers (4:2:0 chroma needs them; see ``write_night_clip``).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    num_frames: int
    has_audio: bool

    @property
    def duration(self) -> float:
        """Length of the video in seconds (``num_frames / fps``)."""
        return float(self.num_frames / self.fps)


_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")


def _container_format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the container of {str(path)!r} from its extension; "
                         f"use one of {', '.join(_FORMATS)}")
    return fmt


@dataclass(frozen=True)
class _ClipPlan:
    path: Path
    fmt: str
    width: int
    height: int
    rate: Fraction
    num_frames: int
    seed: int
    options: dict[str, str]
    crf: float
    preset: str


def _plan_clip(path: str | os.PathLike[str], width: object, height: object, fps: object,
               seconds: object, seed: object, crf: object, preset: object, faststart: bool,
               container_options: Mapping[str, object] | None) -> _ClipPlan:
    """Check every argument of ``write_night_clip``; raises ``ValueError`` with a clear message."""
    path = Path(path)
    fmt = _container_format(path)
    w = _check_int("width", width, MIN_SIZE)
    h = _check_int("height", height, MIN_SIZE)
    rate = _as_fps(fps)
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise ValueError(f"seconds must be a number, not {seconds!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    num_frames = round(float(rate) * float(seconds))
    if num_frames < 1:
        raise ValueError(f"{seconds} s at {rate} fps is less than one frame")
    seed = _check_int("seed", seed)
    if isinstance(crf, bool) or not isinstance(crf, numbers.Real) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be a number from 0 to 51, not {crf!r}")
    if preset not in _X264_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(_X264_PRESETS)}, not {preset!r}")
    options = {str(k): str(v) for k, v in (container_options or {}).items()}
    if faststart:
        if fmt not in ("mp4", "mov"):
            raise ValueError(f"faststart applies to .mp4 and .mov files, not {path.suffix}")
        flags = options.get("movflags", "")
        options["movflags"] = f"{flags}+faststart" if flags else "+faststart"
    return _ClipPlan(path, fmt, w, h, rate, num_frames, seed, options, float(crf), preset)


def write_night_clip(path: str | os.PathLike[str], width: int = 1280, height: int = 720,
                     fps: float | Fraction = 30, seconds: float = 4.0, *, audio: bool = True,
                     seed: int = 0, crf: float = 20, preset: str = "veryfast",
                     faststart: bool = False,
                     container_options: Mapping[str, object] | None = None) -> ClipInfo:
    """Render a night drive (``render_night_frames``) and encode it to ``path`` with PyAV.

    * container from the extension: ``.mp4``, ``.mov`` or ``.mkv``;
    * video: H.264 (libx264, yuv420p, ``crf``, ``preset``), exactly ``round(fps * seconds)``
      frames at a constant ``fps`` (int, float or ``Fraction``; 29.97 and 30000/1001 are kept
      exact). The stream time base is ``1 / fps`` and frame ``i`` has pts ``i``, so every
      timestamp is exact in the encoder; .mp4/.mov keep them exact, Matroska stores
      milliseconds;
    * odd sizes: the frame is rendered at the requested size and its last column and/or row is
      repeated to reach even dimensions (4:2:0 chroma needs them), as the pipeline's file sink
      does; ``ClipInfo`` reports the encoded size;
    * ``audio``: an AAC stereo 48 kHz track of the same duration (``render_night_audio``);
    * ``faststart``: put the mp4/mov index (moov) at the front, so a truncated file still
      plays; ``container_options`` go to the muxer as they are (``movflags`` are merged).

    The file is written under a temporary name and renamed when complete, so an interrupted
    run never leaves a half-written clip at ``path``. Raises ``ValueError`` for bad arguments,
    ``OSError`` / ``av.FFmpegError`` when the file cannot be written.
    """
    plan = _plan_clip(path, width, height, fps, seconds, seed, crf, preset, faststart,
                      container_options)
    tmp = plan.path.with_name(f".{plan.path.name}.{os.getpid()}.partial")
    try:
        _encode(plan, tmp, bool(audio))
        os.replace(tmp, plan.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ClipInfo(plan.path, plan.width + plan.width % 2, plan.height + plan.height % 2,
                    plan.rate, plan.num_frames, bool(audio))


class _SoundTrack:
    """The AAC stream of a clip and the synthesiser feeding it, kept level with the video."""

    def __init__(self, out: av.container.OutputContainer, seed: int, total: int) -> None:
        self.out = out
        self.stream = out.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        self.sound = _RoadSound(seed)
        self.total = total

    def write_until(self, sample: int) -> None:
        """Encode the sound up to ``sample`` (never past the end of the clip)."""
        sound = self.sound
        while sound.done < min(sample, self.total):
            start = sound.done
            n = min(_RoadSound.BLOCK, self.total - start)
            frame = av.AudioFrame.from_ndarray(sound.render(n), format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_SAMPLE_RATE
            frame.pts = start
            frame.time_base = self.stream.time_base
            for packet in self.stream.encode(frame):
                self.out.mux(packet)

    def finish(self) -> None:
        self.write_until(self.total)
        for packet in self.stream.encode(None):
            self.out.mux(packet)


def _encode(plan: _ClipPlan, tmp: Path, audio: bool) -> None:
    pad_w, pad_h = plan.width % 2, plan.height % 2
    tb = 1 / plan.rate
    with av.open(str(tmp), "w", format=plan.fmt, container_options=plan.options) as out:
        video = out.add_stream("libx264", rate=plan.rate)
        video.width, video.height = plan.width + pad_w, plan.height + pad_h
        video.pix_fmt = "yuv420p"
        video.time_base = video.codec_context.time_base = tb
        video.options = {"crf": f"{plan.crf:g}", "preset": plan.preset}
        # the sound lasts exactly as long as the video, to the sample
        total = round(plan.num_frames / plan.rate * AUDIO_SAMPLE_RATE)
        track = _SoundTrack(out, plan.seed, total) if audio else None
        frames = _frames(plan.width, plan.height, plan.num_frames, plan.rate, plan.seed)
        for i, rgb in enumerate(frames):
            if pad_w or pad_h:
                rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = tb
            for packet in video.encode(frame):
                out.mux(packet)
            if track is not None:
                # interleave: the sound keeps up with the video written so far
                track.write_until(math.ceil((i + 1) / plan.rate * AUDIO_SAMPLE_RATE))
        for packet in video.encode(None):
            out.mux(packet)
        if track is not None:
            track.finish()


# --- command line -----------------------------------------------------------------------------
class _UsageError(Exception):
    """A bad command line: ``main`` prints it on one line and returns 2."""


class _Exit(Exception):
    """argparse wants to stop (``--help``): ``main`` returns the status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and calling ``sys.exit``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _fps_arg(text: str) -> Fraction:
    """``30``, ``29.97`` or ``30000/1001``."""
    try:
        value: float | Fraction = Fraction(text) if "/" in text else float(text)
        return _as_fps(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"invalid frame rate {text!r} ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    """``make_sample.py OUT.mp4 [--width W --height H --fps F --seconds S --seed N --no-audio]``.

    Writes the generated night drive to OUT (.mp4, .mkv or .mov) unless it already exists
    (``--force`` overwrites). Returns 0 on success or when OUT exists, 2 for bad arguments
    (one line on stderr, no traceback) and 1 when the file cannot be written.
    """
    prog = "make_sample.py"
    parser = _ArgumentParser(
        prog=prog, description="Generate the procedural night-driving sample clip "
        "(H.264 video, AAC engine and road sound).")
    parser.add_argument("out", type=Path, help="output file: .mp4, .mkv or .mov")
    parser.add_argument("--width", type=int, default=1280, help="frame width (default 1280)")
    parser.add_argument("--height", type=int, default=720, help="frame height (default 720)")
    parser.add_argument("--fps", type=_fps_arg, default=Fraction(30),
                        help="frame rate: 30, 29.97 or 30000/1001 (default 30)")
    parser.add_argument("--seconds", type=float, default=6.0, help="duration (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="scene and noise seed (default 0)")
    parser.add_argument("--no-audio", action="store_true", help="leave out the sound track")
    parser.add_argument("--crf", type=float, default=20.0, help="x264 quality (default 20)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    parser.add_argument("--faststart", action="store_true",
                        help="put the mp4/mov index at the front of the file")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    try:
        args = parser.parse_args(argv)
        # check everything before looking at the disk, so bad arguments always exit 2
        _plan_clip(args.out, args.width, args.height, args.fps, args.seconds, args.seed,
                   args.crf, args.preset, args.faststart, None)
    except _Exit as stop:
        return stop.status
    except (_UsageError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and not args.force:
        print(f"{out} exists; not regenerating it (use --force to overwrite)")
        return 0
    started = time.perf_counter()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        info = write_night_clip(out, args.width, args.height, args.fps, args.seconds,
                                audio=not args.no_audio, seed=args.seed, crf=args.crf,
                                preset=args.preset, faststart=args.faststart)
    except (OSError, av.FFmpegError) as exc:
        print(f"{prog}: error: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    sound = "AAC stereo" if info.has_audio else "no audio"
    print(f"wrote {out}: {info.width}x{info.height}, {info.fps} fps, {info.num_frames} frames "
          f"({info.duration:.2f} s), {sound}, in {time.perf_counter() - started:.1f} s")
    return 0
