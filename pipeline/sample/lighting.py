"""Light on top of the albedo: pools under the lamps, wet-road streaks, the low-resolution glow
and haze composed into the frame, light cores stamped at full resolution, the bonnet and the
sensor noise.

A mixin of :class:`~pipeline.sample.scene.NightScene` (uses the layers of ``StaticLayers``)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .constants import CORE_RADIANCE, FOG_M, L_SCALE, W_MID, W_STREAK, W_TIGHT, W_WIDE
from .motion import hash01
from .shapes import Light


class Lighting:
    """Composition of a frame's light, lens glow and noise."""

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

    def _compose(self, albedo: np.ndarray, lights: list[Light]) -> np.ndarray:
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
            cv2.scaleAdd(mid, W_MID, glow, glow)
            # the wide veil and the horizontal streak are blurred at half resolution: their
            # kernels would otherwise be 40-100 taps long
            gh, gw = glow.shape[:2]
            half = cv2.resize(splat, ((gw + 1) // 2, (gh + 1) // 2), interpolation=cv2.INTER_AREA)
            wide = cv2.GaussianBlur(half, (0, 0), self.sig_wide / 2, borderType=border)
            streak = cv2.GaussianBlur(half, (0, 0), sigmaX=1.25 * self.sig_wide, sigmaY=0.3,
                                      borderType=border)
            both = cv2.addWeighted(wide, W_WIDE, streak, W_STREAK, 0.0)
            cv2.add(glow, cv2.resize(both, (gw, gh), interpolation=cv2.INTER_LINEAR), dst=glow)
        size_low = (self.gw, self.gh)
        haze = cv2.warpAffine(self.haze_low, self.m_low, size_low, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        emissive = cv2.add(glow[p:p + self.gh, p:p + self.gw], haze)
        light = cv2.warpAffine(self.light_low, self.m_low, size_low, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        light = cv2.multiply(cv2.add(light, self.pools), self.vignette_low)
        img = cv2.multiply(albedo, self._upsampled(light, L_SCALE), scale=1.0 / L_SCALE)
        return cv2.add(img, self._upsampled(emissive, 1.0), dst=img)

    def _stamp_light(self, img: np.ndarray, s: Light) -> None:
        """Add a light's core (an anti-aliased disk far above full scale) and its tight glow,
        at full resolution: both are too sharp for the low-res layers."""
        sig = max(0.6, 0.005 * self.h)
        # an unresolved light keeps its energy, not its brightness: dim it instead of shrinking
        r = max(s.r, 0.7)
        core = CORE_RADIANCE * math.exp(-s.z / FOG_M) * min(1.0, (s.r / 0.7) ** 2)
        energy = s.energy * (self.h * self.h * W_TIGHT / (2 * math.pi * sig * sig))
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
        offset = int(hash01(self.seed, 505, key) * self.noise_span)
        sign = 1.0 if hash01(self.seed, 506, key) < 0.5 else -1.0
        n = self.w * self.h * 3
        sample = self.noise_bank[offset * 3: offset * 3 + n].reshape(self.h, self.w, 3)
        sigma = cv2.LUT(img, self.noise_lut)
        # (sigma * 16) * (n * 256) / 4096 = sigma * n, rounded to whole DN
        noise = cv2.multiply(sigma, sample, scale=sign / 4096.0, dtype=cv2.CV_16S)
        out = cv2.add(img, noise, dtype=cv2.CV_8U)      # saturating: no wrap-around at 0/255
        if len(self.hot_y):
            out[self.hot_y, self.hot_x] = np.maximum(out[self.hot_y, self.hot_x], self.hot_v)
        return out
