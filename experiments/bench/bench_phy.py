"""Throughput of our NR chain (channels.Link.transmit) beside a bare chain of the same Sionna blocks.

Both: 24 PRBs, 30 kHz, MCS 14 (16QAM), TDL-A 100 ns 3 m/s at 3.5 GHz, LS channel estimation with linear
interpolation, LMMSE equalization, 20 BP iterations (boxplus-phi), 2 DMRS symbols.
Ours: bytes -> Link.transmit -> Reception (bit packing, padding, CRC bookkeeping included).
Bare: PUSCHTransmitter -> OFDMChannel(TDL) -> PUSCHReceiver(return_tb_crc_status=True) on a bit tensor.
Timing alternates ours/bare in one process (same load for both); peak memory (ru_maxrss) of each is measured
in a fresh child process, since the peak of a process never goes down.
On CUDA, peak memory is torch.cuda.max_memory_allocated (GPU) besides the process's ru_maxrss.
Usage: python experiments/bench/bench_phy.py [--batches 1 64] [--repeat 5] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from channels import ChannelConfig, Link, PhyConfig
from channels.mcs import pusch_config

CFG = PhyConfig(
    channel=ChannelConfig(model="tdl", profile="A", delay_spread_ns=100, speed_mps=3.0, carrier_hz=3.5e9),
    num_prbs=24, subcarrier_spacing_khz=30, mcs_index=14, mcs_table=1, csi="ls", ldpc_iterations=20,
)  # fmt: skip
SNR_DB = 12.0


def ours(batch: int, device: str = "cpu"):
    link = Link(CFG, device=device)
    data = (
        np.random.default_rng(0).integers(0, 256, batch * link.payload_bits_per_slot // 8, np.uint8).tobytes()
    )

    def run():
        rx = link.transmit(data, SNR_DB, seed=1)
        return rx.bits

    return run


def bare(batch: int, device: str = "cpu"):
    import sionna.phy as sp
    from sionna.phy.channel import OFDMChannel
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.nr import PUSCHReceiver, PUSCHTransmitter

    tx = PUSCHTransmitter(pusch_config(CFG), return_bits=False, device=device)
    tdl = TDL("A", 100e-9, 3.5e9, min_speed=3.0, max_speed=3.0, device=device)
    ch = OFDMChannel(tdl, tx.resource_grid, device=device)
    rx = PUSCHReceiver(tx, return_tb_crc_status=True, device=device)
    no = torch.tensor(10 ** (-SNR_DB / 10), device=device)
    k = tx._tb_size  # PUSCHTransmitter exposes the TB size only privately
    bits = torch.from_numpy(np.random.default_rng(0).integers(0, 2, (batch, 1, k)).astype(np.float32)).to(
        device
    )

    def run():
        sp.config.seed = 1
        with torch.no_grad():
            b_hat, crc = rx(ch(tx(bits), no), no)
        crc.cpu()  # wait for the device (ours copies its results to the host too)
        return bits.numel()

    return run


def _child(impl: str, batch: int, device: str) -> None:
    fn = (ours if impl == "ours" else bare)(batch, device)
    fn()
    fn()
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu_mb": gpu}))


def _peak_mb(impl: str, batch: int, threads: int, device: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", impl, str(batch), "--threads", str(threads)]
        + ["--device", device],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    peak = json.loads(out.stdout.strip().splitlines()[-1])
    return peak["maxrss_mb"], peak["gpu_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: no oversubscription)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        _child(args.child[0], int(args.child[1]), args.device)
        return
    where = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{args.threads} CPU thread(s)"
    )
    print(f"torch {torch.__version__}, {where}, SNR {SNR_DB} dB, repeat {args.repeat}")
    head = (
        "batch",
        "ours kbit/s",
        "bare kbit/s",
        "ours/bare time",
        "RSS MB ours",
        "bare",
        "GPU MB ours",
        "bare",
    )
    print("{:>5} {:>12} {:>12} {:>14} {:>12} {:>7} {:>12} {:>7}".format(*head))
    for batch in args.batches:
        fa, fb = ours(batch, args.device), bare(batch, args.device)
        fa(), fb()  # warm-up
        ta, tb = [], []
        for _ in range(args.repeat):
            for fn, out in ((fa, ta), (fb, tb)):
                t0 = time.perf_counter()
                nbits = fn()
                out.append((time.perf_counter() - t0, nbits))
        ma, mb = float(np.median([t for t, _ in ta])), float(np.median([t for t, _ in tb]))
        rate_a, rate_b = ta[0][1] / ma / 1e3, tb[0][1] / mb / 1e3
        (ra, ga), (rb, gb) = (_peak_mb(i, batch, args.threads, args.device) for i in ("ours", "bare"))
        row = (batch, rate_a, rate_b, ma / mb, ra, rb, ga, gb)
        print("{:>5} {:>12.1f} {:>12.1f} {:>14.3f} {:>12.0f} {:>7.0f} {:>12.0f} {:>7.0f}".format(*row))


if __name__ == "__main__":
    main()
