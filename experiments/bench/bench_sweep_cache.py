"""Decode-cache benchmark: the same sweep with the decode cache on and off, measured side by side.

6 Kodak images (downscaled) x 8 SNRs x 10 trials over AWGN at MCS 9 (QPSK, R = 0.66): below the cliff
(about 2 dB) every trial receives different corrupted bytes; from 4 dB up every trial receives the sent
bytes. Checks that the decoder runs exactly once per distinct received payload, and prints decoder calls,
wall time and decode time for both runs and their ratios.

    python experiments/bench/bench_sweep_cache.py [--codec bpg] [--resize 96] [--trials 10]
    HF_HUB_OFFLINE=1 python experiments/bench/bench_sweep_cache.py --codec mtgc --set profile=tiny --trials 2
    (MTGC's tiny profile has untrained weights: use it for timing only)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def config(codec: str, resize: int, trials: int, cache: bool, settings: dict | None = None) -> dict:
    source = str(KODAK / "kodim0[1-6].png") if KODAK.is_dir() else "demo"
    return {
        "name": f"bench_cache_{'on' if cache else 'off'}",
        "images": {"source": source, "resize": resize, "limit": 6},
        "codecs": [{"name": codec, "settings": settings or {}}],
        "channels": [{"model": "awgn"}],
        "phy": {"num_prbs": 8, "csi": "perfect"},
        "snr_db": [-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0],
        "budgets": [{"cbr": 0.25}],
        "mcs": {"fixed": 9},
        "trials": trials,
        "seed": 11,
        "failure_policy": "mean",
        "metrics": ["psnr"],
        "save_images": {"max_images": 0},
        "decode_cache": cache,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codec", default="bpg")
    ap.add_argument("--resize", type=int, default=96)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--set", action="append", default=[], help="codec setting key=value, e.g. profile=tiny")
    args = ap.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)

    from mtgc_link.codecs import get_codec
    from mtgc_link.sweep.config import parse_config
    from mtgc_link.sweep.runner import run_sweep

    cls = type(get_codec(args.codec, **settings))
    real_decode = cls.decode
    calls = {"n": 0}

    def counting_decode(self, data):
        calls["n"] += 1
        return real_decode(self, data)

    cls.decode = counting_decode
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up: imports and Sionna block construction are not part of either measurement
        run_sweep(
            parse_config({**config(args.codec, 32, 1, True, settings), "snr_db": [10.0], "name": "warm"}),
            Path(tmp) / "warm",
            plots=False,
            progress=False,
        )
        for cache in (True, False):
            cfg = parse_config(config(args.codec, args.resize, args.trials, cache, settings))
            calls["n"] = 0
            t0 = time.perf_counter()
            res = run_sweep(cfg, Path(tmp) / cfg.name, workers=1, plots=False, progress=False)
            wall = time.perf_counter() - t0
            df = res.table
            sent = df[df["decode_status"] != "no_fit"]
            distinct = int(sent.groupby("image")["rx_payload_sha"].nunique().sum())
            results[cache] = dict(
                rows=len(df),
                decoded_rows=len(sent),
                distinct=distinct,
                calls=calls["n"],
                wall=wall,
                decode=float(df["t_decode_s"].sum()),
                transmit=float(df["t_transmit_s"].sum()),
                error_free=int(df["received_identical"].fillna(False).sum()),
                backend=str(df["codec_backend"].iloc[0]),
            )
    cls.decode = real_decode

    on, off = results[True], results[False]
    print(
        f"codec {args.codec} [{on['backend']}], {on['rows']} rows (6 images x 8 SNRs x {args.trials} trials),"
        f" images <= {args.resize} px, {on['error_free']} rows received error-free"
    )
    print(f"distinct received payloads: {on['distinct']}")
    print(f"decoder calls: cache on {on['calls']}, cache off {off['calls']}")
    print(
        f"wall time [s]: cache on {on['wall']:.1f}, cache off {off['wall']:.1f}, "
        f"ratio off/on {off['wall'] / on['wall']:.2f}"
    )
    print(
        f"decode time [s]: cache on {on['decode']:.2f}, cache off {off['decode']:.2f}, "
        f"ratio off/on {off['decode'] / max(on['decode'], 1e-9):.2f}  (PHY time: {on['transmit']:.1f} / "
        f"{off['transmit']:.1f})"
    )
    rest_on, rest_off = on["wall"] - on["transmit"], off["wall"] - off["transmit"]
    print(
        f"wall time without the PHY [s]: cache on {rest_on:.1f}, cache off {rest_off:.1f}, "
        f"ratio off/on {rest_off / rest_on:.2f}  (the PHY does identical work in both runs; on a shared "
        "machine its run-to-run variation can swamp the wall-time ratio)"
    )
    assert on["calls"] == on["distinct"], "decoder calls must equal distinct received payloads"
    assert off["calls"] == off["decoded_rows"], "without the cache every row that received bytes decodes"


if __name__ == "__main__":
    main()
