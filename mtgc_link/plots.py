"""Paper-ready figures from a sweep's results table (PNG + PDF in ``<out>/figures``).

- ``<metric>_vs_snr__<budget>``: metric vs SNR, one panel per channel, one line per codec: mean over images
  and trials with its 95 % confidence band (Student t on the per-row values).
- ``<metric>_vs_budget``: metric vs channel bandwidth ratio at up to three SNRs (rows) per channel (columns).
- ``ber_bler_vs_snr``: pooled BER (bit errors / bits) and BLER (block errors / blocks) vs SNR, log scale
  (zero error rates cannot be drawn on it and are left out).
- ``decode_failure_vs_snr``: fraction of rows whose image was not decoded, with Wilson 95 % intervals.
- ``image_grid__<channel>__<budget>``: original | each codec at the saved SNRs (trial 0), PSNR in titles.
- ``bits_per_modality``: for codecs whose bitstream has named segments (MTGC), mean bits per segment.
- ``quality_vs_snr_by_protection__<metric>__<budget>``: when protection or HARQ varies: one panel per
  (channel, HARQ setting), one line per (codec, protection), the reference lines as below.
- ``segment_delivery_vs_snr``: per segment kind (``seg_<kind>`` columns), the fraction of rows whose
  segment was delivered among those that sent it, Wilson 95 % intervals; one panel per (kind, channel).
- ``mean_transmissions_vs_snr``: mean transmissions per transport block, for rows with HARQ (max > 1).

Reference lines in the metric-vs-SNR panels, each only where its columns exist
(:mod:`mtgc_link.sweep.reference`): "<codec> error-free" (dashed, the codec's colour: its decode of the bytes
it sent, no channel errors), "BPG + capacity" (dotted black: BPG given the channel's capacity in bits,
decoded error-free) and "failure policy (<policy>) floor" (grey line and band: the metric of the failure
policy's picture, where every curve ends at low SNR).

Transport axes (:data:`LINE_AXES`: ``protection``, ``harq_max_tx``) are drawn, never split by or averaged
over: one line per (codec, protection, HARQ) with the codec's colour, a marker per protection and a line
style per HARQ setting; an axis with one value in the table adds nothing to labels.

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


# ------------------------------------------------------------------------------- lines: series and looks
def _protection_label(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else str(v)


def _harq_label(v) -> str:
    try:
        n = int(float(v))
    except (TypeError, ValueError):
        return "HARQ n/a"
    return "HARQ off" if n <= 1 else f"HARQ {n}"


#: Sweep axes (by their row column) that the figures draw as lines, never split by nor average over:
#: column -> label of a value. A column that takes one value in a table adds nothing to the labels.
LINE_AXES = {"protection": _protection_label, "harq_max_tx": _harq_label}

_PALETTE = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")  # C7 (grey) is the failure-policy floor
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_HARQ_STYLES = ("-", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))


def _varying(df: pd.DataFrame, column: str) -> bool:
    return column in df and df[column].nunique(dropna=False) > 1


def _with_series(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``_transport`` (labels of the varying :data:`LINE_AXES`, e.g. "uep, HARQ 4"), ``_series``
    (codec + transport: one line each) and ``_series_noharq`` (the same without the HARQ part)."""
    if "_series" in df:
        return df
    df = df.copy()
    parts = {c: df[c].map(f).astype(str) for c, f in LINE_AXES.items() if _varying(df, c)}
    transport = pd.Series("", index=df.index)
    for labels in parts.values():
        transport = transport.where(transport == "", transport + ", ") + labels
    codec = df["codec"].astype(str) if "codec" in df else pd.Series("", index=df.index)
    df["_transport"] = transport
    df["_series"] = codec.where(transport == "", codec + ", " + transport)
    if "protection" in parts:
        df["_series_noharq"] = codec + ", " + parts["protection"]
    else:
        df["_series_noharq"] = codec
    return df


