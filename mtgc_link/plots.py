"""Paper-ready figures from a sweep's results table (PNG + PDF in ``<out>/figures``).

- ``<metric>_vs_snr__<budget>``: metric vs SNR, one panel per channel, one line per codec: the mean with its
  95 % confidence band over *images* (each image's trials averaged first, :func:`image_mean_ci`; the legend
  title says over how many); no band where there is one image.
- ``<metric>_vs_budget``: metric vs channel bandwidth ratio at up to three SNRs (rows) per channel (columns).
- ``ber_bler_vs_snr``: pooled BER (bit errors / bits) and BLER (block errors / blocks) vs SNR, log scale
  (zero error rates cannot be drawn on it and are left out).
- ``decode_failure_vs_snr``: fraction of rows whose image was not decoded, with Wilson 95 % intervals.
- ``image_grid__<channel>__<budget>``: original | each codec at the saved SNRs (trial 0), PSNR and tag in
  titles (:func:`cell_tag`).
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

Curve points where some (half-filled marker) or every (hollow marker) row got no decoded image -- the failure
policy's picture, or under policy ``none`` a row left out of the mean -- are marked, and the legend says so;
image-grid cells are tagged "fallback: <status>" (red frame) or "corrupted, decoded" (orange frame). Panel
titles name the channel's delay spread and speed (TDL/CDL) and the CSI; x ticks sit on the SNR grid; legends
are outside the panels.

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
from typing import NamedTuple

import numpy as np
import pandas as pd

from mtgc_link.sweep.axes import AXES
from mtgc_link.sweep.store import load_results, original_image_path, safe_name

SNR_LABEL = "SNR (Es/N0 per data RE) [dB]"
CBR_LABEL = "Channel bandwidth ratio (channel uses / 3HW)"


def metric_label(name: str) -> str:
    """Axis label of a metric, from the metric registry (``label``, ``higher_is_better``).

    ``name``: the metric's column (its registered name in snake_case, e.g. ``ms_ssim`` for ``ms-ssim``) or
    its registered name.

    >>> metric_label("psnr"), metric_label("gmsd"), metric_label("not-a-metric")
    ('PSNR [dB]', 'GMSD, lower is better', 'not-a-metric')
    """
    from mtgc_link.metrics import METRICS

    registered = {n.replace("-", "_"): n for n in METRICS.names()}  # column -> registered name
    try:
        metric = METRICS.get(registered.get(name, name))
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

    The values must be independent samples (see :func:`image_mean_ci` for rows of a sweep). With one
    value there is no interval: the half-width is NaN (the figures then draw no band).

    Example::

        >>> m, half, n = mean_ci([1.0, 2.0, 3.0, None, float("nan")])  # None and NaN are left out
        >>> m, round(half, 4), n  # t(0.975, 2 dof) = 4.3027, std 1: 4.3027 / sqrt(3)
        (2.0, 2.4841, 3)
        >>> mean_ci([5.0])  # one value: no interval
        (5.0, nan, 1)
    """
    from scipy.special import stdtrit  # Student t quantile; scipy.stats would take seconds to import

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    n = v.size
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v[0]), math.nan, 1
    half = float(stdtrit(n - 1, 0.975) * v.std(ddof=1) / math.sqrt(n))
    return float(v.mean()), half, n


class Band(NamedTuple):
    """One point of a curve: mean, half-width of its 95 % interval (NaN: none), the number of independent
    units (images) it runs over, and the most rows (trials) averaged into one unit."""

    mean: float
    half: float
    n: int
    per_unit: int


