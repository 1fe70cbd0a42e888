"""Calibrated BLER tables for the abstraction PHY mode (channels.abstraction), in Sionna SYS's table format.

Sionna's shipped PUSCH tables are simulated up to code-block size (CBS) 2000 on a 1.8 dB SNR grid, and
measured against this project's chain they sit 0.4-0.6 dB early (docs/performance.md); our default
allocation (24 PRBs) carries code blocks of 1752..8232 bits. This script simulates, per MCS, the code-block
BLER at the CBS of the default allocation with Sionna's 5G LDPC (``channels.sim.LDPCChain``: rate
matching, QAM, AWGN, 20 BP iterations boxplus-phi as ``PhyConfig``'s defaults) on a 0.1 dB grid across the
waterfall (after a coarse 0.4 dB search for its start), and writes it in Sionna SYS's table format
(``calibrated_entry``), which ``channels.abstraction`` loads over the shipped tables.

Resumable: the output is rewritten after every MCS and MCS already in it are skipped.

    python experiments/abstraction/make_bler_tables.py --table 1 [--mcs 4-28] [--out channels/bler_tables]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

STEP_DB = 0.1
TARGET_BLOCK_ERRORS = 60
BATCH = 20
MAX_BLOCKS = 300  # per SNR point


def shipped_table(table: int) -> dict:
    import sionna.sys

    path = Path(sionna.sys.__file__).parent / "bler_tables" / f"PUSCH_table{table}.json"
    return json.loads(path.read_text())["category"]["0"]["index"][str(table)]["MCS"]


def default_cbs(table: int, mcs: int) -> int:
    """Code-block size (CRC included) of the default allocation (PhyConfig defaults, 24 PRBs) at this MCS,
    as Sionna's TransportBlockNR computes it (what PHYAbstraction looks the BLER up with)."""
    import torch
    from sionna.phy.nr.utils import TransportBlockNR

    from channels.config import PhyConfig
    from channels.mcs import slot_geometry

    g = slot_geometry(PhyConfig(mcs_index=mcs, mcs_table=table))
    _, cbs, _ = TransportBlockNR().transport_block_size(
        torch.tensor(g.modulation_order), torch.tensor(g.target_rate), torch.tensor(g.coded_bits)
    )
    return int(cbs)


def simulate(table: int, mcs: int, start_db: float) -> tuple[int, list[float], list[float]]:
    """Code-block BLER of the default allocation's code blocks on a STEP_DB grid from start_db up to the
    first error-free point: Sionna's 5G LDPC (k = CBS, n = the code block's share of the slot's coded
    bits, rate-matched) + QAM over AWGN, 20 BP iterations boxplus-phi (``channels.sim.LDPCChain``, the
    decoder ``PhyConfig`` defaults to). Returns (cbs, snrs, blers)."""
    from channels.config import PhyConfig
    from channels.mcs import slot_geometry
    from channels.sim import LDPCChain, monte_carlo

    g = slot_geometry(PhyConfig(mcs_index=mcs, mcs_table=table))
    cbs = default_cbs(table, mcs)
    n = g.coded_bits // g.num_cbs // g.modulation_order * g.modulation_order
    chain = LDPCChain(cbs, n, g.modulation_order, "awgn", iterations=20)
    # coarse search (0.4 dB steps, 20 blocks) for the last all-error point, then the fine grid from there
    while monte_carlo(chain, start_db + 0.4, seed=7, min_errors=20, max_blocks=20, count="block").bler >= 1:
        start_db += 0.4
    snrs, blers = [], []
    for i in range(60):
        s = round(start_db + i * STEP_DB, 2)
        p = monte_carlo(
            chain,
            s,
            seed=100_000 * table + 100 * mcs + i,
            min_errors=TARGET_BLOCK_ERRORS,
            max_blocks=MAX_BLOCKS,
            count="block",
            batch=BATCH,
        )
        if p.bler >= 0.999 and blers and blers[-1] >= 0.999:
            snrs, blers = [], []  # still far below the waterfall: keep one all-error point only
        snrs.append(s)
        blers.append(p.bler)
        print(f"  MCS {mcs} {s:5.2f} dB: BLER {p.bler:.4f} ({p.block_errors}/{p.blocks})", flush=True)
        if p.block_errors == 0:
            break
    return cbs, snrs, blers


