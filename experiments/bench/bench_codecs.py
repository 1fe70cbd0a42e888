"""Decode cost of the crash-safe sandbox, and encode / rate-control cost, per codec, side by side.

For each codec: decode time in-process vs through the sandbox worker (Kodak 768x512 and a 96x64
image), their ratio, and the time of one fixed-quality encode vs one rate-controlled encode.
Usage: python experiments/bench/bench_codecs.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mtgc_link.codecs import get_codec
from mtgc_link.codecs.sandbox import call_in_process, get_sandbox

KODAK = Path(__file__).resolve().parents[3] / "shared" / "data" / "kodak" / "kodim05.png"


def _paired(fn_a, fn_b, repeat: int) -> tuple[float, float, float, float]:
    """Median and minimum seconds per call of two functions timed alternately (same machine load for
    both): (median a, median b, min a, min b). On a loaded machine the median includes the time the
    worker waits to be scheduled; the minimum shows the cost of the pipe round trip itself."""
    fn_a(), fn_b()  # warm-up (starts the worker, loads libraries)
    ta, tb = [], []
    for _ in range(repeat):
        for fn, out in ((fn_a, ta), (fn_b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb)), min(ta), min(tb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    if KODAK.exists():
        big = np.asarray(Image.open(KODAK).convert("RGB"))
    else:
        from skimage import data

        big = data.astronaut()
    small = np.asarray(Image.fromarray(big).resize((96, 64), Image.Resampling.LANCZOS))
    t0 = time.perf_counter()
    get_sandbox().call("mtgc_link.codecs.sandbox:probe_echo", b"x")
    print(f"sandbox worker start: {1e3 * (time.perf_counter() - t0):.0f} ms (once per process)")
    print("decode ms per call, median and (min); in-process and sandboxed calls alternate:")
    print(f"{'codec':<9} {'image':<8} {'in-process':>16} {'sandbox':>16} {'median ratio':>12}")
    for name in ("jpeg", "webp", "jpeg2000", "avif", "bpg"):
        codec = get_codec(name)
        for label, img in (("768x512", big), ("96x64", small)):
            data = codec.encode(img).data
            fn, payload, kwargs = codec.decode_plan(data)
            t_in, t_sb, m_in, m_sb = _paired(
                lambda fn=fn, p=payload, k=kwargs: call_in_process(fn, p, k),
                lambda c=codec, d=data: c.decode(d),
                args.repeat,
            )
            print(
                f"{name:<9} {label:<8} {1e3 * t_in:8.2f} ({1e3 * m_in:5.2f}) "
                f"{1e3 * t_sb:8.2f} ({1e3 * m_sb:5.2f}) {t_sb / t_in:12.2f}"
            )
    print(f"\n{'codec':<9} {'fixed-quality encode s':>22} {'rate-controlled encode s':>25} {'encodes':>8}")
    for name in ("jpeg", "webp", "jpeg2000", "avif", "bpg"):
        codec = get_codec(name)
        t0 = time.perf_counter()
        codec.encode(big)
        t_fixed = time.perf_counter() - t0
        t0 = time.perf_counter()
        enc = codec.encode(big, max_bits=int(0.25 * big.shape[0] * big.shape[1]))
        t_rc = time.perf_counter() - t0
        print(f"{name:<9} {t_fixed:22.2f} {t_rc:25.2f} {enc.info['encodes']:8d}")


if __name__ == "__main__":
    main()
