"""A night scene for one (width, height, seed): the camera and the drawing of a frame.

``NightScene`` joins the parts: ``StaticLayers`` (set-up), ``SceneObjects`` (what is drawn),
``Lighting`` (light, glow, noise); here are the camera sway, the projection and ``render``."""
from __future__ import annotations

import cv2
import numpy as np

from .constants import CAM_HEIGHT, LANE_W
from .layers import StaticLayers
from .lighting import Lighting
from .motion import Drive, OncomingTraffic
from .objects import SceneObjects
from .shapes import Light, hidden


class NightScene(StaticLayers, SceneObjects, Lighting):
    """Everything about one (width, height, seed) that does not change from frame to frame,
    and the drawing of a frame."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.w, self.h, self.seed = width, height, seed
        # a ~78 degree dashcam lens; a narrow or portrait frame is a crop of a 16:9 one
        self.f = 0.62 * max(width, height * 16 / 9)
        self.cx = (width - 1) / 2
        self.yh = 0.45 * height
        self.drive = Drive(seed)
        self.traffic = OncomingTraffic(seed)
        self._lowres_setup()
        self._static_layers()
        self._hood_setup()
        self._noise_setup()

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
        v = self.yh + self.f * (CAM_HEIGHT - np.asarray(y)) / z
        a, b, c, d, e, f = self.m_coef
        px, py = np.broadcast_arrays(a * u + b * v + c, d * u + e * v + f)
        return px, py

    def point(self, x: float, y: float, z: float) -> tuple[float, float]:
        """``proj`` for one point, without numpy's per-call overhead."""
        z = max(z, 0.05)
        u = self.cx + self.f * x / z
        v = self.yh + self.f * (CAM_HEIGHT - y) / z
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
        x0 = -LANE_W / 2 - drive.lateral(t)

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
        lights: list[Light] = []
        self._draw_road(albedo, road_x, travelled)
        self._draw_lamps(albedo, road_x, travelled, lights)
        self._draw_posts(albedo, road_x, travelled, lights)
        for z, k in sorted(self.traffic.cars_at(t, travelled), reverse=True):
            self._oncoming_car(albedo, road_x, z, k, lights)      # far to near
        box = self._car_ahead(albedo, road_x, t, lights)
        lights = [s for s in lights if not hidden(s, box)]
        for s in lights:
            if s.streak is not None and s.streak[2].max() > 0.25:
                self._streak(s.streak[0], s.streak[1], s.z, s.streak[2])
        img = self._compose(albedo, lights)
        for s in lights:
            self._stamp_light(img, s)
        self._cover_hood(img)
        return self._add_noise(img, t)
