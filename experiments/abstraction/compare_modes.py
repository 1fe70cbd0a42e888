"""Compare the two PHY modes of a sweep run with ``phy_mode: [bit_true, abstraction]``.

Per (codec, channel, budget, SNR) and metric: the mean over images of each image's mean over its trials, for
each mode, with the 95 % CI over images (the figures' statistic, mtgc_link.plots), and whether the two means
lie within each other's bands. Also the mean BLER of each mode.

    python experiments/abstraction/compare_modes.py results/abstraction_validation [--metric psnr] [--csv out]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import stats

from mtgc_link.sweep.store import load_results


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def compare(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = []
    for (codec, channel, budget, snr), g in df.groupby(["codec", "channel", "budget", "snr_db"], sort=True):
        out = {"codec": codec, "channel": channel, "budget": budget, "snr_db": snr}
        for mode, gm in g.groupby("phy_mode"):
            per_image = gm.groupby("image")[metric].mean().to_numpy(dtype=float)
            m, half = mean_ci(per_image)
            out[f"{metric}_{mode}"], out[f"ci_{mode}"] = m, half
            out[f"bler_{mode}"] = float(gm["bler"].mean())
        a, b = out.get(f"{metric}_abstraction"), out.get(f"{metric}_bit_true")
        if a is not None and b is not None:
            out["diff"] = a - b
            out["within_bands"] = bool(abs(a - b) <= max(out["ci_abstraction"], out["ci_bit_true"]))
        rows.append(out)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--metric", default="psnr")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    df = load_results(args.out_dir)
    if "phy_mode" not in df or df["phy_mode"].nunique() < 2:
        raise SystemExit(
            f"{args.out_dir}: the table does not vary phy_mode (run with phy_mode: [bit_true, abstraction])"
        )
    table = compare(df, args.metric)
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.precision", 3):
        print(table.to_string(index=False))
    within = table["within_bands"]
    print(f"\n{int(within.sum())} of {len(within)} points: the two means lie within the larger 95 % band")
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
