"""The Python API in two steps: one image over one link, then a small sweep (see examples/README.md).

    .venv/bin/python examples/link_and_sweep.py                       # 96 px, BPG, TDL-A at 30 dB
    .venv/bin/python examples/link_and_sweep.py --size 64 --codec jpeg --snr-db 10

1. ``run_link``: scikit-image's astronaut, downscaled, encoded by rate control to the payload bits of a budget
   (CBR 0.5: half a channel use per source dimension), sent over a 3GPP TDL-A channel (100 ns, 3 m/s) on a
   5G NR PHY (4 PRBs, MCS 9 = QPSK R 0.66), decoded, scored. Prints PSNR and BLER.
2. ``run_sweep``: the same codec and channel at three SNRs with two channel realisations each, into a
   temporary folder; prints the head of the results table (docs/experiments.md lists its columns).
"""

from __future__ import annotations

import argparse
import math
import tempfile

from channels import ChannelConfig, PhyConfig
from mtgc_link.codecs import get_codec
from mtgc_link.demo_images import demo_images, resize_longer_side
from mtgc_link.link import Budget, run_link
from mtgc_link.sweep import parse_config, run_sweep

TDL_A = {"model": "tdl", "profile": "A", "delay_spread_ns": 100.0, "speed_mps": 3.0}
MCS = 9  # QPSK, R = 0.66 (TS 38.214 table 1)


def link_run(size: int, codec_name: str, snr_db: float) -> None:
    image = resize_longer_side(demo_images()["astronaut"], size)
    phy = PhyConfig(channel=ChannelConfig(**TDL_A), num_prbs=4, mcs_index=MCS, csi="perfect")
    res = run_link(
        image, get_codec(codec_name), phy, Budget(cbr=0.5), snr_db=snr_db, seed=1, metrics=("psnr",)
    )
    rx = res.reception
    bler = rx.bler if rx is not None else math.nan
    print(f"link: {codec_name}, {image.shape[1]}x{image.shape[0]} px, TDL-A, SNR {snr_db:g} dB")
    print(f"link: PSNR {res.metrics['psnr']:.2f} dB, BLER {bler:.3f}, decode {res.received.status}")
    print(f"link: {res.summary()}")


def small_sweep(size: int, codec_name: str) -> None:
    cfg = parse_config(
        {
            "name": "example",
            "images": {"source": "demo", "resize": size, "limit": 1},
            "codecs": [{"name": codec_name}],
            "channels": [TDL_A],
            "phy": {"num_prbs": 4, "csi": "perfect"},
            "snr_db": [0.0, 15.0, 30.0],
            "budgets": [{"cbr": 0.5}],
            "mcs": {"fixed": MCS},
            "trials": 2,
            "metrics": ["psnr", "ssim"],
            "save_images": {"max_images": 0},
            "references": False,  # no error-free / capacity / floor columns: faster
        }
    )
    with tempfile.TemporaryDirectory() as out:
        res = run_sweep(cfg, out, workers=1, plots=False, progress=False)
        table = res.table
        cols = ["codec", "snr_db", "ebno_db", "trial", "stream_bits", "rc_quality", "bler", "decode_status"]
        print(f"sweep: {len(table)} rows, {len(table.columns)} columns")
        print(table[[*cols, "psnr", "ssim"]].head(6).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96, help="longer side of the image in px (default 96)")
    ap.add_argument("--codec", default="bpg", choices=["bpg", "jpeg"], help="source codec (default bpg)")
    ap.add_argument(
        "--snr-db", type=float, default=30.0, help="SNR of the link run, Es/N0 in dB (default 30)"
    )
    args = ap.parse_args()
    link_run(args.size, args.codec, args.snr_db)
    small_sweep(args.size, args.codec)


if __name__ == "__main__":
    main()
