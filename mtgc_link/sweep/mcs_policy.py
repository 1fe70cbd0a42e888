"""Adaptive MCS: pick the highest MCS whose BLER at the point's SNR and channel stays under a target.

The decision uses a threshold table, measured once per (PHY settings, channel, candidates, target, grid)
and cached on disk as JSON (``$MTGC_LINK_CACHE`` or ``~/.cache/mtgc-link``, folder ``mcs_thresholds``).
threshold[mcs] = the lowest SNR of the grid from which the measured BLER is <= target at every higher grid
SNR, or None when the target is never met on the grid. BLER is monotone in SNR for these links, so each
MCS is measured by bisection over the grid (about log2(len(grid)) + 1 SNR points, ``blocks`` transport
blocks each) and the result is checked at the found point and the one below it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from mtgc_link.link import get_link
from mtgc_link.sweep.config import AdaptiveMcs, ChannelSpec, PhySpec, build_phy


def cache_root() -> Path:
    return Path(os.environ.get("MTGC_LINK_CACHE", Path.home() / ".cache" / "mtgc-link"))


def measure_bler(phy, snr_db: float, blocks: int, seed: int) -> float:
    """BLER of ``blocks`` transport blocks of random payload at ``snr_db`` (Es/N0 per data RE)."""
    link = get_link(phy)
    nbytes = blocks * link.payload_bits_per_slot // 8
    payload = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    rx = link.transmit(payload, snr_db, seed)
    return float(rx.block_errors) / max(1, int(rx.blocks))


def measure_threshold(phy, adaptive: AdaptiveMcs) -> float | None:
    """Lowest grid SNR from which BLER <= target (bisection; see the module docstring)."""
    grid = sorted(adaptive.snr_grid_db)
    memo: dict[int, bool] = {}

    def good(i: int) -> bool:
        if i not in memo:
            memo[i] = measure_bler(phy, grid[i], adaptive.blocks, adaptive.seed + i) <= adaptive.target_bler
        return memo[i]

    if not good(len(grid) - 1):
        return None
    lo, hi = -1, len(grid) - 1  # invariant: good(hi), and lo is bad or -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if good(mid):
            hi = mid
        else:
            lo = mid
    return float(grid[hi])


def _table_key(phy: PhySpec, channel: ChannelSpec, adaptive: AdaptiveMcs) -> str:
    from mtgc_link.provenance import versions

    blob = json.dumps(
        [phy.model_dump(), channel.params(), adaptive.model_dump(), versions().get("sionna-no-rt")],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def threshold_table(
    phy: PhySpec, channel: ChannelSpec, adaptive: AdaptiveMcs, cache_dir: str | Path | None = None
) -> dict[int, float | None]:
    """{MCS index: SNR threshold in dB or None} for one channel, from the disk cache or measured now."""
    folder = Path(cache_dir) if cache_dir is not None else cache_root() / "mcs_thresholds"
    path = folder / f"{_table_key(phy, channel, adaptive)}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            return {int(k): v for k, v in data["thresholds"].items()}
        except (ValueError, KeyError):
            pass  # unreadable: measure again
    table = {}
    for m in adaptive.candidates:
        try:
            table[m] = measure_threshold(build_phy(phy, channel, m), adaptive)
        except ValueError as exc:  # e.g. a code rate the PHY's LDPC encoder does not support
            raise ValueError(
                f"mcs.adaptive.candidates: MCS {m} cannot run on {channel.display}: {exc}"
            ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    doc = {
        "phy": phy.model_dump(),
        "channel": channel.params(),
        "adaptive": adaptive.model_dump(),
        "thresholds": {str(k): v for k, v in table.items()},
    }
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    return table


def select_mcs(table: dict[int, float | None], snr_db: float) -> int:
    """Highest MCS whose threshold is <= ``snr_db``; the lowest candidate when none is."""
    ok = [m for m, thr in table.items() if thr is not None and thr <= snr_db]
    return max(ok) if ok else min(table)