def _looks(df: pd.DataFrame) -> dict[str, dict]:
    """Line style per ``_series``: colour per codec, marker per protection, line style per HARQ setting
    (only for the axes that vary; the others keep each figure's default)."""
    codecs = list(dict.fromkeys(df["codec"])) if "codec" in df else []
    colour = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(codecs)}
    prot = list(dict.fromkeys(df["protection"])) if _varying(df, "protection") else []
    harq = []
    if _varying(df, "harq_max_tx"):
        harq = sorted(dict.fromkeys(df["harq_max_tx"]), key=lambda v: (_harq_label(v) != "HARQ off", str(v)))
    looks: dict[str, dict] = {}
    for _, row in df.drop_duplicates("_series").iterrows():
        look = {"color": colour.get(row.get("codec"), "C0")}
        if prot:
            look["marker"] = _MARKERS[prot.index(row["protection"]) % len(_MARKERS)]
        if harq:
            look["linestyle"] = _HARQ_STYLES[harq.index(row["harq_max_tx"]) % len(_HARQ_STYLES)]
        looks[row["_series"]] = look
    return looks


def _curve(ax, x, mean, half, label, marker="o", **style):
    x, mean, half = map(np.asarray, (x, mean, half))
    ok = np.isfinite(mean)
    style.setdefault("marker", marker)
    (line,) = ax.plot(x[ok], mean[ok], label=label, **style)
    h = np.where(np.isfinite(half), half, 0.0)
    ax.fill_between(x[ok], (mean - h)[ok], (mean + h)[ok], color=line.get_color(), alpha=0.18, linewidth=0)
    return line


def _legend(fig, axes, title: str, max_inside: int = 6) -> None:
    """One legend for the figure: the labels of every panel, once each; inside the first panel when short,
    to the right of the panels when long."""
    handles: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("_"):
                handles.setdefault(label, h)
    if not handles:
        return
    if len(handles) <= max_inside:
        axes[0].legend(list(handles.values()), list(handles), loc="best", title=title)
    else:
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", title=title)


# ------------------------------------------------------------------------------------ reference lines
ERROR_FREE, CAPACITY, FLOOR = "ref_error_free_", "ref_capacity_", "ref_floor_"


def _finite(values) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    return v.where(np.isfinite(v))


