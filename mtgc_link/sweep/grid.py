"""Grid expansion: a config -> points (one per result row) -> tasks (points sharing one encoding).

A point is one (codec, channel, SNR, budget, MCS, image, trial). Its ``key`` identifies its row (resume);
its ``seed`` is derived from the config seed and the point's channel-side coordinates only, so every codec
sees the same channel realisations (common random numbers), and the table does not depend on the order in
which points run or on the number of workers.

A task groups the points that share (image, codec, payload bits), whatever budget or MCS gave those bits:
the image is encoded once per task and decoded once per distinct received payload within it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from mtgc_link.sweep.config import SweepConfig


@dataclass(frozen=True)
class Point:
    index: int  # position in the grid expansion; the table is sorted by it
    codec: int  # index into config.codecs
    channel: int  # index into config.channels
    snr_db: float
    budget: int  # index into config.budgets
    mcs_index: int
    image: str
    trial: int
    key: str
    seed: int


@dataclass
class Task:
    image: str
    codec: int
    max_bits: int
    points: list[Point] = field(default_factory=list)


def derive_seed(config_seed: int, *parts) -> int:
    """A 31-bit seed from the config seed and the parts (stable across runs, platforms and processes)."""
    blob = "|".join([str(config_seed), *(repr(p) for p in parts)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def point_key(
    cfg: SweepConfig, codec: int, channel: int, snr: float, budget: int, image: str, trial: int
) -> str:
    b = cfg.budgets[budget].to_budget().label
    return "|".join(
        [
            cfg.codecs[codec].display,
            cfg.channels[channel].display,
            f"{snr:g}dB",
            b,
            cfg.mcs.label,
            image,
            f"t{trial}",
        ]
    )


def expand(
    cfg: SweepConfig,
    image_shapes: dict[str, tuple[int, ...]],
    mcs_for: Callable[[int, float], int],
    payload_bits: Callable[[int, int, int, int], int],
) -> tuple[list[Point], list[Task]]:
    """All points of the sweep, and the tasks that run them.

    image_shapes: {name: (H, W, 3)}. mcs_for(channel, snr) -> MCS index (the MCS policy).
    payload_bits(budget, mcs, H, W) -> payload bits that budget carries at that MCS.
    Loop order (outer to inner): codec, channel, budget, SNR, image, trial.
    """
    points: list[Point] = []
    tasks: dict[tuple, Task] = {}
    for ci in range(len(cfg.codecs)):
        for chi, ch in enumerate(cfg.channels):
            for bi in range(len(cfg.budgets)):
                for snr in cfg.snr_db:
                    mcs = int(mcs_for(chi, snr))
                    for name, shape in image_shapes.items():
                        bits = int(payload_bits(bi, mcs, shape[0], shape[1]))
                        task = tasks.setdefault((name, ci, bits), Task(name, ci, bits))
                        for trial in range(cfg.trials):
                            key = point_key(cfg, ci, chi, snr, bi, name, trial)
                            seed = derive_seed(cfg.seed, ch.display, float(snr), bi, mcs, name, trial)
                            p = Point(len(points), ci, chi, float(snr), bi, mcs, name, trial, key, seed)
                            points.append(p)
                            task.points.append(p)
    return points, list(tasks.values())
