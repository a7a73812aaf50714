"""What is drawn into the albedo each frame: the road and its markings, street lamps, posts,
oncoming cars and the car ahead, each adding its lights to the frame's light list.

A mixin of :class:`~pipeline.sample.scene.NightScene` (uses its projection ``point``/``proj``)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .constants import (AMBER, ASPHALT, CAR_BODY, CAR_GLASS, FOG_M, HEADLIGHT, LAMP_HEIGHT,
                        LAMP_SPACING, LANE_W, LED, ONCOMING_BODY, PAINT, PLATE, POLE, POST,
                        POST_SPACING, ROAD_HALF, SODIUM, TAIL, VIEW_M)
from .motion import hash01
from .shapes import Box, Light, RoadX


class SceneObjects:
    """Drawing of the road and everything on it."""

    def _draw_road(self, albedo: np.ndarray, road_x: RoadX, travelled: float) -> None:
        zs = np.geomspace(0.6, VIEW_M, 64)
        xc = road_x(zs)

        def strip(a: float, b: float, z: np.ndarray, c: np.ndarray) -> np.ndarray:
            lx, ly = self.proj(c + a, 0.0, z)
            rx, ry = self.proj(c + b, 0.0, z)
            return self._pts(np.concatenate([lx, rx[::-1]]), np.concatenate([ly, ry[::-1]]))

        cv2.fillPoly(albedo, [strip(-ROAD_HALF, ROAD_HALF, zs, xc)], ASPHALT, cv2.LINE_AA,
                     shift=4)
        edge = LANE_W - 0.12
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
        cv2.fillPoly(albedo, lines, PAINT, cv2.LINE_AA, shift=4)

    def _draw_lamps(self, albedo: np.ndarray, road_x: RoadX, travelled: float,
                    lights: list[Light]) -> None:
        """Street lamps on both sides, staggered; a few are out, most are sodium orange."""
        poles: list[np.ndarray] = []
        for side, offset in ((1, 0.0), (-1, LAMP_SPACING / 2)):
            k0 = math.ceil((travelled + 1.5 - offset) / LAMP_SPACING)
            k1 = math.floor((travelled + VIEW_M - offset) / LAMP_SPACING)
            for k in range(k1, k0 - 1, -1):                      # far to near: near ones on top
                z = offset + k * LAMP_SPACING - travelled
                h = hash01(self.seed, 11, side, k)
                xc = float(road_x(z))
                pole_x = xc + side * (ROAD_HALF + 1.4)
                head_x = xc + side * (ROAD_HALF - 0.9)
                poles.extend(self._pole(pole_x, head_x, z))
                if h < 0.07:
                    continue                                     # a dead lamp
                color = SODIUM if h < 0.72 else LED
                power = (0.8 + 0.4 * hash01(self.seed, 12, side, k)) * math.exp(-z / FOG_M)
                px, py = self.point(head_x, LAMP_HEIGHT - 0.15, z)
                rx, ry = self.point(head_x, -(LAMP_HEIGHT - 0.15), z)
                lights.append(Light(px, py, self.f * 0.28 / z, z, color,
                                     color * (110.0 * power / max(z, 6.0) ** 2),
                                     (rx, ry, color * (4.0 * power * min(1.0, 25.0 / z)))))
                # the pool of light it throws on the road under it
                self._pool(head_x, z, color * (1.1 * power))
        cv2.fillPoly(albedo, poles, POLE, cv2.LINE_AA, shift=4)

    def _pole(self, pole_x: float, head_x: float, z: float) -> list[np.ndarray]:
        """The polygons of a lamp post and its arm."""
        half = 0.09
        thick = 0.6 * z / self.f + 0.05        # at least ~a pixel, so a far arm still shows
        corners = [(pole_x - half, 0.0), (pole_x + half, 0.0), (pole_x + half, LAMP_HEIGHT),
                   (pole_x - half, LAMP_HEIGHT)]
        arm = [(pole_x, LAMP_HEIGHT - thick), (head_x, LAMP_HEIGHT - thick),
               (head_x, LAMP_HEIGHT + thick), (pole_x, LAMP_HEIGHT + thick)]
        return [self._fixed([self.point(x, y, z) for x, y in corners]),
                self._fixed([self.point(x, y, z) for x, y in arm])]

    @staticmethod
    def _fixed(points: list[tuple[float, float]]) -> np.ndarray:
        """A few pixel coordinates as an OpenCV fixed-point polygon (shift = 4)."""
        return np.round(np.clip(np.array(points), -1e6, 1e6) * 16).astype(np.int32)

    def _draw_posts(self, albedo: np.ndarray, road_x: RoadX, travelled: float,
                    lights: list[Light]) -> None:
        """Reflector posts on the right verge: they light up in our own headlights."""
        k0 = math.ceil((travelled + 2.0 - 9.0) / POST_SPACING)
        k1 = math.floor((travelled + 140.0 - 9.0) / POST_SPACING)
        for k in range(k1, k0 - 1, -1):
            z = 9.0 + k * POST_SPACING - travelled
            x = float(road_x(z)) + ROAD_HALF + 0.5
            post = [(x - 0.05, 0.0), (x + 0.05, 0.0), (x + 0.05, 1.0), (x - 0.05, 1.0)]
            cv2.fillPoly(albedo, [self._fixed([self.point(u, v, z) for u, v in post])], POST,
                         cv2.LINE_AA, shift=4)
            # retro-reflection of our beam: fades with distance
            ret = (12.0 / max(z, 12.0)) ** 2 * math.exp(-z / FOG_M)
            rx, ry = self.point(x, 0.85, z)
            lights.append(Light(rx, ry, self.f * 0.05 / z, z, AMBER * ret,
                                 AMBER * (6.0 * ret / max(z, 6.0) ** 2), None))

    def _oncoming_car(self, albedo: np.ndarray, road_x: RoadX, z: float, k: int,
                      lights: list[Light]) -> None:
        """A car in the left lane: a dim shape behind two bright, flaring headlights that are
        reflected on the road."""
        xc = float(road_x(z)) - LANE_W / 2 + 0.2 * math.sin(k)
        body = [(xc - 0.9, 0.22), (xc + 0.9, 0.22), (xc + 0.9, 1.0), (xc - 0.9, 1.0)]
        cabin = [(xc - 0.8, 1.0), (xc + 0.8, 1.0), (xc + 0.62, 1.42), (xc - 0.62, 1.42)]
        # its front is in shadow behind its own lights: darker than the lit back of the car ahead
        cv2.fillPoly(albedo, [self._fixed([self.point(x, y, z) for x, y in body])],
                     ONCOMING_BODY, cv2.LINE_AA, shift=4)
        cv2.fillPoly(albedo, [self._fixed([self.point(x, y, z) for x, y in cabin])],
                     CAR_GLASS, cv2.LINE_AA, shift=4)
        power = (0.85 + 0.3 * hash01(self.seed, 21, k)) * math.exp(-z / FOG_M)
        for dx in (-0.78, 0.78):
            px, py = self.point(xc + dx, 0.68, z)
            rx, ry = self.point(xc + dx, -0.68, z)
            lights.append(Light(px, py, self.f * 0.13 / z, z, HEADLIGHT,
                                 HEADLIGHT * (450.0 * power / max(z, 5.0) ** 2),
                                 (rx, ry, HEADLIGHT * (40.0 * power * min(1.0, 20.0 / z)))))
        if z > 9.0:
            # its low beams light the road in front of it
            self._pool(xc, z - 6.0, HEADLIGHT * (0.4 * power), reach=7.0)

    def _car_ahead(self, albedo: np.ndarray, road_x: RoadX, t: float,
                   lights: list[Light]) -> Box:
        """A car ahead in our lane, between ~15 and ~40 m away, braking when the gap closes.

        Returns its screen rectangle and distance: it hides the lights behind it.
        """
        p = self.drive.ph
        w1, w2 = 2 * math.pi / 19.0, 2 * math.pi / 7.0
        z = 21.0 + 6.0 * math.sin(w1 * t + p[11]) + 2.0 * math.sin(w2 * t + p[12])
        closing = 6.0 * w1 * math.cos(w1 * t + p[11]) + 2.0 * w2 * math.cos(w2 * t + p[12])
        braking = closing < -1.2
        xc = float(road_x(z)) + LANE_W / 2 + 0.15 * math.sin(0.4 * t + p[13])

        def quad(x0: float, x1: float, y0: float, y1: float, inset: float = 0.0) -> np.ndarray:
            return self._pts(*self.proj(
                np.array([xc + x0, xc + x1, xc + x1 - inset, xc + x0 + inset]),
                np.array([y0, y0, y1, y1]), z))

        # body, roof and rear window, number plate
        cv2.fillPoly(albedo, [quad(-0.9, 0.9, 0.22, 1.0)], CAR_BODY, cv2.LINE_AA, shift=4)
        cv2.fillPoly(albedo, [quad(-0.8, 0.8, 1.0, 1.45, 0.14)], CAR_GLASS, cv2.LINE_AA,
                     shift=4)
        cv2.fillPoly(albedo, [quad(-0.26, 0.26, 0.42, 0.53)], PLATE, cv2.LINE_AA, shift=4)
        trans = math.exp(-z / FOG_M)
        level = 2.2 if braking else 1.0
        for dx in (-0.7, 0.7):
            px, py = self.point(xc + dx, 0.85, z)
            rx, ry = self.point(xc + dx, -0.85, z)
            lights.append(Light(px, py, self.f * 0.1 / z, z, TAIL * min(1.0, 0.45 * level),
                                 TAIL * (40.0 * level * trans / max(z, 5.0) ** 2),
                                 (rx, ry, TAIL * (6.0 * level * trans))))
        if braking:
            px, py = self.point(xc, 1.4, z)
            lights.append(Light(px, py, self.f * 0.05 / z, z, TAIL * 0.8,
                                 TAIL * (15.0 * trans / max(z, 5.0) ** 2), None))
        x0, y0 = self.point(xc - 0.9, 1.45, z)
        x1, y1 = self.point(xc + 0.9, 0.0, z)
        return x0, x1, y0, y1, z
