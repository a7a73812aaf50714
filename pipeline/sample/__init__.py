"""Procedural night-driving sample clips: the test and demo input of the pipeline.

``render_night_frames`` draws a dashcam's view of a road at night, frame by frame: a dark sky
over a treeline, an asphalt road in perspective with lane markings that stream toward the
camera, street lamps with glowing cores, halos and light pools that pass by, oncoming cars
whose headlights flare as they approach, a car ahead with red tail-lights (and brake lights),
gentle camera sway and signal-dependent sensor noise.  Everything is a function of the frame
time and the seed, so the same arguments always give the same frames.

``write_night_clip`` encodes such frames with PyAV (H.264 + optional AAC engine/road sound);
``main`` is the command line of ``tools/make_sample.py`` (the entry point of this package).

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

Where each part lives: ``constants`` (the world's numbers), ``motion`` (ego car, traffic),
``shapes`` (small shared types), ``layers`` (static set-up), ``objects`` (road, lamps, cars),
``lighting`` (pools, glow, cores, bonnet, noise), ``scene`` (camera and ``render``, joining the
three mixins), ``frames``, ``audio``, ``clip`` (encoding) and ``cli``.

Camera sway (a small roll and translation) is folded into the projection of everything drawn
and into the warps of the low-res layers, so the finished frame is never warped.
"""
from __future__ import annotations

from .audio import render_night_audio
from .cli import main
from .clip import ClipInfo, write_night_clip
from .constants import AUDIO_SAMPLE_RATE, MIN_SIZE
from .frames import render_night_frames

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "ClipInfo",
    "MIN_SIZE",
    "main",
    "render_night_audio",
    "render_night_frames",
    "write_night_clip",
]
