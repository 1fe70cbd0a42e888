"""Paper-ready figures from a sweep's results table (PNG + PDF in ``<out>/figures``).

- ``<metric>_vs_snr__<budget>``: metric vs SNR, one panel per channel, one line per codec: mean over images
  and trials with its 95 % confidence band (Student t on the per-row values).
- ``<metric>_vs_budget``: metric vs channel bandwidth ratio at up to three SNRs (rows) per channel (columns).
- ``ber_bler_vs_snr``: pooled BER (bit errors / bits) and BLER (block errors / blocks) vs SNR, log scale
  (zero error rates cannot be drawn on it and are left out).
- ``decode_failure_vs_snr``: fraction of rows whose image was not decoded, with Wilson 95 % intervals.
- ``image_grid__<channel>__<budget>``: original | each codec at the saved SNRs (trial 0), PSNR in titles.
- ``bits_per_modality``: for codecs whose bitstream has named segments (MTGC), mean bits per segment.

Non-finite metric values (PSNR of an identical image is +inf; NaN where a metric was unavailable) are left
out of means and counted in nothing; the table keeps them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mtgc_link.sweep.axes import AXES
from mtgc_link.sweep.store import load_results, original_image_path, safe_name

SNR_LABEL = "SNR (Es/N0 per data RE) [dB]"
CBR_LABEL = "Channel bandwidth ratio (channel uses / 3HW)"


def metric_label(name: str) -> str:
    """Axis label of a metric, from the metric registry (``label``, ``higher_is_better``).

    >>> metric_label("psnr"), metric_label("gmsd"), metric_label("not-a-metric")
    ('PSNR [dB]', 'GMSD, lower is better', 'not-a-metric')
    """
    from mtgc_link.metrics import METRICS

    try:
        metric = METRICS.get(name)
    except KeyError:  # a column from an older table or a plug-in not installed here
        return name
    label = metric.label or name
    return label if metric.higher_is_better else f"{label}, lower is better"


NON_METRIC = {"point", "trial", "seed", "height", "width"}


def paper_style() -> dict:
    """matplotlib rcParams for single-column figures (serif, 8-9 pt, embedded TrueType fonts in PDF)."""
    return {
        "font.family": "serif",
        "font.size": 8,
        "axes.labelsize": 8,
        "axes.titlesize": 8,
        "legend.fontsize": 7,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "lines.linewidth": 1.2,
        "lines.markersize": 3.5,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.5,
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "figure.constrained_layout.use": True,
    }


def metric_columns(df: pd.DataFrame) -> list[str]:
    """Metric columns: those with a ``<name>_reason`` companion column."""
    return [c[: -len("_reason")] for c in df.columns if c.endswith("_reason") and c[: -len("_reason")] in df]


def mean_ci(values) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % Student-t interval, n) of the finite values; NaNs when none.

    Example::

        >>> m, half, n = mean_ci([1.0, 2.0, 3.0, None, float("nan")])  # None and NaN are left out
        >>> m, round(half, 4), n  # t(0.975, 2 dof) = 4.3027, std 1: 4.3027 / sqrt(3)
        (2.0, 2.4841, 3)
        >>> mean_ci([5.0])  # one value: no spread
        (5.0, 0.0, 1)
    """
    from scipy.special import stdtrit  # Student t quantile; scipy.stats would take seconds to import

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    n = v.size
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v[0]), 0.0, 1
    half = float(stdtrit(n - 1, 0.975) * v.std(ddof=1) / math.sqrt(n))
    return float(v.mean()), half, n


def wilson(k: int, n: int) -> tuple[float, float, float]:
    """(rate, low, high) of a binomial proportion with the Wilson 95 % interval.

    Example::

        >>> [round(x, 4) for x in wilson(5, 10)]
        [0.5, 0.2366, 0.7634]
        >>> [round(x, 4) for x in wilson(0, 10)]  # high = z^2 / (n + z^2) = 3.8415 / 13.8415
        [0.0, 0.0, 0.2775]
    """
    if n == 0:
        return math.nan, math.nan, math.nan
    z, p = 1.959964, k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _save(fig, folder: Path, name: str) -> list[Path]:
    import matplotlib.pyplot as plt

    out = []
    for ext in ("png", "pdf"):
        path = folder / f"{name}.{ext}"
        fig.savefig(path)
        out.append(path)
    plt.close(fig)
    return out