def _snr_means(g: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(SNR, mean of the finite values of ``column``) where there is a mean."""
    m = _finite(g[column]).groupby(g["snr_db"]).mean().dropna().sort_index()
    return m.index.to_numpy(dtype=float), m.to_numpy(dtype=float)


def _capacity_label(sub: pd.DataFrame) -> str:
    names = sub["ref_capacity_codec"].dropna().astype(str) if "ref_capacity_codec" in sub else pd.Series([])
    names = [n for n in names if n]
    return f"{(names[0].split()[0] if names else 'bpg').upper()} + capacity"


def draw_references(ax, sub: pd.DataFrame, metric: str, looks: dict[str, dict] | None = None) -> None:
    """The reference lines of one quality-vs-SNR panel (rows ``sub``), each only where its columns exist.

    - ``<codec> error-free``: dashed, the codec's colour: mean ``ref_error_free_<metric>`` per SNR (flat
      under a fixed MCS; one line per protection only where protection changes the value);
    - ``BPG + capacity``: dotted black: mean ``ref_capacity_<metric>`` per SNR, each (image, trial) once;
    - ``failure policy (<policy>) floor``: grey line at the mean ``ref_floor_<metric>`` over images, with a
      band from the lowest to the highest image.
    """
    if sub.empty or "snr_db" not in sub:
        return
    looks = looks or {}
    colour = {}
    if "_series" in sub:
        for s, c in zip(sub["_series"], sub["codec"], strict=True):
            colour.setdefault(c, looks.get(s, {}).get("color"))
    col = ERROR_FREE + metric
    if col in sub and _finite(sub[col]).notna().any():
        for codec, gc in sub.groupby("codec", sort=False):
            parts = [("", gc)]
            if _varying(gc, "protection"):
                per = [(str(p), gp) for p, gp in gc.groupby("protection", sort=False)]
                curves = [_snr_means(gp, col) for _, gp in per]
                same = all(
                    len(c[1]) == len(curves[0][1]) and np.allclose(c[1], curves[0][1], equal_nan=True)
                    for c in curves
                )
                parts = parts if same else [(f", {p}", gp) for p, gp in per]
            for suffix, gp in parts:
                x, y = _snr_means(gp, col)
                if len(x):
                    ax.plot(
                        x, y, ls="--", lw=0.9, color=colour.get(codec), label=f"{codec}{suffix} error-free"
                    )
    col = CAPACITY + metric
    if col in sub and _finite(sub[col]).notna().any():
        keys = [c for c in ("snr_db", "image", "trial") if c in sub]
        d = sub[keys].assign(_v=_finite(sub[col])).dropna(subset=["_v"])
        per = d.groupby(keys)["_v"].mean()
        m = per.groupby(level="snr_db").mean().sort_index() if len(keys) > 1 else per.sort_index()
        ax.plot(
            m.index.to_numpy(float), m.to_numpy(float), ls=":", lw=1.2, color="k", label=_capacity_label(sub)
        )
    col = FLOOR + metric
    if col in sub and _finite(sub[col]).notna().any():
        v = _finite(sub[col])
        per_image = v.groupby(sub["image"]).mean().dropna() if "image" in sub else v.dropna()
        x0, x1 = float(sub["snr_db"].min()), float(sub["snr_db"].max())
        lo, hi, mean = float(per_image.min()), float(per_image.max()), float(per_image.mean())
        if hi > lo:
            ax.fill_between([x0, x1], [lo, lo], [hi, hi], color="0.5", alpha=0.15, linewidth=0, zorder=0)
        policy = "?"
        if "failure_policy" in sub:
            policy = ", ".join(str(p) for p in dict.fromkeys(sub["failure_policy"].dropna()))
        ax.plot(
            [x0, x1], [mean, mean], color="0.45", lw=1.0, zorder=1, label=f"failure policy ({policy}) floor"
        )


def _draw_quality(ax, sub: pd.DataFrame, metric: str, looks: dict, refs: bool = True, label_column="_series"):
    for series, g in sub.groupby("_series", sort=False):
        stats = [(snr, *mean_ci(gs[metric])) for snr, gs in g.groupby("snr_db")]
        if stats:
            snr, m, h, _ = zip(*stats, strict=True)
            _curve(ax, snr, m, h, str(g[label_column].iloc[0]), **looks.get(series, {}))
    if refs:
        draw_references(ax, sub, metric, looks)


def plot_metric_vs_snr(df: pd.DataFrame, metric: str, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    df = _with_series(df)
    looks = _looks(df)
    out = []
    channels = list(dict.fromkeys(df["channel"]))
    for budget, dfb in df.groupby("budget", sort=False):
        if not np.isfinite(pd.to_numeric(dfb[metric], errors="coerce")).any():
            continue
        with plt.rc_context(paper_style()):
            fig, axes = _panels(len(channels))
            for ax, ch in zip(axes, channels, strict=False):
                _draw_quality(ax, dfb[dfb["channel"] == ch], metric, looks)
                ax.set_title(f"{ch}, {budget}, MCS {_mcs_text(dfb)}")
                ax.set_xlabel(SNR_LABEL)
            axes[0].set_ylabel(metric_label(metric))
            _legend(fig, axes[: len(channels)], "mean, 95% CI")
            out += _save(fig, folder, f"{_slug(metric)}_vs_snr__{_slug(budget)}")
    return out


def plot_quality_by_protection(df: pd.DataFrame, metric: str, folder: Path) -> list[Path]:
    """Metric vs SNR with one panel per (channel, HARQ setting) and one line per (codec, protection), when
    protection or HARQ varies (the metric-vs-SNR panels then carry every combination at once)."""
    import matplotlib.pyplot as plt

    if not (_varying(df, "protection") or _varying(df, "harq_max_tx")):
        return []
    df = _with_series(df)
    looks = {s: {k: v for k, v in look.items() if k != "linestyle"} for s, look in _looks(df).items()}
    harqs = [None]
    if _varying(df, "harq_max_tx"):
        harqs = sorted(dict.fromkeys(df["harq_max_tx"]), key=lambda v: (_harq_label(v) != "HARQ off", str(v)))
    channels = list(dict.fromkeys(df["channel"]))
    out = []
    for budget, dfb in df.groupby("budget", sort=False):
        if not np.isfinite(pd.to_numeric(dfb[metric], errors="coerce")).any():
            continue
        with plt.rc_context(paper_style()):
            fig, axes = plt.subplots(
                len(channels),
                len(harqs),
                figsize=(3.2 * len(harqs), 2.4 * len(channels)),
                squeeze=False,
                sharey=True,
            )
            for i, ch in enumerate(channels):
                for j, harq in enumerate(harqs):
                    ax = axes[i][j]
                    sub = dfb[dfb["channel"] == ch]
                    if harq is not None:
                        sub = sub[sub["harq_max_tx"] == harq]
                    _draw_quality(ax, sub, metric, looks, label_column="_series_noharq")
                    ax.set_title(f"{ch}, {budget}" + ("" if harq is None else f", {_harq_label(harq)}"))
                    ax.set_xlabel(SNR_LABEL)
                    if j == 0:
                        ax.set_ylabel(metric_label(metric))
            _legend(fig, list(axes.flat), "mean, 95% CI")
            out += _save(fig, folder, f"quality_vs_snr_by_protection__{_slug(metric)}__{_slug(budget)}")
    return out


def _mcs_text(df: pd.DataFrame) -> str:
    pol = str(df["mcs_policy"].iloc[0])
    return pol.replace("fixed", "") if pol.startswith("fixed") else pol


def plot_metric_vs_budget(df: pd.DataFrame, metric: str, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    if df["budget"].nunique() < 2 or not np.isfinite(pd.to_numeric(df[metric], errors="coerce")).any():
        return []
    df = _with_series(df)
    looks = _looks(df)
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
                for series, g in sub.groupby("_series", sort=False):
                    stats = sorted(
                        (gb["cbr_budget"].mean(), *mean_ci(gb[metric])) for _, gb in g.groupby("budget")
                    )
                    if stats:
                        x, m, h, _ = zip(*stats, strict=True)
                        _curve(ax, x, m, h, series, **{"marker": "s", **looks.get(series, {})})
                ax.set_title(f"{ch}, SNR {snr:g} dB")
                ax.set_xlabel(CBR_LABEL)
                if j == 0:
                    ax.set_ylabel(metric_label(metric))
        _legend(fig, list(axes.flat), "mean, 95% CI")
        return _save(fig, folder, f"{_slug(metric)}_vs_budget")


def plot_ber_bler(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    sent = _with_series(df[df["blocks"] > 0])
    if sent.empty:
        return []
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.5), squeeze=False)
        for (ch, budget, transport), g in sent.groupby(["channel", "budget", "_transport"], sort=False):
            agg = g.groupby("snr_db")[["bit_errors", "bits", "block_errors", "blocks"]].sum()
            ber = (agg["bit_errors"] / agg["bits"]).where(agg["bit_errors"] > 0)
            bler = (agg["block_errors"] / agg["blocks"]).where(agg["block_errors"] > 0)
            label = f"{ch}, {budget}" if sent["budget"].nunique() > 1 else ch
            label += f", {transport}" if transport else ""
            axes[0][0].semilogy(agg.index, ber, marker="o", label=label)
            axes[0][1].semilogy(agg.index, bler, marker="o", label=label)
        for ax, name in zip(axes[0], ("BER (payload bits)", "BLER (transport blocks)"), strict=True):
            ax.set_xlabel(SNR_LABEL)
            ax.set_ylabel(name)
        axes[0][0].set_title(f"MCS {_mcs_text(sent)}; zero error rates not drawn")
        axes[0][1].legend(loc="best" if sent["_transport"].nunique() <= 3 else "lower left")
        return _save(fig, folder, "ber_bler_vs_snr")


def plot_decode_failure(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    df = _with_series(df)
    looks = _looks(df)
    several = df["budget"].nunique() > 1  # then colours tell budgets apart, as before
    channels = list(dict.fromkeys(df["channel"]))
    with plt.rc_context(paper_style()):
        fig, axes = _panels(len(channels))
        for ax, ch in zip(axes, channels, strict=False):
            for (series, budget), g in df[df["channel"] == ch].groupby(["_series", "budget"], sort=False):
                rows = []
                for snr, gs in g.groupby("snr_db"):
                    rows.append((snr, *wilson(int((gs["decode_status"] != "ok").sum()), len(gs))))
                snr, p, lo, hi = map(np.asarray, zip(*rows, strict=True))
                label = f"{series}, {budget}" if several else series
                look = {k: v for k, v in looks.get(series, {}).items() if not (several and k == "color")}
                (line,) = ax.plot(snr, p, **{"marker": "o", **look}, label=label)
                ax.fill_between(snr, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            ax.set_title(ch)
            ax.set_xlabel(SNR_LABEL)
            ax.set_ylim(-0.03, 1.03)
        axes[0].set_ylabel("Decode-failure rate")
        _legend(fig, axes[: len(channels)], "Wilson 95% CI")
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
    df = _with_series(df)
    names = [n for n in dict.fromkeys(df["image"]) if original_image_path(out_dir, n).is_file()]
    saved = df[(df["trial"] == 0) & (df["image_file"].fillna("").astype(str) != "")]
    if not names or saved.empty:
        return []
    codecs = list(dict.fromkeys(df["_series"]))  # one row of pictures per drawn line
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
                        row = g[(g["_series"] == codec) & (g["image"] == name) & (g["snr_db"] == snr)]
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
    seg = _with_series(seg)
    bars = {}
    for (codec, budget), g in seg.groupby(["_series", "budget"], sort=False):
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


#: Segment kinds in the order the figures list them (MTGC's segments; ``payload``: a codec's whole stream).
SEGMENT_ORDER = ("header", "caption", "spw", "hci", "payload")
#: Statuses of a segment that was sent (``absent``: not in this bitstream; empty: not applicable).
SEGMENT_SENT = ("delivered", "corrupted", "lost")


def segment_kinds(df: pd.DataFrame) -> list[str]:
    """Kinds ``k`` of the ``seg_<k>`` status columns that were sent in some row, in :data:`SEGMENT_ORDER`."""
    import re

    kinds = [c[4:] for c in df.columns if re.fullmatch(r"seg_[a-z0-9]+", c)]
    kinds = [k for k in kinds if df[f"seg_{k}"].fillna("").astype(str).isin(SEGMENT_SENT).any()]
    rank = {k: i for i, k in enumerate(SEGMENT_ORDER)}
    return sorted(kinds, key=lambda k: (rank.get(k, len(rank)), k))


def plot_segment_delivery(df: pd.DataFrame, folder: Path) -> list[Path]:
    """Per segment kind, the fraction of rows whose segment was delivered among the rows that sent it."""
    import matplotlib.pyplot as plt

    kinds = segment_kinds(df)
    if not kinds:
        return []
    df = _with_series(df)
    looks = _looks(df)
    channels = list(dict.fromkeys(df["channel"]))
    budgets = list(dict.fromkeys(df["budget"])) if "budget" in df else [None]
    cols = [(ch, b) for ch in channels for b in budgets]  # rows: segment kinds; columns: channel x budget
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(
            len(kinds),
            len(cols),
            figsize=(3.5 * len(cols), 1.9 * len(kinds)),
            squeeze=False,
            sharey=True,
        )
        for i, kind in enumerate(kinds):
            for j, (ch, budget) in enumerate(cols):
                ax = axes[i][j]
                sub = (
                    df[df["channel"] == ch]
                    if budget is None
                    else df[(df["channel"] == ch) & (df["budget"] == budget)]
                )
                for series, g in sub.groupby("_series", sort=False):
                    rows = []
                    for snr, gs in g.groupby("snr_db"):
                        status = gs[f"seg_{kind}"].fillna("").astype(str)
                        n = int(status.isin(SEGMENT_SENT).sum())
                        if n:
                            rows.append((snr, *wilson(int((status == "delivered").sum()), n)))
                    if not rows:
                        continue
                    snr, p, lo, hi = map(np.asarray, zip(*rows, strict=True))
                    (line,) = ax.plot(snr, p, **{"marker": "o", **looks.get(series, {})}, label=series)
                    ax.fill_between(snr, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
                ax.set_title(
                    f"{kind} segment, {ch}" + ("" if budget is None or len(budgets) == 1 else f", {budget}")
                )
                ax.set_ylim(-0.03, 1.03)
                if i == len(kinds) - 1:
                    ax.set_xlabel(SNR_LABEL)
                if j == 0:
                    ax.set_ylabel("Delivered (of sent)")
        _legend(fig, list(axes.flat), "Wilson 95% CI")
        return _save(fig, folder, "segment_delivery_vs_snr")


def plot_mean_transmissions(df: pd.DataFrame, folder: Path) -> list[Path]:
    """Mean transmissions per transport block vs SNR, for the rows with HARQ (``harq_max_tx`` > 1)."""
    import matplotlib.pyplot as plt

    if "harq_max_tx" not in df or "mean_transmissions" not in df:
        return []
    on = df[pd.to_numeric(df["harq_max_tx"], errors="coerce") > 1]
    if "blocks" in on:
        on = on[on["blocks"] > 0]  # nothing sent: no transmissions to count
    if on.empty or not _finite(on["mean_transmissions"]).notna().any():
        return []
    df = _with_series(df)
    looks = _looks(df)
    on = df.loc[on.index]
    channels = list(dict.fromkeys(on["channel"]))
    budgets = list(dict.fromkeys(on["budget"])) if "budget" in on else [None]
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(
            len(budgets),
            len(channels),
            figsize=(3.2 * len(channels), 2.4 * len(budgets)),
            squeeze=False,
            sharey=True,
        )
        for i, budget in enumerate(budgets):
            for j, ch in enumerate(channels):
                ax = axes[i][j]
                sub = (
                    on[on["channel"] == ch]
                    if budget is None
                    else on[(on["channel"] == ch) & (on["budget"] == budget)]
                )
                for series, g in sub.groupby("_series", sort=False):
                    stats = [
                        (snr, *mean_ci(_finite(gs["mean_transmissions"]))) for snr, gs in g.groupby("snr_db")
                    ]
                    if stats:
                        snr, m, h, _ = zip(*stats, strict=True)
                        _curve(ax, snr, m, h, series, **looks.get(series, {}))
                ax.set_title(ch if budget is None else f"{ch}, {budget}")
                ax.set_xlabel(SNR_LABEL)
                if j == 0:
                    ax.set_ylabel("Mean transmissions per block")
        _legend(fig, list(axes.flat), "mean, 95% CI")
        return _save(fig, folder, "mean_transmissions_vs_snr")


#: The sweep axes every figure above draws or pools on purpose (images and trials are the samples of each
#: mean; the MCS is a function of channel and SNR under any policy; protection and HARQ are drawn as lines,
#: see :data:`LINE_AXES`). A table that varies along any other axis (:data:`mtgc_link.sweep.axes.AXES`)
#: gets one set of figures per value of it, never a mean over it.
FIGURE_AXES = frozenset(
    {"codec", "channel", "snr", "budget", "mcs", "image", "trial", "protection", "harq_max_tx"}
)


def split_axes(df: pd.DataFrame) -> list[str]:
    """Columns of the axes the figures do not draw that take more than one value in ``df``."""
    return [
        a.column
        for a in AXES
        if a.name not in FIGURE_AXES
        and a.column not in LINE_AXES
        and a.column in df
        and df[a.column].nunique(dropna=False) > 1
    ]


def _figures(df: pd.DataFrame, out_dir: Path, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    df = _with_series(df)
    files: list[Path] = []
    for metric in metric_columns(df):
        files += plot_metric_vs_snr(df, metric, folder)
        files += plot_quality_by_protection(df, metric, folder)
        files += plot_metric_vs_budget(df, metric, folder)
    files += plot_ber_bler(df, folder)
    files += plot_decode_failure(df, folder)
    files += plot_segment_delivery(df, folder)
    files += plot_mean_transmissions(df, folder)
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