def image_mean_ci(rows: pd.DataFrame, column: str) -> Band:
    """Mean and 95 % interval of ``column`` over the rows of one curve point, with the **image** as the unit.

    The rows of one image are not independent samples: every trial shows the same picture, and above the
    cliff the trials receive identical bytes, hence the identical decoded image and metric value. A t
    interval over rows would count each image once per trial and come out about sqrt(trials) too narrow.
    So each image's finite values are first averaged over its trials (channel realisations), and the
    Student-t interval runs over these per-image means (``n`` = images with a finite value); the mean is
    the mean of the per-image means. Duplicate rows are *not* dropped instead: identical bytes in two trials
    are two draws of the channel with the same outcome, and dropping them would weight rare (corrupted)
    outcomes up. With one image there is no interval (half NaN). Without an ``image`` column (old or
    hand-made tables) every row is its own unit.

    >>> t = pd.DataFrame({"image": ["a", "a", "b", "b"], "psnr": [30.0, 30.0, 20.0, 22.0]})
    >>> b = image_mean_ci(t, "psnr")  # per image: 30 and 21; t(0.975, 1) = 12.706, std 6.364 / sqrt(2)
    >>> b.mean, round(b.half, 2), b.n, b.per_unit
    (25.5, 57.18, 2, 2)
    """
    v = _finite(rows[column])
    if "image" not in rows:
        m, h, n = mean_ci(v)
        return Band(m, h, n, 1 if n else 0)
    ok = v.notna()
    per_image = v[ok].groupby(rows.loc[ok, "image"], sort=False)
    m, h, n = mean_ci(per_image.mean())
    return Band(m, h, n, int(per_image.size().max()) if n else 0)


def ci_note(bands, unit: str = "images") -> str:
    r"""What a figure's intervals run over, for its legend title, from the :class:`Band` of every point.

    >>> ci_note([Band(1, 0.1, 5, 3), Band(1, 0.2, 5, 3)])
    'mean, 95% CI over 5 images\n(each: mean of its 3 trials)'
    >>> ci_note([Band(1, float("nan"), 1, 4)])
    'mean of 1 image (no CI)\n(each: mean of its 4 trials)'
    """
    bands = [b for b in bands if b.n > 0]
    if not bands:
        return "mean"
    lo, hi = min(b.n for b in bands), max(b.n for b in bands)
    if hi < 2:
        head = f"mean of 1 {unit.rstrip('s')} (no CI)"
    else:
        head = f"mean, 95% CI over {lo if lo == hi else f'{lo}-{hi}'} {unit}"
        head += " (none at 1)" if lo < 2 else ""
    per = max(b.per_unit for b in bands)
    return head + (f"\n(each: mean of its {per} trials)" if unit == "images" and per > 1 else "")


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
def _phy_mode_label(v) -> str:
    return {"bit_true": "bit-true PHY", "abstraction": "PHY abstraction"}.get(str(v), str(v))


LINE_AXES = {"protection": _protection_label, "harq_max_tx": _harq_label, "phy_mode": _phy_mode_label}

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
    modes = _varying(df, "phy_mode")
    looks: dict[str, dict] = {}
    for _, row in df.drop_duplicates("_series").iterrows():
        look = {"color": colour.get(row.get("codec"), "C0")}
        if prot:
            look["marker"] = _MARKERS[prot.index(row["protection"]) % len(_MARKERS)]
        if harq:
            look["linestyle"] = _HARQ_STYLES[harq.index(row["harq_max_tx"]) % len(_HARQ_STYLES)]
        if modes:  # the abstraction dashed, the bit-true chain solid (a varying HARQ keeps its style)
            look.setdefault("linestyle", "--" if row["phy_mode"] == "abstraction" else "-")
            look["alpha"] = 0.75 if row["phy_mode"] == "abstraction" else 1.0
        looks[row["_series"]] = look
    return looks


#: Marker looks of curve points where rows got no decoded image (see :func:`_curve`).
_FALLBACK_LOOK = {
    "some": {"fillstyle": "bottom", "markerfacecoloralt": "white", "markersize": 5.5, "markeredgewidth": 1.0},
    "all": {"fillstyle": "full", "markerfacecolor": "white", "markersize": 5.5, "markeredgewidth": 1.0},
}


