"""The demo sweep (`mtgc-link demo`, `make demo`): small enough for 5 minutes on 2 CPU cores.

JPEG, BPG and, when its weights are present (they ship with the source checkout), MTGC with the trained
``compact`` profile, over the same channels; the photos carry the captions written for them (DEMO_CAPTIONS).

The config lives here, not only in experiments/configs/demo.yaml, so that an installed package runs it
too; a test checks that the two are the same. Sizing (measured in docs/experiments.md): 5 photos downscaled
to 128 px, 8 PRBs, MCS 9 (QPSK, R = 0.66), 5 SNR points, 2 budgets (CBR 0.09: the smallest that
fits a JPEG in whole slots; 0.18), 1 trial.
"""

from __future__ import annotations

import copy

from mtgc_link.sweep.config import SweepConfig, parse_config

DEMO = {
    "name": "demo",
    "images": {"source": "demo", "resize": 128},
    "codecs": [{"name": "jpeg"}, {"name": "bpg"}],
    "channels": [
        {"model": "awgn"},
        {"model": "tdl", "profile": "A", "delay_spread_ns": 100.0, "speed_mps": 3.0},
    ],
    "phy": {"num_prbs": 8, "csi": "perfect"},
    "snr_db": [0.0, 4.0, 8.0, 12.0, 16.0],
    "budgets": [{"cbr": 0.09}, {"cbr": 0.18}],
    "mcs": {"fixed": 9},
    "trials": 3,
    "seed": 2026,
    "failure_policy": "mean",
    "metrics": ["psnr", "ssim", "haarpsi", "gmsd"],
    "save_images": {"snr_db": None, "max_images": 2},
}

MTGC_MISSING = (
    "no trained weights present: the compact profile's folder is missing (it ships with the source checkout; "
    "rebuild it with `bash experiments/train_compact.sh`), and the reference profile needs Stable Diffusion "
    "2.1-base (see docs/mtgc.md)"
)


def mtgc_status() -> tuple[str | None, str]:
    """(profile, "") for the MTGC of the demo, else (None, why).

    ``MTGC_DEMO_PROFILE`` names a trained profile folder; without it the demo uses the shipped ``compact``
    profile. The demo never downloads, and random (untrained) weights are never shown as results.
    """
    import os
    from pathlib import Path

    from mtgc_link.codecs.mtgc.config import MTGCConfig

    folder = os.environ.get("MTGC_DEMO_PROFILE")
    if not folder:
        from mtgc_link.codecs.mtgc.profiles import COMPACT_DIR

        compact = Path(os.environ.get("MTGC_COMPACT") or COMPACT_DIR)
        try:
            _, extra = MTGCConfig.load(compact)
        except Exception:  # absent or unreadable: the demo runs without MTGC and says why
            return None, MTGC_MISSING
        return ("compact", "") if extra.get("trained", False) else (None, MTGC_MISSING)
    try:
        _, extra = MTGCConfig.load(Path(folder))
    except Exception as exc:  # any unreadable folder: say why, run the demo without MTGC
        return None, f"MTGC_DEMO_PROFILE={folder} is not a readable MTGC profile ({exc})"
    if not extra.get("trained", False):
        return None, f"MTGC_DEMO_PROFILE={folder} holds untrained weights; the demo shows trained models only"
    return folder, ""


def demo_config(mtgc_profile: str | None = None) -> SweepConfig:
    data = copy.deepcopy(DEMO)
    if mtgc_profile:
        data["codecs"].append({"name": "mtgc", "settings": {"profile": mtgc_profile}})
    return parse_config(data, "demo")


def summary_table(df) -> str:
    """Mean PSNR [dB] per (channel, budget, codec) and SNR, as text (finite values only: rows with null
    metrics, e.g. an error status, and the +inf of identical images are left out)."""
    if df.empty or "psnr" not in df:
        return ""
    import numpy as np
    import pandas as pd

    psnr = pd.to_numeric(df["psnr"], errors="coerce").astype(float)
    finite = df.assign(psnr=psnr.where(np.isfinite(psnr)))
    pivot = finite.pivot_table(
        index=["channel", "budget", "codec"], columns="snr_db", values="psnr", aggfunc="mean"
    )
    pivot.columns = [f"{c:g} dB" for c in pivot.columns]
    return "mean PSNR [dB] by SNR (Es/N0 per data RE):\n" + pivot.round(2).to_string()
