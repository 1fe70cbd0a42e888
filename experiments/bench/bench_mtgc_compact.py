"""Benchmark of the shipped `compact` MTGC against its targets on this machine (docs/mtgc-compact.md).

Times the codec's own encode (caption coder + BPG HCI + TASCM SPWs + bitstream) and decode (byte checks, HCI
and SPW decoding, MGDD at the default step count, VAE decode) of one 768x512 image, median of --reps after a
warm-up, at 1 and at 2 torch threads side by side, and prints each figure as a ratio of its target
(decode <= 5 s, encode <= 2 s at 2 threads) plus the size of the committed weights (<= 40 MB).

Usage: python experiments/bench/bench_mtgc_compact.py [--image PATH] [--reps 3] [--steps N]
The default image is scikit-image's astronaut resized to 768x512 (the Kodak size); --image takes a Kodak file.
Prints a JSON summary on the last line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mtgc_link.codecs.mtgc.codec import MTGCCodec  # noqa: E402
from mtgc_link.codecs.mtgc.profiles import COMPACT_DIR  # noqa: E402

TARGETS = {"decode_s": 5.0, "encode_s": 2.0, "weights_mb": 40.0}


def _median(fn, reps: int) -> float:
    fn()  # warm-up: model load, lazy imports, allocator
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="MGDD steps (default: the profile's)")
    args = ap.parse_args()
    from PIL import Image

    if args.image is not None:
        image = np.asarray(Image.open(args.image).convert("RGB"))
    else:
        from skimage import data

        image = np.asarray(Image.fromarray(data.astronaut()).resize((768, 512), Image.Resampling.BICUBIC))
    caption = "a smiling woman in an orange spacesuit holding a helmet in front of a flag"
    codec = MTGCCodec(profile="compact", steps=args.steps)
    weights = sum(p.stat().st_size for p in COMPACT_DIR.rglob("*.safetensors")) / 1e6
    out: dict = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} default threads",
        "image": f"{image.shape[1]}x{image.shape[0]}",
        "steps": args.steps or codec.models.config.default_steps,
        "weights_mb": round(weights, 2),
    }
    enc = codec.encode(image, caption=caption)
    out["stream_bytes"] = len(enc.data)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        # encode without the codec's per-image memo: a fresh codec object each time, models shared
        t_enc = _median(lambda: MTGCCodec(profile="compact").encode(image, caption=caption), args.reps)
        t_dec = _median(lambda: codec.decode(enc.data), args.reps)
        out[f"encode_s@{threads}t"] = round(t_enc, 3)
        out[f"decode_s@{threads}t"] = round(t_dec, 3)
    print(f"compact MTGC, {out['image']}, {out['steps']} steps, stream {out['stream_bytes']} B")
    for what in ("encode_s", "decode_s"):
        one, two = out[f"{what}@1t"], out[f"{what}@2t"]
        print(
            f"  {what[:-2]:7s} 1 thread {one:6.2f} s | 2 threads {two:6.2f} s | 1t/2t {one / two:4.2f} | "
            f"2 threads / target ({TARGETS[what]:.0f} s) {two / TARGETS[what]:.2f}"
        )
    print(f"  weights {weights:.1f} MB / target {TARGETS['weights_mb']:.0f} MB = {weights / 40:.2f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