def _curve(ax, x, mean, half, label, marker="o", fallback=None, policy: str = "", **style):
    """One curve: the line, its 95 % band where there is one (no artist at all where no point has an
    interval: one image), and the points where rows got no decoded image marked.

    fallback: per point, the fraction of its rows whose image the decoder did not give (the failure policy's
    picture, or under policy ``none`` rows left out of the mean). Such points get, instead of the filled
    marker, a half-filled one (some rows) or a hollow one (every row): marker-only lines labelled
    ``_fallback_some:<label>`` / ``_fallback_all:<label>`` with the policy as their ``gid``.
    """
    x, mean, half = (np.asarray(a, dtype=float) for a in (x, mean, half))
    f = np.zeros_like(mean) if fallback is None else np.asarray(fallback, dtype=float)
    ok = np.isfinite(mean)
    x, mean, half, f = x[ok], mean[ok], half[ok], f[ok]
    style.setdefault("marker", marker)
    flagged = f > 0
    if flagged.any():
        style["markevery"] = [int(i) for i in np.flatnonzero(~flagged)]
    (line,) = ax.plot(x, mean, label=label, **style)
    colour = line.get_color()
    band = np.isfinite(half)
    if band.any():
        h = np.where(band, half, 0.0)
        ax.fill_between(
            x, mean - h, mean + h, where=band, color=colour, alpha=0.18, linewidth=0, label=f"_band:{label}"
        )
    for kind, sel in (("some", flagged & (f < 1)), ("all", f >= 1)):
        if sel.any():
            (mark,) = ax.plot(
                x[sel],
                mean[sel],
                ls="none",
                marker=line.get_marker(),
                color=colour,
                markeredgecolor=colour,
                label=f"_fallback_{kind}:{label}",
                zorder=line.get_zorder() + 0.1,
                **_FALLBACK_LOOK[kind],
            )
            mark.set_gid(policy)
    return line


def _fallback_fraction(rows: pd.DataFrame) -> float:
    """Fraction of ``rows`` whose image the decoder did not give (``decode_status`` != ok: the failure
    policy's picture, or no picture under policy ``none`` and for the error statuses, whose metrics are null;
    without that column, ``policy_applied``); 0 when neither column is there."""
    if rows.empty:
        return 0.0
    if "decode_status" in rows:
        return float((rows["decode_status"].fillna("").astype(str) != "ok").mean())
    if "policy_applied" in rows:
        return float(rows["policy_applied"].fillna(False).astype(bool).mean())
    return 0.0


def _policy_of(rows: pd.DataFrame) -> str:
    if "failure_policy" not in rows:
        return ""
    return ", ".join(str(p) for p in dict.fromkeys(rows["failure_policy"].dropna()))


def _fallback_proxies(axes) -> list:
    """Legend entries explaining the half-filled / hollow markers drawn by :func:`_curve`, where any are."""
    from matplotlib.lines import Line2D

    kinds, policies = set(), set()
    for ax in axes:
        for line in ax.get_lines():
            lab = str(line.get_label())
            if lab.startswith("_fallback_"):
                kinds.add(lab[len("_fallback_") :].split(":", 1)[0])
                policies.update(p for p in str(line.get_gid() or "").split(", ") if p)
    if not kinds:
        return []
    if policies <= {"none"} and policies:
        some = "some rows not decoded (left out of the mean)"
        every = "no row decoded"
    else:
        name = ", ".join(sorted(policies - {"none"})) or "?"
        some = f"some images not decoded: failure policy ({name})"
        every = f"no image decoded: failure policy ({name})"
    out = []
    for kind, text in (("some", some), ("all", every)):
        if kind in kinds:
            look = dict(_FALLBACK_LOOK[kind])
            out.append(Line2D([], [], ls="none", marker="o", color="0.3", label=text, **look))
    return out


def _legend(fig, axes, title: str) -> None:
    """One legend for the figure, outside the panels (to their right) so that it hides no curve: the labels
    of every panel once each, then what the half-filled / hollow markers mean where there are any."""
    handles: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.startswith("_"):
                handles.setdefault(label, h)
    for proxy in _fallback_proxies(axes):
        handles.setdefault(proxy.get_label(), proxy)
    if not handles:
        return
    legend = fig.legend(list(handles.values()), list(handles), loc="outside right upper", title=title)
    # the figure grows by the legend's width, so the panels keep the width they were given (a legend taken
    # out of a one-panel figure's own width would squeeze its axes to a sliver)
    width = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    fig.set_size_inches(fig.get_figwidth() + width, fig.get_figheight())


