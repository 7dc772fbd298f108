"""Demonstration data: the in-memory :class:`Dataset` and Minari HDF5 files."""

from mimetic.data.dataset import MIN_OBS_STD, Dataset, Targets
from mimetic.data.io import (
    MINARI_VERSION,
    deserialize_space,
    load_minari,
    save_minari,
    serialize_space,
)

__all__ = [
    "MINARI_VERSION",
    "MIN_OBS_STD",
    "Dataset",
    "Targets",
    "deserialize_space",
    "load_minari",
    "save_minari",
    "serialize_space",
]
