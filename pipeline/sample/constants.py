"""The numbers of the drawn world: geometry (metres), photometry (8-bit code values), the lens
and the sensor. Every other part of the scene generator reads them from here."""
from __future__ import annotations

import numpy as np


#: smallest width and height ``render_night_frames`` accepts
MIN_SIZE = 16
#: sample rate of the synthetic sound track
AUDIO_SAMPLE_RATE = 48_000

# --- world (metres, metres per second) -------------------------------------------------------
CAM_HEIGHT = 1.35          # dashcam above the road
LANE_W = 3.5               # two lanes; we drive in the right one
ROAD_HALF = LANE_W + 0.6  # half width of the asphalt, shoulder included
EGO_SPEED = 15.0           # ~54 km/h
FOG_M = 220.0              # extinction distance of the (slightly hazy) night air
VIEW_M = 360.0             # nothing farther than this is drawn (it has faded into the haze)
LAMP_SPACING = 38.0
LAMP_HEIGHT = 8.4
POST_SPACING = 50.0

# --- photometry (8-bit code values, "DN") -----------------------------------------------------
SKY_TOP = (3.0, 4.0, 10.0)
SKY_HORIZON = (34.0, 28.0, 30.0)    # city glow on the horizon
TREES = (7.0, 8.0, 8.0)
AIRLIGHT = (30.0, 26.0, 28.0)       # what distant ground fades into, about the horizon's level
SKY_LIGHT = 0.25                    # see NightScene._lowres_setup
AMBIENT = (0.20, 0.21, 0.25)        # moon/city light on the ground, slightly blue
BEAM = (1.6, 1.52, 1.36)            # our own low beams, warm white
L_SCALE = 64.0                      # illumination is stored as uint8 in units of 1/64
ASPHALT = (30, 30, 32)              # albedos as uint8 (255 = white paint under full light)
PAINT = (185, 185, 175)
VERGE = (34, 38, 28)
POLE = (50, 50, 54)
POST = (120, 120, 112)
CAR_BODY = (70, 70, 78)
CAR_GLASS = (20, 20, 24)
ONCOMING_BODY = (26, 26, 30)
PLATE = (255, 255, 240)
SODIUM = np.array([1.0, 0.62, 0.26], np.float32)
LED = np.array([0.88, 0.93, 1.0], np.float32)
HEADLIGHT = np.array([0.92, 0.96, 1.0], np.float32)
TAIL = np.array([1.0, 0.08, 0.04], np.float32)
AMBER = np.array([1.0, 0.55, 0.12], np.float32)
CORE_RADIANCE = 3000.0    # light cores are far brighter than full scale: they clip, as in a
                           # real night exposure, and sensor noise cannot pull them below 255

# lens point-spread function: share of a light's energy in each part of its halo
W_TIGHT = 0.35            # sigma 0.5 % of the frame height, drawn at full resolution
W_MID = 0.30              # sigma 2.2 %
W_WIDE = 0.12             # sigma 7.5 %: the veil around strong lights
W_STREAK = 0.02           # a faint horizontal smear from the windscreen

# --- sensor noise (Poisson-Gaussian in DN) ----------------------------------------------------
SHOT_GAIN = 0.45          # variance per DN of signal
READ_NOISE = 2.2          # DN
MASK64 = (1 << 64) - 1