def _snr_ticks(ax, snrs, max_labels: int = 9) -> None:
    """Major ticks at the SNR grid values; labels thinned so that neighbours keep >= 1/max_labels of the
    range apart (every tick stays)."""
    v = sorted({float(x) for x in snrs if np.isfinite(x)})
    if not v:
        return
    gap = (v[-1] - v[0]) / max_labels if len(v) > 1 else 0.0
    labels, last = [], None
    for x in v:
        keep = last is None or x - last >= gap - 1e-9
        labels.append(f"{x:g}" if keep else "")
        last = x if keep else last
    ax.set_xticks(v, labels)


def _one_value(rows: pd.DataFrame, column: str):
    if column not in rows:
        return None
    vals = [v for v in dict.fromkeys(rows[column]) if v is not None and v == v and v != ""]
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)


def channel_details(rows: pd.DataFrame) -> str:
    """The channel of ``rows`` as a panel title names it: TDL/CDL delay spread and UE speed, and the CSI
    (from the row columns ``channel_model``, ``delay_spread_ns``, ``speed_mps``, ``csi``); empty when the
    table has none of them.

    >>> channel_details(pd.DataFrame({"channel_model": ["tdl"], "delay_spread_ns": [300.0],
    ...                               "speed_mps": [3.0], "csi": ["ls"]}))
    'DS 300 ns, 3 m/s, CSI ls'
    >>> channel_details(pd.DataFrame({"channel_model": ["awgn"], "delay_spread_ns": [100.0], "csi": ["ls"]}))
    'CSI ls'
    """

    def num(v, unit):
        return f"{v:g} {unit}" if isinstance(v, (int, float)) else f"{v} {unit}"

    parts = []
    if _one_value(rows, "channel_model") in ("tdl", "cdl"):
        ds, speed = _one_value(rows, "delay_spread_ns"), _one_value(rows, "speed_mps")
        parts += [f"DS {num(ds, 'ns')}"] if ds is not None else []
        parts += [num(speed, "m/s")] if speed is not None else []
    csi = _one_value(rows, "csi")
    parts += [f"CSI {csi}"] if csi is not None else []
    return ", ".join(parts)


def panel_title(rows: pd.DataFrame, channel: str, *rest: str) -> str:
    r"""``"<channel> (<details>)\n<rest>"`` when the table names the channel's details, else the one line
    ``"<channel>, <rest>"`` (as before those columns existed)."""
    details = channel_details(rows)
    tail = ", ".join(r for r in rest if r)
    if not details:
        return ", ".join(x for x in (channel, tail) if x)
    return f"{channel} ({details})" + (f"\n{tail}" if tail else "")


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


def _points(g: pd.DataFrame, by: str, column: str) -> tuple[list, list[Band], list[float]]:
    """Per value of ``by`` (sorted): its :class:`Band` of ``column`` (:func:`image_mean_ci`) and the fraction
    of its rows whose image the decoder did not give (:func:`_fallback_fraction`)."""
    xs, bands, fallback = [], [], []
    for x, gs in g.groupby(by, sort=True):
        xs.append(x)
        bands.append(image_mean_ci(gs, column))
        fallback.append(_fallback_fraction(gs))
    return xs, bands, fallback


def _draw_band_curve(ax, x, bands, fallback, label, policy, look) -> None:
    if bands:
        _curve(
            ax,
            x,
            [b.mean for b in bands],
            [b.half for b in bands],
            label,
            fallback=fallback,
            policy=policy,
            **look,
        )