def calibrated_entry(cbs: int, snrs: list[float], bler: list[float]) -> dict:
    """One MCS of the calibrated table: the simulated curve, extended with BLER 1 below and 0 above it on a
    1 dB grid over Sionna's interpolation range (-5..30 dB), stored at CBS 24, ``cbs`` and 8448 alike.

    Only the simulated CBS is kept: Sionna interpolates BLER across CBS, and mixing in its shipped curves
    (measured far from this chain: docs/performance.md) would pull the calibrated curve off. Other
    allocations therefore get the default allocation's curve of their MCS (clamped in CBS)."""
    lo, hi = snrs[0], snrs[-1]
    outside = [float(s) for s in range(-5, 31) if s < lo - 1e-9 or s > hi + 1e-9]
    grid = sorted({*outside, *snrs})
    curve = [1.0 if s < lo else 0.0 if s > hi else bler[snrs.index(s)] for s in grid]
    return {"CBS": {c: {"BLER": curve} for c in sorted({24, int(cbs), 8448})}, "SNR_db": grid}


def rebuild(path: Path) -> None:
    """Rewrite an output of an earlier version (shipped CBS curves resampled beside ours) to keep only the
    simulated curve (``calibrated_entry``)."""
    doc = json.loads(path.read_text())
    for index in doc["category"]["0"]["index"].values():
        for mcs, entry in index["MCS"].items():
            ours = [c for c in entry["CBS"] if int(c) not in (24, 100, 500, 1000, 2000, 8448)]
            if len(ours) != 1:
                continue
            snr = entry["SNR_db"]
            bler = entry["CBS"][ours[0]]["BLER"]
            inside = [i for i in range(len(snr)) if abs(snr[i] * 10 - round(snr[i] * 10)) < 1e-6]
            first = next(i for i in inside if bler[i] < 1.0) - 1
            last = next(i for i in inside[::-1] if bler[i] > 0.0) + 1
            keep = [i for i in inside if first <= i <= last]
            curve = [snr[i] for i in keep], [bler[i] for i in keep]
            index["MCS"][mcs] = calibrated_entry(int(ours[0]), *curve)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", type=int, default=1, choices=(1, 2))
    ap.add_argument("--mcs", default=None, help="e.g. 4-28 or 5,9,14 (default: every MCS with CBS > 2000)")
    ap.add_argument("--out", default=str(Path(__file__).parents[2] / "channels" / "bler_tables"))
    ap.add_argument("--rebuild", action="store_true", help="only rewrite the output (see rebuild())")
    args = ap.parse_args()
    if args.rebuild:
        rebuild(Path(args.out) / f"PUSCH_table{args.table}_calibrated.json")
        return
    import torch

    torch.set_num_threads(1)
    shipped = shipped_table(args.table)
    if args.mcs:
        if "-" in args.mcs:
            lo, hi = (int(x) for x in args.mcs.split("-"))
            wanted = list(range(lo, hi + 1))
        else:
            wanted = [int(x) for x in args.mcs.split(",")]
    else:
        wanted = [int(m) for m in shipped]
    out = Path(args.out) / f"PUSCH_table{args.table}_calibrated.json"
    doc = (
        json.loads(out.read_text())
        if out.is_file()
        else {
            "_comment": (
                f"PUSCH MCS table {args.table}: code-block BLER at the CBS of the default 24-PRB allocation, "
                "simulated with Sionna 5G LDPC + QAM over AWGN (20 BP iterations, boxplus-phi; stored at "
                "CBS 24, that CBS and 8448 alike); made by experiments/abstraction/make_bler_tables.py"
            ),
            "category": {"0": {"index": {str(args.table): {"MCS": {}}}}},
        }
    )
    mcs_doc = doc["category"]["0"]["index"][str(args.table)]["MCS"]
    for mcs in wanted:
        if str(mcs) in mcs_doc or str(mcs) not in shipped:
            continue
        cbs = default_cbs(args.table, mcs)
        src = shipped[str(mcs)]
        snr_src = np.asarray(src["SNR_db"], float)
        top = src["CBS"][str(max(int(c) for c in src["CBS"]))]["BLER"]
        # start 0.3 dB below where the largest shipped CBS reaches BLER 0.99 (longer blocks start later)
        start = float(np.interp(-np.log10(0.99), -np.log10(np.clip(top, 1e-7, 1)), snr_src)) - 0.3
        t0 = time.time()
        cbs, snrs, bler = simulate(args.table, mcs, round(start, 1))
        mcs_doc[str(mcs)] = calibrated_entry(cbs, snrs, bler)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(out)
        crossing = next((s for s, b in zip(snrs, bler, strict=True) if b <= 0.1), None)
        span = f"{snrs[0]:.1f}..{snrs[-1]:.1f} dB"
        took = f"{time.time() - t0:.0f} s"
        print(f"MCS {mcs}: CBS {cbs}, {span}, BLER<=0.1 from {crossing} dB, {took}", flush=True)


if __name__ == "__main__":
    main()
