"""BPG (libx265 backend, bpgenc settings) on Kodak against the published real-BPG curve.

Encodes the 24 Kodak images at BPG -q 47/42/37/32 in 4:4:4, computes mean bpp (8 x bytes sent,
our 5-byte header and the HEVC parameter sets included) and mean RGB PSNR, interpolates our curve at
the published bpp (linear in log bpp) and prints the difference. Published: CompressAI
results/image/kodak/bpg_444_x265_ycbcr.json (BPG 0.9.8). Takes a few minutes on 2 cores.

Usage: python experiments/bench/bench_bpg_rd.py [--kodak DIR] [--chroma 444|420] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mtgc_link.codecs import get_codec
from mtgc_link.metrics import psnr

PUBLISHED = {47: (0.0678, 26.20), 42: (0.1610, 28.68), 37: (0.3516, 31.59), 32: (0.6847, 34.86)}
DEFAULT_KODAK = Path(__file__).resolve().parents[3] / "shared" / "data" / "kodak"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    ap.add_argument("--chroma", default="444")
    ap.add_argument("--json", type=Path, default=None, help="also write per-image rows here")
    args = ap.parse_args()
    paths = sorted(args.kodak.glob("kodim*.png"))
    if len(paths) != 24:
        raise SystemExit(f"expected 24 Kodak PNGs in {args.kodak}, found {len(paths)}")
    codec = get_codec("bpg", chroma=args.chroma, backend="libx265")
    rows, t0 = [], time.time()
    for p in paths:
        img = np.asarray(Image.open(p).convert("RGB"))
        for q in PUBLISHED:
            enc = codec.encode(img, quality=q)
            dec = codec.decode(enc.data)
            rows.append(
                {
                    "image": p.stem,
                    "q": q,
                    "bytes": len(enc.data),
                    "bpp": enc.info["bpp"],
                    "psnr": psnr(img, dec.image),
                }
            )
    ours = {
        q: (
            np.mean([r["bpp"] for r in rows if r["q"] == q]),
            np.mean([r["psnr"] for r in rows if r["q"] == q]),
        )
        for q in PUBLISHED
    }
    xs = np.log([ours[q][0] for q in sorted(ours, reverse=True)])
    ys = [ours[q][1] for q in sorted(ours, reverse=True)]
    print(
        f"bpg {args.chroma} backend {codec.backend} ({codec.backend_version()}), preset {codec.preset}, "
        f"{len(paths)} images, {time.time() - t0:.0f} s"
    )
    print("| q | ours bpp | ours PSNR | published bpp | published PSNR | ours at published bpp | diff (dB) |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    for q, (pb, pp) in PUBLISHED.items():
        at = float(np.interp(np.log(pb), xs, ys, left=np.nan, right=np.nan))
        if np.isnan(at):  # published point outside our range: extrapolate from the nearest segment
            i = 0 if np.log(pb) < xs[0] else len(xs) - 2
            at = ys[i] + (ys[i + 1] - ys[i]) * (np.log(pb) - xs[i]) / (xs[i + 1] - xs[i])
        worst = max(worst, abs(at - pp))
        print(
            f"| {q} | {ours[q][0]:.4f} | {ours[q][1]:.2f} | {pb:.4f} | {pp:.2f} | {at:.2f} | {at - pp:+.2f} |"
        )
    print(f"largest |difference| at equal bpp: {worst:.2f} dB (target <= 0.3 dB)")
    if args.json:
        args.json.write_text(json.dumps({"codec_settings": codec.settings(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