def _draw_quality(
    ax, sub: pd.DataFrame, metric: str, looks: dict, refs: bool = True, label_column="_series"
) -> list[Band]:
    """The curves of one quality-vs-SNR panel; returns the :class:`Band` of every point drawn."""
    drawn: list[Band] = []
    policy = _policy_of(sub)
    for series, g in sub.groupby("_series", sort=False):
        snr, bands, fallback = _points(g, "snr_db", metric)
        label = str(g[label_column].iloc[0])
        _draw_band_curve(ax, snr, bands, fallback, label, policy, looks.get(series, {}))
        drawn += bands
    if refs:
        draw_references(ax, sub, metric, looks)
    return drawn


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
            drawn: list[Band] = []
            for ax, ch in zip(axes, channels, strict=False):
                sub = dfb[dfb["channel"] == ch]
                drawn += _draw_quality(ax, sub, metric, looks)
                ax.set_title(panel_title(sub, ch, str(budget), f"MCS {_mcs_text(dfb)}"))
                ax.set_xlabel(SNR_LABEL)
                _snr_ticks(ax, sub["snr_db"])
            axes[0].set_ylabel(metric_label(metric))
            _legend(fig, axes[: len(channels)], ci_note(drawn))
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
            drawn: list[Band] = []
            for i, ch in enumerate(channels):
                for j, harq in enumerate(harqs):
                    ax = axes[i][j]
                    sub = dfb[dfb["channel"] == ch]
                    if harq is not None:
                        sub = sub[sub["harq_max_tx"] == harq]
                    drawn += _draw_quality(ax, sub, metric, looks, label_column="_series_noharq")
                    harq_text = "" if harq is None else _harq_label(harq)
                    ax.set_title(panel_title(sub, ch, str(budget), harq_text))
                    ax.set_xlabel(SNR_LABEL)
                    _snr_ticks(ax, sub["snr_db"])
                    if j == 0:
                        ax.set_ylabel(metric_label(metric))
            _legend(fig, list(axes.flat), ci_note(drawn))
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
        drawn: list[Band] = []
        for i, snr in enumerate(chosen):
            for j, ch in enumerate(channels):
                ax = axes[i][j]
                sub = df[(df["snr_db"] == snr) & (df["channel"] == ch)]
                policy = _policy_of(sub)
                for series, g in sub.groupby("_series", sort=False):
                    g = g.assign(_x=g.groupby("budget")["budget_cbr"].transform("mean"))
                    x, bands, fallback = _points(g, "_x", metric)
                    look = {"marker": "s", **looks.get(series, {})}
                    _draw_band_curve(ax, x, bands, fallback, series, policy, look)
                    drawn += bands
                ax.set_title(panel_title(sub, ch, f"SNR {snr:g} dB"))
                ax.set_xlabel(CBR_LABEL)
                if j == 0:
                    ax.set_ylabel(metric_label(metric))
        _legend(fig, list(axes.flat), ci_note(drawn))
        return _save(fig, folder, f"{_slug(metric)}_vs_budget")