def _slug(text: str) -> str:
    return safe_name(text, keep="-_.")


def _panels(n: int, ncols_max: int = 3, width: float = 3.4, height: float = 2.4):
    import matplotlib.pyplot as plt

    ncols = min(n, ncols_max)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols if ncols > 1 else width, height * nrows),
        squeeze=False,
        sharey=True,
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _curve(ax, x, mean, half, label, marker="o"):
    x, mean, half = map(np.asarray, (x, mean, half))
    ok = np.isfinite(mean)
    (line,) = ax.plot(x[ok], mean[ok], marker=marker, label=label)
    h = np.where(np.isfinite(half), half, 0.0)
    ax.fill_between(x[ok], (mean - h)[ok], (mean + h)[ok], color=line.get_color(), alpha=0.18, linewidth=0)


def plot_metric_vs_snr(df: pd.DataFrame, metric: str, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    out = []
    channels = list(dict.fromkeys(df["channel"]))
    for budget, dfb in df.groupby("budget", sort=False):
        if not np.isfinite(pd.to_numeric(dfb[metric], errors="coerce")).any():
            continue
        with plt.rc_context(paper_style()):
            fig, axes = _panels(len(channels))
            for ax, ch in zip(axes, channels, strict=False):
                for codec, g in dfb[dfb["channel"] == ch].groupby("codec", sort=False):
                    stats = [(snr, *mean_ci(gs[metric])) for snr, gs in g.groupby("snr_db")]
                    if stats:
                        snr, m, h, _ = zip(*stats, strict=True)
                        _curve(ax, snr, m, h, codec)
                ax.set_title(f"{ch}, {budget}, MCS {_mcs_text(dfb)}")
                ax.set_xlabel(SNR_LABEL)
            axes[0].set_ylabel(metric_label(metric))
            axes[0].legend(loc="best", title="mean, 95% CI")
            out += _save(fig, folder, f"{_slug(metric)}_vs_snr__{_slug(budget)}")
    return out


def _mcs_text(df: pd.DataFrame) -> str:
    pol = str(df["mcs_policy"].iloc[0])
    return pol.replace("fixed", "") if pol.startswith("fixed") else pol


def plot_metric_vs_budget(df: pd.DataFrame, metric: str, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    if df["budget"].nunique() < 2 or not np.isfinite(pd.to_numeric(df[metric], errors="coerce")).any():
        return []
    snrs = sorted(df["snr_db"].unique())
    chosen = sorted({snrs[0], snrs[len(snrs) // 2], snrs[-1]})
    channels = list(dict.fromkeys(df["channel"]))
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(
            len(chosen),
            len(channels),
            figsize=(3.2 * len(channels), 2.3 * len(chosen)),
            squeeze=False,
            sharey=True,
        )
        for i, snr in enumerate(chosen):
            for j, ch in enumerate(channels):
                ax = axes[i][j]
                sub = df[(df["snr_db"] == snr) & (df["channel"] == ch)]
                for codec, g in sub.groupby("codec", sort=False):
                    stats = sorted(
                        (gb["cbr_budget"].mean(), *mean_ci(gb[metric])) for _, gb in g.groupby("budget")
                    )
                    if stats:
                        x, m, h, _ = zip(*stats, strict=True)
                        _curve(ax, x, m, h, codec, marker="s")
                ax.set_title(f"{ch}, SNR {snr:g} dB")
                ax.set_xlabel(CBR_LABEL)
                if j == 0:
                    ax.set_ylabel(metric_label(metric))
        axes[0][0].legend(loc="best", title="mean, 95% CI")
        return _save(fig, folder, f"{_slug(metric)}_vs_budget")


def plot_ber_bler(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    sent = df[df["blocks"] > 0]
    if sent.empty:
        return []
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.5), squeeze=False)
        for (ch, budget), g in sent.groupby(["channel", "budget"], sort=False):
            agg = g.groupby("snr_db")[["bit_errors", "bits", "block_errors", "blocks"]].sum()
            ber = (agg["bit_errors"] / agg["bits"]).where(agg["bit_errors"] > 0)
            bler = (agg["block_errors"] / agg["blocks"]).where(agg["block_errors"] > 0)
            label = f"{ch}, {budget}" if sent["budget"].nunique() > 1 else ch
            axes[0][0].semilogy(agg.index, ber, marker="o", label=label)
            axes[0][1].semilogy(agg.index, bler, marker="o", label=label)
        for ax, name in zip(axes[0], ("BER (payload bits)", "BLER (transport blocks)"), strict=True):
            ax.set_xlabel(SNR_LABEL)
            ax.set_ylabel(name)
        axes[0][0].set_title(f"MCS {_mcs_text(sent)}; zero error rates not drawn")
        axes[0][1].legend(loc="best")
        return _save(fig, folder, "ber_bler_vs_snr")


def plot_decode_failure(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    channels = list(dict.fromkeys(df["channel"]))
    with plt.rc_context(paper_style()):
        fig, axes = _panels(len(channels))
        for ax, ch in zip(axes, channels, strict=False):
            for (codec, budget), g in df[df["channel"] == ch].groupby(["codec", "budget"], sort=False):
                rows = []
                for snr, gs in g.groupby("snr_db"):
                    rows.append((snr, *wilson(int((gs["decode_status"] != "ok").sum()), len(gs))))
                snr, p, lo, hi = map(np.asarray, zip(*rows, strict=True))
                label = f"{codec}, {budget}" if df["budget"].nunique() > 1 else codec
                (line,) = ax.plot(snr, p, marker="o", label=label)
                ax.fill_between(snr, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            ax.set_title(ch)
            ax.set_xlabel(SNR_LABEL)
            ax.set_ylim(-0.03, 1.03)
        axes[0].set_ylabel("Decode-failure rate")
        axes[0].legend(loc="best", title="Wilson 95% CI")
        return _save(fig, folder, "decode_failure_vs_snr")


def _image_file(out_dir: Path, row: pd.Series) -> Path | None:
    """The decoded picture a row saved (its ``image_file`` column, relative to the sweep folder)."""
    rel = row.get("image_file", "")
    return out_dir / rel if isinstance(rel, str) and rel else None


def plot_image_grids(df: pd.DataFrame, out_dir: Path, folder: Path, max_cols: int = 6) -> list[Path]:
    import warnings

    import matplotlib.pyplot as plt
    from PIL import Image

    out = []
    if "image_file" not in df:
        return []
    names = [n for n in dict.fromkeys(df["image"]) if original_image_path(out_dir, n).is_file()]
    saved = df[(df["trial"] == 0) & (df["image_file"].fillna("").astype(str) != "")]
    if not names or saved.empty:
        return []
    codecs = list(dict.fromkeys(df["codec"]))
    for (ch, budget), g in saved.groupby(["channel", "budget"], sort=False):
        snrs = sorted(g["snr_db"].unique())
        if len(snrs) > max_cols:
            snrs = [snrs[i] for i in np.linspace(0, len(snrs) - 1, max_cols).round().astype(int)]
        nrows, ncols = len(names) * len(codecs), len(snrs) + 1
        first = np.asarray(Image.open(original_image_path(out_dir, names[0])))
        aspect = first.shape[0] / first.shape[1]
        missing: list[str] = []
        with plt.rc_context({**paper_style(), "figure.constrained_layout.use": False}):
            fig, axes = plt.subplots(
                nrows, ncols, figsize=(1.25 * ncols, 1.25 * aspect * nrows + 0.3), squeeze=False
            )
            for ni, name in enumerate(names):
                for ci, codec in enumerate(codecs):
                    r = ni * len(codecs) + ci
                    orig = np.asarray(Image.open(original_image_path(out_dir, name)))
                    axes[r][0].imshow(orig)
                    axes[r][0].set_title("original" if r == 0 else "", fontsize=6)
                    axes[r][0].set_ylabel(f"{name}\n{codec}", fontsize=6)
                    for k, snr in enumerate(snrs, start=1):
                        ax = axes[r][k]
                        row = g[(g["codec"] == codec) & (g["image"] == name) & (g["snr_db"] == snr)]
                        path = _image_file(out_dir, row.iloc[0]) if len(row) else None
                        if path is not None and path.is_file():
                            ax.imshow(np.asarray(Image.open(path)))
                        elif path is not None:
                            missing.append(str(path))
                        psnr = row["psnr"].iloc[0] if "psnr" in row and len(row) else math.nan
                        status = row["decode_status"].iloc[0] if len(row) else "?"
                        tag = _cell_tag(row.iloc[0]) if len(row) else ""
                        txt = f"{snr:g} dB\n" + (f"{psnr:.1f} dB" if np.isfinite(psnr) else "")
                        ax.set_title(txt + tag + ("" if status == "ok" else f" ({status})"), fontsize=5.5)
            for ax in axes.flat:
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            fig.suptitle(f"{ch}, {budget}: original | decoded at SNR (Es/N0 per data RE); PSNR", fontsize=6.5)
            fig.subplots_adjust(wspace=0.05, hspace=0.35)
            out += _save(fig, folder, f"image_grid__{_slug(ch)}__{_slug(budget)}")
        if missing:
            warnings.warn(
                f"image grid {ch}, {budget}: {len(missing)} saved images are missing, e.g. {missing[0]}",
                stacklevel=2,
            )
    return out


def _cell_tag(row: pd.Series) -> str:
    """' [policy]' when the failure policy supplied the picture instead of the decoder."""
    return " [policy]" if bool(row.get("policy_applied", False)) else ""


def plot_bits_per_modality(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    seg = df[df.get("segment_bits", pd.Series("", index=df.index)).fillna("").astype(str).str.len() > 2]
    if seg.empty:
        return []
    bars = {}
    for (codec, budget), g in seg.groupby(["codec", "budget"], sort=False):
        parts = pd.DataFrame([json.loads(s) for s in g["segment_bits"]]).fillna(0)
        bars[f"{codec}\n{budget}"] = parts.mean()
    table = pd.DataFrame(bars).fillna(0).T
    with plt.rc_context(paper_style()):
        fig, ax = plt.subplots(figsize=(max(3.4, 0.9 * len(table)), 2.6))
        bottom = np.zeros(len(table))
        for col in table.columns:
            ax.bar(table.index, table[col], bottom=bottom, label=col)
            bottom += table[col].to_numpy()
        ax.set_ylabel("Mean bits per image")
        ax.legend(loc="best", title="modality")
        return _save(fig, folder, "bits_per_modality")


#: The sweep axes every figure above draws or pools on purpose (images and trials are the samples of each
#: mean; the MCS is a function of channel and SNR under any policy). A table that varies along any other
#: axis (:data:`mtgc_link.sweep.axes.AXES`) gets one set of figures per value of it, never a mean over it.
FIGURE_AXES = frozenset({"codec", "channel", "snr", "budget", "mcs", "image", "trial"})


def split_axes(df: pd.DataFrame) -> list[str]:
    """Columns of the axes the figures do not draw that take more than one value in ``df``."""
    return [
        a.column
        for a in AXES
        if a.name not in FIGURE_AXES and a.column in df and df[a.column].nunique(dropna=False) > 1
    ]


def _figures(df: pd.DataFrame, out_dir: Path, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for metric in metric_columns(df):
        files += plot_metric_vs_snr(df, metric, folder)
        files += plot_metric_vs_budget(df, metric, folder)
    files += plot_ber_bler(df, folder)
    files += plot_decode_failure(df, folder)
    files += plot_image_grids(df, out_dir, folder)
    files += plot_bits_per_modality(df, folder)
    return files


def plot_results(out_dir: str | Path) -> list[Path]:
    """Every figure for the results in ``out_dir``; returns the files written (PNG and PDF).

    Figures go to ``out_dir/figures``; when the table varies along an axis the figures do not draw
    (:func:`split_axes`), to ``out_dir/figures/<column>=<value>[/...]/``, one folder per combination.
    """
    import matplotlib

    matplotlib.use("Agg")

    out_dir = Path(out_dir)
    df = load_results(out_dir)
    if "codec_trained" in df:  # random weights are never passed off as results: say so in every legend
        untrained = df["codec_trained"].fillna("").astype(str) == "no"
        df.loc[untrained, "codec"] = df.loc[untrained, "codec"] + " (untrained)"
    folder = out_dir / "figures"
    split = split_axes(df)
    if not split:
        return _figures(df, out_dir, folder)
    files: list[Path] = []
    for values, part in df.groupby(split, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        sub = folder.joinpath(*(safe_name(f"{c}={v}") for c, v in zip(split, values, strict=True)))
        files += _figures(part, out_dir, sub)
    return files
