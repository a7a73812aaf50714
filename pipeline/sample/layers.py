"""The frame-independent layers of a scene: low-resolution illumination and haze, the static
albedo (sky, treeline, verge), the bonnet and the sensor-noise bank.

A mixin of :class:`~pipeline.sample.scene.NightScene`: it reads the scene's size, focal length
(``w``, ``h``, ``f``, ``cx``, ``yh``, ``seed``) and sets the arrays the other parts use."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .constants import (AIRLIGHT, AMBIENT, BEAM, CAM_HEIGHT, FOG_M, L_SCALE, MASK64, READ_NOISE,
                        SHOT_GAIN, SKY_HORIZON, SKY_LIGHT, SKY_TOP, TREES, VERGE)
from .shapes import smoothstep


class StaticLayers:
    """Set-up of everything that does not change from frame to frame."""

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
        z = self.f * CAM_HEIGHT / np.maximum(dy, 0.5)             # distance of a ground point
        xw = (x - self.cx) * z / self.f                             # and its lateral position
        trans = np.exp(-z / FOG_M)
        # low beams: bright from a few metres to ~40 m, wider with distance, a little to the
        # right (toward the verge) as in right-hand traffic
        beam = (smoothstep(2.0, 6.0, z) * np.minimum(1.0, (10.0 / z) ** 1.5)
                * np.exp(-0.5 * ((xw - 0.5) / (1.8 + 0.2 * z)) ** 2))
        yc = (h - 1) / 2
        r2 = ((x - self.cx) ** 2 + (y - yc) ** 2) / (self.cx ** 2 + yc ** 2 + 1e-6)
        vignette = 1.0 - 0.3 * r2
        light = np.empty((gh, gw, 3), np.float32)
        haze = np.empty((gh, gw, 3), np.float32)
        for c in range(3):
            # the sky is emissive: its "albedo" is its own level divided by a constant light,
            # which keeps the illumination smooth across the horizon
            gl = (AMBIENT[c] + BEAM[c] * beam) * trans
            light[..., c] = np.where(ground, gl, SKY_LIGHT)
            haze[..., c] = np.where(ground, AIRLIGHT[c] * (1.0 - trans), 0.0)
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
        rng = np.random.default_rng([self.seed & MASK64, 303])
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
        top, horizon = np.array(SKY_TOP, np.float32), np.array(SKY_HORIZON, np.float32)
        sky = (top + (horizon - top) * glow[..., None]) * (1 - cover)
        sky += np.array(TREES, np.float32) * cover
        # albedo * light / 64 + haze must give the sky's level: solve for the albedo
        light = self._upsampled(self.light_low * self.vignette_low, L_SCALE)[:rows]
        haze = self._upsampled(self.haze_low, 1.0)[:rows]
        sky_albedo = (sky - haze) * L_SCALE / np.maximum(light, 1).astype(np.float32)
        albedo = np.empty((h, w, 3), np.uint8)
        albedo[...] = VERGE
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
        rng = np.random.default_rng([self.seed & MASK64, 404])
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
        sigma = np.sqrt(SHOT_GAIN * v + READ_NOISE ** 2)
        # a clipped pixel's true level is unknown but above full scale: noise cannot show there
        sigma[255] = 0.0
        self.noise_lut = np.round(16 * sigma).astype(np.int16).reshape(1, 256)
        # a few hot pixels, as on any cheap sensor (fixed, so a denoiser can learn them)
        n_hot = (w * h) // 80_000
        self.hot_y = rng.integers(0, h, n_hot)
        self.hot_x = rng.integers(0, w, n_hot)
        self.hot_v = rng.integers(70, 200, (n_hot, 1)).astype(np.uint8)
