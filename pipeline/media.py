"""File kinds every job agrees on: which suffixes are images and which are videos."""
from __future__ import annotations

#: still images read by image-folder sources, training and calibration
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: video containers the batch job looks for and training/calibration sample frames from
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v")
