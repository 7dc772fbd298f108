"""Test-wide settings: single-threaded torch, headless rendering."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(1)