def plot_ber_bler(df: pd.DataFrame, folder: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    sent = _with_series(df[df["blocks"] > 0])
    if sent.empty:
        return []
    with plt.rc_context(paper_style()):
        fig, axes = plt.subplots(1, 2, figsize=(6.8, 2.5), squeeze=False)
        for (ch, budget, transport), g in sent.groupby(["channel", "budget", "_transport"], sort=False):
            agg = g.groupby("snr_db")[["bit_errors", "transmitted_bits", "block_errors", "blocks"]].sum()
            ber = (agg["bit_errors"] / agg["transmitted_bits"]).where(agg["bit_errors"] > 0)
            bler = (agg["block_errors"] / agg["blocks"]).where(agg["block_errors"] > 0)
            details = channel_details(g)
            label = f"{ch} ({details})" if details else str(ch)
            label += f", {budget}" if sent["budget"].nunique() > 1 else ""
            label += f", {transport}" if transport else ""
            axes[0][0].semilogy(agg.index, ber, marker="o", label=label)
            axes[0][1].semilogy(agg.index, bler, marker="o", label=label)
        for ax, name in zip(axes[0], ("BER (payload bits)", "BLER (transport blocks)"), strict=True):
            ax.set_xlabel(SNR_LABEL)
            ax.set_ylabel(name)
            _snr_ticks(ax, sent["snr_db"])
        axes[0][0].set_title(f"MCS {_mcs_text(sent)}; zero error rates not drawn")
        _legend(fig, list(axes[0]), "pooled over rows")
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
            sub = df[df["channel"] == ch]
            ax.set_title(panel_title(sub, ch))
            ax.set_xlabel(SNR_LABEL)
            _snr_ticks(ax, sub["snr_db"])
            ax.set_ylim(-0.03, 1.03)
        axes[0].set_ylabel("Decode-failure rate")
        _legend(fig, axes[: len(channels)], "Wilson 95% CI over rows\n(channel realisations)")
        return _save(fig, folder, "decode_failure_vs_snr")


def _image_file(out_dir: Path, row: pd.Series) -> Path | None:
    """The decoded picture a row saved (its ``image_file`` column, relative to the sweep folder)."""
    rel = row.get("image_file", "")
    return out_dir / rel if isinstance(rel, str) and rel else None


#: Frame colours of image-grid cells whose picture is not a clean decode (see :func:`cell_tag`).
CELL_FRAMES = {"fallback": "tab:red", "corrupted": "tab:orange"}


def cell_tag(row: pd.Series) -> tuple[str, str | None]:
    """(tag, kind) of one image-grid cell: what the picture is when it is not a clean decode.

    - ``"fallback: <status>"``, kind ``fallback``: the failure policy supplied the picture
      (``policy_applied``; the status says why: decode_failed, dropped, no_fit);
    - ``"<status>, no image"``, kind ``fallback``: not decoded under policy ``none`` (the cell stays empty);
    - ``"corrupted, decoded"``, kind ``corrupted``: decoded, but from bytes with errors (``bit_errors`` > 0 or
      ``received_identical`` false: under ``crc_error: decode``, or lost segments of a segmented codec);
    - ``("", None)``: decoded from the bytes that were sent.
    """
    status = str(row.get("decode_status", "ok") or "ok")
    if bool(row.get("policy_applied", False)):
        return f"fallback: {status}", "fallback"
    if status != "ok":
        return f"{status}, no image", "fallback"
    errors = pd.to_numeric(row.get("bit_errors", 0), errors="coerce")
    identical = row.get("received_identical", None)
    differs = identical is not None and identical == identical and not identical  # NaN: unknown
    if (np.isfinite(errors) and errors > 0) or differs:
        return "corrupted, decoded", "corrupted"
    return "", None


def plot_image_grids(df: pd.DataFrame, out_dir: Path, folder: Path, max_cols: int = 6) -> list[Path]:
    """Per (channel, budget): rows (image, codec line), columns original | the saved SNRs (trial 0).

    Laid out in inches so that no text overlaps a picture: the figure title has its own band at the top,
    every cell a band above it for its title (the SNR in the first row; the PSNR and, for a picture that is
    not a clean decode, its :func:`cell_tag`), and tagged cells a coloured frame (:data:`CELL_FRAMES`)
    explained in a note at the bottom.
    """
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
        # in inches: a cell (its height from its image's aspect), the title band above each cell (up to 3
        # lines at 5.5 pt), the figure title band, the row labels' band on the left, the frame note's band
        cell_w, line_h, gap_w = 1.25, 5.5 * 1.3 / 72, 0.06
        aspects = []
        for name in names:
            with Image.open(original_image_path(out_dir, name)) as im:
                aspects.append(im.height / im.width)
        cell_h = [cell_w * aspects[r // len(codecs)] for r in range(nrows)]
        title_h, sup_h, left_w, note_h = 3 * line_h + 0.05, 0.42, 0.32, 0.22
        width = left_w + ncols * cell_w + (ncols - 1) * gap_w + 0.05
        height = sup_h + nrows * title_h + sum(cell_h) + note_h
        bottoms = [note_h + sum(cell_h[r + 1 :]) + (nrows - 1 - r) * title_h for r in range(nrows)]
        missing: list[str] = []
        kinds_seen: set[str] = set()
        with plt.rc_context({**paper_style(), "figure.constrained_layout.use": False}):
            fig = plt.figure(figsize=(width, height))
            axes = [
                [
                    fig.add_axes(
                        (
                            (left_w + c * (cell_w + gap_w)) / width,
                            bottoms[r] / height,
                            cell_w / width,
                            cell_h[r] / height,
                        )
                    )
                    for c in range(ncols)
                ]
                for r in range(nrows)
            ]
            for ni, name in enumerate(names):
                orig = np.asarray(Image.open(original_image_path(out_dir, name)))
                for ci, codec in enumerate(codecs):
                    r = ni * len(codecs) + ci
                    axes[r][0].imshow(orig)
                    axes[r][0].set_title("original" if r == 0 else "", fontsize=5.5, pad=2)
                    axes[r][0].set_ylabel(f"{name}\n{codec}", fontsize=5.5)
                    for k, snr in enumerate(snrs, start=1):
                        ax = axes[r][k]
                        row = g[(g["_series"] == codec) & (g["image"] == name) & (g["snr_db"] == snr)]
                        path = _image_file(out_dir, row.iloc[0]) if len(row) else None
                        if path is not None and path.is_file():
                            ax.imshow(np.asarray(Image.open(path)))
                        elif path is not None:
                            missing.append(str(path))
                        lines = [f"{snr:g} dB"] if r == 0 else []
                        if len(row):
                            psnr = np.nan
                            if "psnr" in row:
                                psnr = pd.to_numeric(row["psnr"], errors="coerce").iloc[0]
                            lines.append(f"PSNR {psnr:.1f} dB" if np.isfinite(psnr) else "")
                            tag, kind = cell_tag(row.iloc[0])
                            if kind is not None:
                                kinds_seen.add(kind)
                                lines.append(tag)
                                for spine in ax.spines.values():
                                    spine.set(visible=True, color=CELL_FRAMES[kind], linewidth=1.6)
                        else:
                            lines.append("not saved")
                        ax.set_title("\n".join(x for x in lines if x), fontsize=5.5, pad=2)
            for ax in (a for row_axes in axes for a in row_axes):
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
            details = channel_details(g)
            head = f"{ch} ({details}), {budget}" if details else f"{ch}, {budget}"
            fig.suptitle(
                f"{head}\noriginal | decoded at SNR (Es/N0 per data RE), trial 0",
                y=1 - 0.5 * sup_h / height,
                va="center",
                fontsize=6.5,
            )
            if kinds_seen:
                note = {
                    "fallback": "red frame: the failure policy's picture (fallback)",
                    "corrupted": "orange frame: decoded from corrupted bytes",
                }
                fig.text(
                    0.5,
                    0.5 * note_h / height,
                    ";  ".join(note[k] for k in ("fallback", "corrupted") if k in kinds_seen),
                    ha="center",
                    va="center",
                    fontsize=5.5,
                )
            out += _save(fig, folder, f"image_grid__{_slug(ch)}__{_slug(budget)}")
        if missing:
            warnings.warn(
                f"image grid {ch}, {budget}: {len(missing)} saved images are missing, e.g. {missing[0]}",
                stacklevel=2,
            )
    return out


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
                extra = "" if budget is None or len(budgets) == 1 else str(budget)
                ax.set_title(panel_title(sub, f"{kind} segment, {ch}", extra))
                ax.set_ylim(-0.03, 1.03)
                _snr_ticks(ax, sub["snr_db"])
                if i == len(kinds) - 1:
                    ax.set_xlabel(SNR_LABEL)
                if j == 0:
                    ax.set_ylabel("Delivered (of sent)")
        _legend(fig, list(axes.flat), "Wilson 95% CI over rows\n(channel realisations)")
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
        drawn: list[Band] = []
        for i, budget in enumerate(budgets):
            for j, ch in enumerate(channels):
                ax = axes[i][j]
                sub = (
                    on[on["channel"] == ch]
                    if budget is None
                    else on[(on["channel"] == ch) & (on["budget"] == budget)]
                )
                for series, g in sub.groupby("_series", sort=False):
                    snr, bands, _ = _points(g, "snr_db", "mean_transmissions")
                    _draw_band_curve(ax, snr, bands, None, series, "", looks.get(series, {}))
                    drawn += bands
                ax.set_title(panel_title(sub, ch, "" if budget is None else str(budget)))
                ax.set_xlabel(SNR_LABEL)
                _snr_ticks(ax, sub["snr_db"])
                if j == 0:
                    ax.set_ylabel("Mean transmissions per block")
        _legend(fig, list(axes.flat), ci_note(drawn))
        return _save(fig, folder, "mean_transmissions_vs_snr")


#: The sweep axes every figure above draws or pools on purpose (images and trials are the samples of each
#: mean; the MCS is a function of channel and SNR under any policy; protection and HARQ are drawn as lines,
#: see :data:`LINE_AXES`). A table that varies along any other axis (:data:`mtgc_link.sweep.axes.AXES`)
#: gets one set of figures per value of it, never a mean over it.
FIGURE_AXES = frozenset(
    {"codec", "channel", "snr", "budget", "mcs", "image", "trial", "protection", "harq_max_tx", "phy_mode"}
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


#: The row columns that name a channel's details in panel titles (:func:`channel_details`).
CHANNEL_DETAIL_COLUMNS = ("channel_model", "delay_spread_ns", "speed_mps", "csi")


def with_channel_columns(df: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """``df`` with :data:`CHANNEL_DETAIL_COLUMNS` filled from the sweep's ``config.yaml`` (its ``channels``
    ChannelSpecs and ``phy.csi``) where the table lacks them (tables written before these columns).

    Rows are matched by the channel's label, as :class:`mtgc_link.sweep.config.ChannelSpec` ``display``
    forms it; fields a spec leaves unset get the :class:`channels.ChannelConfig` defaults, as the run did.
    """
    missing = [c for c in CHANNEL_DETAIL_COLUMNS if c not in df]
    if not missing or "channel" not in df:
        return df
    import yaml

    try:
        cfg = yaml.safe_load((Path(out_dir) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return df
    from channels.config import ChannelConfig, PhyConfig

    fields = ("delay_spread_ns", "speed_mps")
    defaults = {k: ChannelConfig.model_fields[k].default for k in fields}
    csi = (cfg.get("phy") or {}).get("csi") or PhyConfig.model_fields["csi"].default
    by_label: dict[str, dict] = {}
    for spec in cfg.get("channels") or []:
        if not isinstance(spec, dict) or "model" not in spec:
            continue
        model = str(spec["model"]).lower()
        label = spec.get("label")
        if not label:  # ChannelSpec.display
            profile = str(spec.get("profile") or "A").upper()
            label = f"{model.upper()}-{profile}" if model in ("tdl", "cdl") else model.upper()
            label = label if model in ("tdl", "cdl", "awgn") else model.capitalize()
        values = {k: spec.get(k) if spec.get(k) is not None else defaults[k] for k in fields}
        by_label[label] = {"channel_model": model, **values, "csi": csi}
    df = df.copy()
    for column in missing:
        df[column] = df["channel"].map(lambda ch, c=column: by_label.get(str(ch), {}).get(c))
    return df


def plot_results(out_dir: str | Path) -> list[Path]:
    """Every figure for the results in ``out_dir``; returns the files written (PNG and PDF).

    Figures go to ``out_dir/figures``; when the table varies along an axis the figures do not draw
    (:func:`split_axes`), to ``out_dir/figures/<column>=<value>[/...]/``, one folder per combination.
    """
    import matplotlib

    matplotlib.use("Agg")

    out_dir = Path(out_dir)
    df = with_channel_columns(load_results(out_dir), out_dir)
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
