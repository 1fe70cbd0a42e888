"""The abstraction PHY mode against the bit-true chain: speed side by side, and BLER across the waterfalls.

speed (default): in one process, alternating the two modes (same load for both):
  - one image transmission: a ~100 kbit payload over TDL-A (100 ns, 3 m/s), LS estimation, MCS 14, 24 PRBs;
  - one sweep row: the same small sweep (JPEG, 2 demo images at 128 px, TDL-A, 3 SNRs, 2 trials,
    crc_error drop) run in each mode into a fresh folder: wall time / rows (encode, decode and metrics
    included, so this ratio is bounded by the codec's own cost).
validate (--validate): transport-block error rate of both modes over AWGN, TDL-A and CDL-A (100 ns,
  3 m/s, LS estimation) at MCS 5, 14, 20 (table 1, 24 PRBs) on SNR points across each waterfall (located with
  the abstraction: where its BLER is between 0.95 and 0.005), --blocks transport blocks per point in the
  bit-true chain (the abstraction runs 10x as many); both modes draw the same channel realisations. Prints,
  per (channel, MCS), the relative BLER difference where both BLERs lie in [0.01, 0.9] and the SNR at
  BLER 0.1 of each (interpolated in log BLER), and writes --json.

Usage: python experiments/bench/bench_phy_abstraction.py [--repeat 3] [--threads 2]
       python experiments/bench/bench_phy_abstraction.py --validate [--blocks 200] [--mcs 5,14,20]
           [--channels AWGN,TDL-A,CDL-A] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

import numpy as np
import torch

from channels import ChannelConfig, PhyConfig
from channels.abstraction import AbstractLink
from channels.link import Link

TDL_A = dict(model="tdl", profile="A", delay_spread_ns=100.0, speed_mps=3.0)
CHANNELS = {"AWGN": dict(model="awgn"), "TDL-A": TDL_A, "CDL-A": {**TDL_A, "model": "cdl"}}
MCS = (5, 14, 20)


def _payload(bits: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, bits // 8, dtype=np.uint8).tobytes()


def speed(repeat: int) -> dict:
    from mtgc_link.sweep.config import parse_config
    from mtgc_link.sweep.runner import run_sweep

    cfg = PhyConfig(channel=ChannelConfig(**TDL_A), mcs_index=14, csi="ls")
    links = {"bit_true": Link(cfg), "abstraction": AbstractLink(cfg)}
    data = _payload(100_000)
    times = {m: [] for m in links}
    for link in links.values():  # warm-up: builds the blocks and loads the tables
        link.transmit(data[:1000], 12.0, seed=0)
    for r in range(repeat):
        for m, link in links.items():
            t = time.perf_counter()
            link.transmit(data, 12.0, seed=r)
            times[m].append(time.perf_counter() - t)
    per_tx = {m: float(np.median(v)) for m, v in times.items()}

    sweep = {
        "name": "bench",
        "images": {"source": "demo", "resize": 128, "limit": 2},
        "codecs": [{"name": "jpeg"}],
        "channels": [TDL_A],
        "snr_db": [4.0, 10.0, 16.0],
        "budgets": [{"cbr": 0.5}],
        "mcs": {"fixed": 14},
        "crc_error": "drop",
        "trials": 2,
        "metrics": ["psnr"],
        "references": False,
        "decode_cache": False,
    }
    per_row = {}
    for m in ("bit_true", "abstraction"):
        sc = parse_config({**sweep, "phy_mode": [m]})
        run_sweep(sc, tempfile.mkdtemp(), plots=False, progress=False)  # warm-up (codec, images)
        t = time.perf_counter()
        res = run_sweep(sc, tempfile.mkdtemp(), plots=False, progress=False)
        per_row[m] = (time.perf_counter() - t) / res.points
    out = {
        "transmission_s": per_tx,
        "transmission_ratio": per_tx["bit_true"] / per_tx["abstraction"],
        "payload_bits": len(data) * 8,
        "row_s": per_row,
        "row_ratio": per_row["bit_true"] / per_row["abstraction"],
        "threads": torch.get_num_threads(),
    }
    print(
        f"one image transmission ({out['payload_bits']} bits, TDL-A LS, MCS 14): bit-true "
        f"{per_tx['bit_true']:.3f} s, abstraction {per_tx['abstraction'] * 1e3:.1f} ms -> "
        f"{out['transmission_ratio']:.0f}x"
    )
    print(
        f"one sweep row (JPEG 128 px, decode + PSNR included): bit-true {per_row['bit_true'] * 1e3:.0f} ms, "
        f"abstraction {per_row['abstraction'] * 1e3:.0f} ms -> {out['row_ratio']:.1f}x"
    )
    return out


def _bler(link, cfg: PhyConfig, snr: float, blocks: int, seed: int) -> float:
    rx = link.transmit(_payload(blocks * link.payload_bits_per_slot, seed), snr, seed=seed)
    return rx.block_errors / rx.blocks


def _snr_at(snrs, blers, target=0.1) -> float:
    """SNR where BLER crosses ``target`` (linear in log BLER between the bracketing points); NaN if none."""
    pts = list(zip(snrs, blers, strict=True))
    for (s0, b0), (s1, b1) in zip(pts, pts[1:], strict=False):
        if b0 >= target > b1:
            if b1 <= 0:  # no errors at s1: interpolate linearly in BLER
                return s0 + (b0 - target) / b0 * (s1 - s0)
            t = (math.log10(b0) - math.log10(target)) / (math.log10(b0) - math.log10(b1))
            return s0 + t * (s1 - s0)
    return math.nan


def validate(blocks: int, mcs_list=MCS, channels=tuple(CHANNELS), json_path=None) -> list[dict]:
    """The --validate runs; with ``json_path`` the results so far are written after each (channel, MCS)."""
    results = []
    for name in channels:
        ch = CHANNELS[name]
        for mcs in mcs_list:
            cfg = PhyConfig(channel=ChannelConfig(**ch), mcs_index=mcs, csi="ls")
            ab, bt = AbstractLink(cfg), Link(cfg)
            # locate the waterfall with the abstraction on a 0.5 dB grid, then 6-8 points across it
            grid = [s / 2 for s in range(-20, 70)]
            probe = {s: _bler(ab, cfg, s, 200, 7) for s in grid}
            inside = [s for s in grid if 0.005 <= probe[s] <= 0.95]
            if not inside:
                continue
            lo, hi = min(inside) - 0.5, max(inside) + 0.5
            step = max(0.25, round((hi - lo) / 7 * 4) / 4)
            snrs = [round(lo + i * step, 2) for i in range(int((hi - lo) / step) + 1)]
            t0 = time.perf_counter()
            b_bt = [_bler(bt, cfg, s, blocks, 1000 + i) for i, s in enumerate(snrs)]
            t_bt = time.perf_counter() - t0
            t0 = time.perf_counter()
            b_ab = [_bler(ab, cfg, s, 10 * blocks, 1000 + i) for i, s in enumerate(snrs)]
            t_ab = time.perf_counter() - t0
            pairs = zip(b_ab, b_bt, strict=True)
            rel = [abs(a - b) / b for a, b in pairs if 0.01 <= b <= 0.9 and 0.01 <= a <= 0.9]
            r = {
                "channel": name,
                "mcs": mcs,
                "snr_db": snrs,
                "bler_bit_true": b_bt,
                "bler_abstraction": b_ab,
                "max_rel_diff": max(rel) if rel else None,
                "snr_at_0.1_bit_true": _snr_at(snrs, b_bt),
                "snr_at_0.1_abstraction": _snr_at(snrs, b_ab),
                "seconds_bit_true": t_bt,
                "seconds_abstraction": t_ab,
                "blocks_bit_true": blocks,
            }
            r["snr_diff_db"] = r["snr_at_0.1_abstraction"] - r["snr_at_0.1_bit_true"]
            results.append(r)
            if json_path:
                with open(json_path, "w") as fh:
                    json.dump(results, fh, indent=1)
            print(
                f"{name:6s} MCS {mcs:2d}: SNR@BLER0.1 bit-true {r['snr_at_0.1_bit_true']:6.2f} dB, "
                f"abstraction {r['snr_at_0.1_abstraction']:6.2f} dB (diff {r['snr_diff_db']:+.2f} dB); "
                f"max rel. BLER diff in [0.01, 0.9]: {r['max_rel_diff'] if rel else float('nan'):.2f}; "
                f"time {t_bt:.0f} s vs {t_ab:.1f} s for 10x the blocks",
                flush=True,
            )
            for s, a, b in zip(snrs, b_ab, b_bt, strict=True):
                print(f"    {s:6.2f} dB  bit-true {b:.3f}  abstraction {a:.3f}")
    return results


def _wilson(p: float, n: int, z: float = 3.0) -> tuple[float, float]:
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summary(results: list[dict]) -> str:
    """The markdown table of docs/performance.md from --validate results (recomputing the crossings)."""
    lines = [
        "| channel | MCS | SNR at BLER 0.1, bit-true / abstraction [dB] | difference | points inside the "
        "bit-true Wilson interval (z = 3) | largest relative BLER difference, both in [0.01, 0.9] |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        snrs, bt, ab = r["snr_db"], r["bler_bit_true"], r["bler_abstraction"]
        s_bt, s_ab = _snr_at(snrs, bt), _snr_at(snrs, ab)
        bands = [_wilson(b, r["blocks_bit_true"]) for b in bt]
        inside = sum(lo <= a <= hi for a, (lo, hi) in zip(ab, bands, strict=True))
        rel = [abs(a - b) / b for a, b in zip(ab, bt, strict=True) if 0.01 <= b <= 0.9 and 0.01 <= a <= 0.9]
        worst = f"{max(rel):.2f}" if rel else "–"
        lines.append(
            f"| {r['channel']} | {r['mcs']} | {s_bt:.2f} / {s_ab:.2f} | {s_ab - s_bt:+.2f} | "
            f"{inside} of {len(snrs)} | {worst} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--validate", action="store_true")
    ap.add_argument("--blocks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--mcs", default=",".join(map(str, MCS)), help="with --validate: MCS list")
    ap.add_argument("--channels", default=",".join(CHANNELS), help="with --validate: " + ", ".join(CHANNELS))
    ap.add_argument("--summarize", nargs="+", default=None, help="print the table of --validate JSON files")
    args = ap.parse_args()
    if args.summarize:
        results = [r for f in args.summarize for r in json.load(open(f))]
        print(summary(results))
        return
    torch.set_num_threads(args.threads)
    if args.validate:
        mcs = [int(m) for m in args.mcs.split(",")]
        out = validate(args.blocks, mcs, [c.strip() for c in args.channels.split(",")], args.json)
    else:
        out = speed(args.repeat)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
