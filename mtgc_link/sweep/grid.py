"""Grid expansion: a config -> points (one per result row) -> tasks (points sharing one encoding).

The axes and their order come from :data:`mtgc_link.sweep.axes.AXES`. A point's ``key`` identifies its row
(resume); its ``seed`` is derived from the config seed and the point's channel-side coordinates only, so
every codec sees the same channel realisations (common random numbers), and the table does not depend on
the order in which points run or on the number of workers.

A task groups the points that share their source coordinates (image, codec) and payload bits, whatever
budget or MCS gave those bits: the image is encoded once per task and decoded once per distinct received
payload within it. An axis value that changes what fits beyond the payload bits (``Axis.refits``: a
protection sending each segment in whole slots of its own) also keys the task, with the budget and the MCS.
The points of an image that could not be read (shape None) belong to no task: there is nothing to encode.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mtgc_link.sweep.axes import AXES, loop_axes
from mtgc_link.sweep.config import SweepConfig


@dataclass(frozen=True)
class Point:
    """One result row's coordinates: ``coords[axis name]`` (indices into the config's lists for codec,
    channel and budget; SNR in dB; MCS index; image name; trial)."""

    index: int  # position in the grid expansion; the table is sorted by it
    coords: dict[str, Any]
    key: str
    seed: int

    codec = property(lambda self: self.coords["codec"])
    channel = property(lambda self: self.coords["channel"])
    snr_db = property(lambda self: self.coords["snr"])
    budget = property(lambda self: self.coords["budget"])
    mcs_index = property(lambda self: self.coords["mcs"])
    image = property(lambda self: self.coords["image"])
    trial = property(lambda self: self.coords["trial"])

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass
class Task:
    image: str
    codec: int
    max_bits: int
    points: list[Point] = field(default_factory=list)


def derive_seed(config_seed: int, *parts) -> int:
    """A 31-bit seed from the config seed and the parts (stable across runs, platforms and processes).

    >>> derive_seed(0, "AWGN", 4.0) == derive_seed(0, "AWGN", 4.0) != derive_seed(1, "AWGN", 4.0)
    True
    """
    blob = "|".join([str(config_seed), *(repr(p) for p in parts)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def point_key(cfg: SweepConfig, coords: dict[str, Any]) -> str:
    """The row identity: every axis's key part, in axis order, joined by "|"."""
    parts = (a.key(cfg, coords[a.name]) for a in AXES)
    return "|".join(p for p in parts if p is not None)


def point_seed(cfg: SweepConfig, coords: dict[str, Any]) -> int:
    parts = (a.seed(cfg, coords[a.name]) for a in AXES if a.seed is not None)
    return derive_seed(cfg.seed, *(p for p in parts if p is not None))


def expand(
    cfg: SweepConfig,
    image_shapes: dict[str, tuple[int, ...] | None],
    mcs_for: Callable[[int, float], int],
    payload_bits: Callable[[int, int, int, int], int],
) -> tuple[list[Point], list[Task]]:
    """All points of the sweep, and the tasks that run them.

    image_shapes: {name: (H, W, 3)}, in name order; None for an image that could not be read: its points are
    in ``points`` (keys and seeds do not depend on the shape), in no task (nothing can be encoded; the
    runner writes their ``image_error`` rows). mcs_for(channel, snr) -> MCS index (the MCS policy).
    payload_bits(budget, mcs, H, W) -> payload bits that budget carries at that MCS.
    Loop order: the axes' ``nest`` (codec, channel, budget, SNR, image, trial).
    """
    loops = loop_axes()
    names = list(image_shapes)
    points: list[Point] = []
    tasks: dict[tuple, Task] = {}
    bits_memo: dict[tuple, int] = {}
    source = [a.name for a in AXES if a.scope == "source"]
    refitting = [a for a in AXES if a.refits is not None]
    for combo in itertools.product(*(a.values(cfg, names) for a in loops)):
        coords = {a.name: v for a, v in zip(loops, combo, strict=True)}
        coords["mcs"] = int(mcs_for(coords["channel"], coords["snr"]))
        coords = {a.name: coords[a.name] for a in AXES}  # axis order
        p = Point(len(points), coords, point_key(cfg, coords), point_seed(cfg, coords))
        points.append(p)
        shape = image_shapes[coords["image"]]
        if shape is None:  # an unreadable image: a point (and a row), no task
            continue
        bk = (coords["budget"], coords["mcs"], shape[0], shape[1])
        if bk not in bits_memo:
            bits_memo[bk] = int(payload_bits(*bk))
        bits = bits_memo[bk]
        tk = (*(coords[n] for n in source), bits)
        refit = tuple((a.name, coords[a.name]) for a in refitting if a.refits(cfg, coords[a.name]))
        if refit:  # the fit depends on the slots of the budget at the MCS, not only on its bits
            tk += (*refit, coords["budget"], coords["mcs"])
        task = tasks.setdefault(tk, Task(coords["image"], coords["codec"], bits))
        task.points.append(p)
    return points, list(tasks.values())
