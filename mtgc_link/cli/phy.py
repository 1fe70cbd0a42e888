"""`mtgc-link phy ber|bler`: BER/BLER curves of the PHY (uncoded QAM, plain 5G LDPC, or the full NR chain)."""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer

from channels.models import CHANNEL_MODELS  # light: the registry, no pydantic/numpy/torch/Sionna
from channels.sim import SIM_CHANNELS
from mtgc_link.cli.app import SEED_MAX, SEED_MIN, app, check_number, check_output_file, check_snrs, phy_error

phy_app = typer.Typer(help="PHY link-level curves (BER/BLER) on Sionna.", no_args_is_help=True)
app.add_typer(phy_app, name="phy")

_MODULATIONS = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
_NR_ONLY = [m for m in CHANNEL_MODELS if m not in SIM_CHANNELS]
_HARQ_COMBINING = ("ir", "chase")  # channels.link.HARQ_COMBINING (not imported here: it loads numpy)
_CHANNEL_HELP = " | ".join(CHANNEL_MODELS) + (f" ({'/'.join(_NR_ONLY)}: NR chain only)." if _NR_ONLY else ".")
#: PhyConfig field -> the option that sets it (error messages name the option; mtgc_link.cli.app.phy_error).
_PHY_OPTIONS = {
    "channel.model": "--channel",
    "channel.profile": "--channel-profile",
    "channel.delay_spread_ns": "--delay-spread-ns",
    "channel.speed_mps": "--speed-mps",
    "num_prbs": "--prbs",
    "mcs_index": "--mcs",
    "mcs_table": "--mcs-table",
    "modulation_order": "--modulation",
    "code_rate": "--code-rate",
    "csi": "--csi",
    "ldpc_iterations": "--iterations",
    "mode": "--phy-mode",
}


def _floats(values: list[str] | None, name: str) -> list[float]:
    """Repeated options and/or comma lists -> floats."""
    out: list[float] = []
    for v in values or []:
        for part in v.split(","):
            if part.strip():
                try:
                    out.append(float(part))
                except ValueError:
                    raise typer.BadParameter(f"{part!r} is not a number", param_hint=name) from None
    return out


def _modulation(name: str) -> int:
    key = name.lower()
    if key in _MODULATIONS:
        return _MODULATIONS[key]
    if key.isdigit() and int(key) in _MODULATIONS.values():
        return int(key)
    raise typer.BadParameter(
        f"unknown modulation {name!r}; use one of {', '.join(_MODULATIONS)}", param_hint="--modulation"
    )


def _chain(
    uncoded,
    ldpc_k,
    ldpc_n,
    modulation,
    channel,
    profile,
    delay_spread_ns,
    speed_mps,
    mcs,
    mcs_table,
    prbs,
    csi,
    iterations,
    code_rate,
    harq_max_tx=1,
    harq_combining="ir",
    phy_mode="bit_true",
):
    from pydantic import ValidationError

    from channels import ChannelConfig, PhyConfig
    from channels.sim import LDPCChain, NRChain, UncodedChain

    if harq_max_tx < 1:
        raise typer.BadParameter(f"must be >= 1, got {harq_max_tx}", param_hint="--harq-max-tx")
    if harq_combining not in _HARQ_COMBINING:
        raise typer.BadParameter(
            f"use one of {', '.join(_HARQ_COMBINING)}, got {harq_combining!r}", param_hint="--harq-combining"
        )
    if uncoded or ldpc_k is not None or ldpc_n is not None:
        if phy_mode != "bit_true":
            raise typer.BadParameter(
                "the abstraction models the NR chain's transport blocks; the uncoded and plain-LDPC "
                "modes are bit-true only",
                param_hint="--phy-mode",
            )
        if harq_max_tx > 1:
            raise typer.BadParameter(
                "HARQ runs on the NR chain only (transport blocks with a TB CRC); the uncoded and plain-LDPC "
                "modes take --harq-max-tx 1",
                param_hint="--harq-max-tx",
            )
        if channel not in SIM_CHANNELS:
            raise typer.BadParameter(
                f"uncoded and plain-LDPC modes support {' or '.join(SIM_CHANNELS)}", param_hint="--channel"
            )
        qm = _modulation(modulation or "qpsk")
        if uncoded:
            return UncodedChain(qm, channel)
        if ldpc_k is None or ldpc_n is None:
            raise typer.BadParameter("give both --ldpc-k and --ldpc-n", param_hint="--ldpc-k/--ldpc-n")
        try:
            return LDPCChain(ldpc_k, ldpc_n, qm, channel, iterations)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--ldpc-k/--ldpc-n") from None
    explicit = {}
    if modulation is not None or code_rate is not None:
        if mcs is not None:
            raise typer.BadParameter(
                "give --mcs or --modulation with --code-rate, not both", param_hint="--mcs"
            )
        explicit = dict(modulation_order=_modulation(modulation or "qpsk"), code_rate=code_rate)
    try:
        ch = ChannelConfig(
            model=channel, profile=profile, delay_spread_ns=delay_spread_ns, speed_mps=speed_mps
        )
        cfg = PhyConfig(
            channel=ch,
            num_prbs=prbs,
            mcs_index=mcs,
            mcs_table=mcs_table,
            csi=csi,
            ldpc_iterations=iterations,
            mode=phy_mode,
            **explicit,
        )
    except ValidationError as exc:
        raise phy_error(exc, _PHY_OPTIONS) from None
    return NRChain(cfg, harq_max_tx=harq_max_tx, harq_combining=harq_combining)


_CURVE_MARKERS = ("o", "s", "^", "D", "P", "X")
_QAM_NAMES = {1: "BPSK", 2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM", 10: "1024QAM"}

#: Waterfall search (``--find-waterfall``): default SNR range (dB), step of the coarse grid the bisection
#: starts on, and the width of the final bracket (the crossing is then interpolated inside it).
WATERFALL_RANGE_DB = (-10.0, 30.0)
WATERFALL_GRID_DB = 2.0
WATERFALL_TOL_DB = 0.25
#: Seeds of the search's probes: seed + WATERFALL_PROBE_SEED + k (the final samples keep seed + i, so they
#: are what ``--snr-db <those values>`` gives).
WATERFALL_PROBE_SEED = 1000


@dataclass
class Curve:
    """The points of one curve (one chain: one MCS) and what the figure and the JSON say about it."""

    label: str
    describe: dict
    points: list = field(default_factory=list)
    waterfall_snr_db: float | None = None  # where the rate crosses the target (--find-waterfall)
    waterfall_ebno_db: float | None = None
    probes: list = field(default_factory=list)  # (snr_db, rate) of the search


class WaterfallNotFound(ValueError):
    """The search range does not bracket the target rate (one line: where and which way to move)."""


def search_waterfall(rate_at, lo: float, hi: float, target: float, what: str = "BLER") -> tuple[float, list]:
    """SNR (dB) where a rate that falls with SNR crosses ``target``, searched in ``[lo, hi]``.

    rate_at(snr) -> the simulated rate there. The ends are probed first (the rate must be above the target
    at ``lo`` and at or below it at ``hi``); then a bisection on the grid ``lo, lo + WATERFALL_GRID_DB, ...,
    hi`` brackets the crossing between neighbours, and a bisection on the SNR narrows the bracket to
    ``WATERFALL_TOL_DB``. The crossing is interpolated linearly in log(rate) inside it (the midpoint where
    an end has no errors). Returns (crossing, probes: [(snr, rate)] in the order run).
    Raises :class:`WaterfallNotFound` when the range does not bracket the target.

    >>> import math
    >>> x, probes = search_waterfall(lambda s: 10 ** (-s / 4), -10, 30, 1e-2)  # 10^(-s/4) = 1e-2 at s = 8
    >>> round(x, 6), len(probes) <= 12
    (8.0, True)
    """
    import math

    probes: list = []

    def rate(s: float) -> float:
        r = float(rate_at(s))
        probes.append((float(s), r))
        return r

    n = max(2, int(math.floor((hi - lo) / WATERFALL_GRID_DB + 1e-9)) + 1)
    grid = [lo + i * WATERFALL_GRID_DB for i in range(n)]
    if grid[-1] < hi - 1e-9:
        grid.append(hi)
    r_lo = rate(grid[0])
    if r_lo <= target:
        raise WaterfallNotFound(
            f"{what} {r_lo:.3g} at {grid[0]:g} dB is already at or below the target {target:g}: "
            "start the search range lower"
        )
    r_hi = rate(grid[-1])
    if r_hi > target:
        raise WaterfallNotFound(
            f"{what} {r_hi:.3g} at {grid[-1]:g} dB is still above the target {target:g}: "
            "end the search range higher"
        )
    a, b = 0, len(grid) - 1
    known = {a: r_lo, b: r_hi}
    while b - a > 1:
        m = (a + b) // 2
        known[m] = rate(grid[m])
        a, b = (m, b) if known[m] > target else (a, m)
    (xa, ra), (xb, rb) = (grid[a], known[a]), (grid[b], known[b])
    while xb - xa > WATERFALL_TOL_DB + 1e-9:
        xm = 0.5 * (xa + xb)
        rm = rate(xm)
        if rm > target:
            xa, ra = xm, rm
        else:
            xb, rb = xm, rm
    if ra > 0 and rb > 0 and ra != rb:
        x = xa + (math.log(ra) - math.log(target)) / (math.log(ra) - math.log(rb)) * (xb - xa)
    else:
        x = 0.5 * (xa + xb)
    return float(min(max(x, xa), xb)), probes


def _describe(chain, channel, prbs, csi, harq_max_tx, harq_combining, ldpc_k, ldpc_n) -> dict:
    """The configuration of a chain as the JSON objects carry it."""
    describe = {"mode": chain.mode, "channel": channel}
    if chain.mode == "nr":
        geo = chain.link.geometry
        describe.update(
            mcs_index=chain.link.cfg.mcs_index,
            modulation_order=geo.modulation_order,
            code_rate=geo.target_rate,
            num_prbs=prbs,
            csi=csi,
            payload_bits_per_slot=geo.tb_size,
            harq_max_tx=harq_max_tx,
            phy_mode=chain.phy_mode,
        )
        if harq_max_tx > 1:
            describe.update(harq_combining=harq_combining)
    else:
        describe.update(modulation_order=chain._qam.qm)
        if chain.mode == "ldpc":
            describe.update(ldpc_k=ldpc_k, ldpc_n=ldpc_n)
    return describe


def _qam(qm) -> str:
    return _QAM_NAMES.get(int(qm), f"Qm={qm}")


def _curve_label(d: dict) -> str:
    """``MCS 9: QPSK, R = 0.663, 1064 bits/slot`` (NR), ``QPSK`` (uncoded), ``k=512, n=1024, QPSK`` (LDPC)."""
    if d["mode"] == "nr":
        head = f"MCS {d['mcs_index']}: " if d.get("mcs_index") is not None else ""
        rate, bits = d["code_rate"], d["payload_bits_per_slot"]
        return f"{head}{_qam(d['modulation_order'])}, R = {rate:.3f}, {bits} bits/slot"
    if d["mode"] == "ldpc":
        return f"k={d['ldpc_k']}, n={d['ldpc_n']}, {_qam(d['modulation_order'])}"
    return _qam(d["modulation_order"])


def _titles(count: str, curves: list[Curve], settings: dict) -> tuple[str, str]:
    """(title, subtitle): a short title (what and over which channel) and the settings as wrapped prose."""
    import textwrap

    d = curves[0].describe
    what = "BER" if count == "bit" else "BLER"
    if settings["harq_max_tx"] > 1:
        what = f"residual {what}"
    mode = {"uncoded": "uncoded QAM", "ldpc": "5G LDPC + QAM", "nr": "5G NR chain"}[d["mode"]]
    channel = settings["channel"]
    ch = channel.upper() if channel == "awgn" else channel.capitalize()
    if channel in ("tdl", "cdl"):
        ch = f"{channel.upper()}-{settings['profile'].upper()}, "
        ch += f"{settings['delay_spread_ns']:g} ns delay spread, {settings['speed_mps']:g} m/s"
    title = f"{what} vs {'Eb/N0' if settings['ebno'] else 'SNR'}: {mode}, {ch}"
    parts = []
    if len(curves) == 1:
        parts.append(_curve_label(d))
    if d["mode"] == "nr":
        parts += [f"MCS table {settings['mcs_table']}", f"{settings['prbs']} PRBs", f"CSI {settings['csi']}"]
        parts.append(f"{settings['iterations']} LDPC iterations")
        harq = settings["harq_max_tx"]
        parts.append(
            "HARQ off" if harq <= 1 else f"HARQ up to {harq} transmissions ({settings['harq_combining']})"
        )
    elif d["mode"] == "ldpc":
        parts.append(f"{settings['iterations']} LDPC iterations")
    if d["mode"] != "nr" and channel == "rayleigh":
        parts.append("i.i.d. Rayleigh per symbol, perfect CSI")
    unit = "bit" if count == "bit" else "block"
    parts.append(
        f"each point: until {settings['min_errors']} {unit} errors, {settings['max_blocks']} blocks or "
        f"{settings['max_bits']} bits"
    )
    return title, textwrap.fill("; ".join(parts), width=95)


def draw(curves: list[Curve], count: str, use_ebno: bool, title: str, subtitle: str, harq=False, target=None):
    """The figure of ``mtgc-link phy``: one curve per chain (MCS), log scale.

    A point without errors cannot sit on a log axis: it is drawn as a hollow downward triangle at ``3 / N``
    (N the blocks or bits it simulated: the 95 % upper bound of a rate with no errors in N trials, the "rule
    of three"), labelled ``0/N``, and the legend says so. With ``target`` (--find-waterfall): the target as a
    grey dashed line and each curve's crossing as a dotted vertical line in its colour. With ``harq``: the
    mean transmissions per block on a second axis (dashed, crosses).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    key = "ber" if count == "bit" else "bler"
    unit = "bits" if count == "bit" else "blocks"
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    zero_ns: set[int] = set()
    extra: list = []
    lowest = 1.0
    for i, c in enumerate(curves):
        colour = f"C{i}"
        x = [p.ebno_db if use_ebno else p.snr_db for p in c.points]
        y = [getattr(p, key) for p in c.points]
        pos = [(a, b) for a, b in zip(x, y, strict=True) if b > 0]
        label = c.label
        if c.waterfall_snr_db is not None:
            at = c.waterfall_ebno_db if use_ebno else c.waterfall_snr_db
            label += f" ({key.upper()} {target:g} at {at:.2f} dB)"
            ax.axvline(at, color=colour, ls=":", lw=0.9)
        marker = _CURVE_MARKERS[i % len(_CURVE_MARKERS)]  # overlapping points of two curves stay apart
        ax.semilogy([a for a, _ in pos], [b for _, b in pos], marker=marker, color=colour, label=label)
        lowest = min([lowest, *(b for _, b in pos)])
        zeros = [(a, p) for a, p, b in zip(x, c.points, y, strict=True) if b == 0]
        if zeros:
            trials = [p.bits if count == "bit" else p.blocks for _, p in zeros]
            zx, zy = [a for a, _ in zeros], [3.0 / n for n in trials]
            ax.semilogy(
                zx, zy, ls="none", marker="v", color=colour, markerfacecolor="white", label=f"_zero:{c.label}"
            )
            for a, b, n in zip(zx, zy, trials, strict=True):
                ax.annotate(
                    f"0/{n}",
                    (a, b),
                    textcoords="offset points",
                    xytext=(0, -10 - 8 * i),  # one row of labels per curve
                    ha="center",
                    fontsize=6.5,
                    color=colour,
                )
            zero_ns.update(trials)
            lowest = min([lowest, *zy])
    if (
        curves
        and curves[0].describe["mode"] == "uncoded"
        and curves[0].describe["channel"] == "awgn"
        and key == "ber"
    ):
        import numpy as np

        from channels.sim import qam_ber_awgn

        qm = int(curves[0].describe["modulation_order"])
        snrs = [p.snr_db for c in curves for p in c.points]
        grid = np.linspace(min(snrs), max(snrs), 100)
        xs = grid - (10 * np.log10(qm) if use_ebno else 0)
        ax.semilogy(xs, qam_ber_awgn(qm, grid), "--", color="0.3", lw=0.9, label="closed form (Gray QAM)")
    if target is not None:
        ax.axhline(target, color="0.5", ls="--", lw=0.8, label=f"target {key.upper()} {target:g}")
    if zero_ns:
        n_text = f"{min(zero_ns)}" if len(zero_ns) == 1 else "N"
        extra.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="v",
                color="0.3",
                markerfacecolor="white",
                label=f"0 errors in {n_text} {unit}: drawn at 3/{n_text} (95% upper bound)",
            )
        )
    ax.set_ylim(bottom=lowest / (2.5 + len(curves)) if zero_ns else None)  # room for the 0/N labels
    ax.set_xlabel("Eb/N0 [dB] (energy per payload bit)" if use_ebno else "SNR = Es/N0 per data RE [dB]")
    rate = "bit error rate (BER)" if count == "bit" else "block error rate (BLER)"
    ax.set_ylabel(("residual " if harq else "") + rate)
    fig.suptitle(title, fontsize=10)
    ax.set_title(subtitle, fontsize=7, loc="left")
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles += extra
    labels += [h.get_label() for h in extra]
    if harq:  # mean transmissions per transport block on a second axis
        ax2 = ax.twinx()
        for i, c in enumerate(curves):
            x = [p.ebno_db if use_ebno else p.snr_db for p in c.points]
            ax2.plot(x, [p.mean_tx for p in c.points], "x--", color=f"C{i}", ms=4, lw=0.9)
        ax2.set_ylabel("mean transmissions per block (dashed)")
        ax2.set_ylim(bottom=0.9)
        handles.append(Line2D([], [], ls="--", marker="x", color="0.3", ms=4, lw=0.9))
        labels.append("mean transmissions (right axis)")
    fig.legend(handles, labels, loc="outside lower center", fontsize=7)
    return fig


def _plot(curves: list[Curve], path: Path, count: str, use_ebno: bool, settings: dict, target=None) -> None:
    import matplotlib.pyplot as plt

    title, subtitle = _titles(count, curves, settings)
    fig = draw(curves, count, use_ebno, title, subtitle, harq=settings["harq_max_tx"] > 1, target=target)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def _run(
    count: str,
    snr_db,
    ebno_db,
    channel,
    profile,
    delay_spread_ns,
    speed_mps,
    modulation,
    code_rate,
    mcs,
    mcs_table,
    prbs,
    csi,
    iterations,
    ldpc_k,
    ldpc_n,
    uncoded,
    min_errors,
    max_bits,
    max_blocks,
    seed,
    as_json,
    plot,
    harq_max_tx=1,
    harq_combining="ir",
    phy_mode="bit_true",
    find_waterfall=False,
    target=None,
    waterfall_points=None,
    waterfall_span_db=None,
    progress=None,
):
    snrs, ebnos = _floats(snr_db, "--snr-db"), _floats(ebno_db, "--ebno-db")
    check_snrs(snrs, "--snr-db")
    ebnos = [check_number(e, "--ebno-db", unit="dB") for e in ebnos]
    if (snrs and ebnos) or not (snrs or ebnos or find_waterfall):
        raise typer.BadParameter("give SNRs with --snr-db or Eb/N0 values with --ebno-db (one of them)")
    if min_errors < 1 or max_bits < 1 or max_blocks < 1:
        raise typer.BadParameter("--min-errors, --max-bits and --max-blocks must be >= 1")
    if plot is not None and plot.suffix.lower() not in (".png", ".pdf"):
        raise typer.BadParameter("plot file must end in .png or .pdf", param_hint="--plot")
    if plot is not None:
        check_output_file(plot, "--plot")
    mcs_list = _ints(mcs, "--mcs")
    if len(mcs_list) > 1 and (uncoded or ldpc_k is not None or ldpc_n is not None):
        raise typer.BadParameter(
            "several MCS run the NR chain only; the uncoded and plain-LDPC modes take --modulation",
            param_hint="--mcs",
        )
    wf = _waterfall_options(count, find_waterfall, target, waterfall_points, waterfall_span_db, snrs, ebnos)
    chains = [
        _chain(
            uncoded,
            ldpc_k,
            ldpc_n,
            modulation,
            channel,
            profile,
            delay_spread_ns,
            speed_mps,
            m,
            mcs_table,
            prbs,
            csi,
            iterations,
            code_rate,
            harq_max_tx,
            harq_combining,
            phy_mode,
        )
        for m in (mcs_list or [None])
    ]
    from channels.sim import monte_carlo

    # every chain's SNRs (or search range) are checked before the first point runs
    plans = []
    for chain in chains:
        points_snr = snrs or [chain.snr_db_from_ebno(e) for e in ebnos]
        check_snrs(points_snr, "--ebno-db", ebno_db=ebnos or None)
        plans.append(points_snr)
    several = len(chains) > 1
    curves = []
    for chain in chains:
        d = _describe(chain, channel, prbs, csi, harq_max_tx, harq_combining, ldpc_k, ldpc_n)
        curves.append(Curve(_curve_label(d), d))
    if progress is None:
        progress = sys.stderr.isatty()
    key = "ber" if count == "bit" else "bler"
    per_chain = wf["estimate"] if wf else None
    total = len(chains) * per_chain if wf else sum(len(p) for p in plans)

    from tqdm import tqdm

    bar = tqdm(
        total=total, desc="phy " + key, unit="point", file=sys.stderr, disable=not progress, leave=True
    )
    say = tqdm.write if progress else typer.echo

    def simulate(chain, curve, s: float, point_seed: int):
        bar.set_postfix_str(("" if not several else f"{curve.label.split(':')[0]}, ") + f"SNR {s:.2f} dB")
        p = monte_carlo(
            chain,
            s,
            seed=point_seed,
            min_errors=min_errors,
            max_bits=max_bits,
            max_blocks=max_blocks,
            count=count,
        )
        bar.update(1)
        return p

    def line(p) -> str:
        rates = f"BER {p.ber:.3e}  BLER {p.bler:.3e}"
        if harq_max_tx > 1:
            rates = f"residual {rates}  mean_tx {p.mean_tx:.3f}"
        return (
            f"SNR {p.snr_db:6.2f} dB  Eb/N0 {p.ebno_db:6.2f} dB  {rates}  "
            f"({p.bit_errors}/{p.bits} bits, {p.block_errors}/{p.blocks} blocks)"
        )

    try:
        for chain, curve, points_snr in zip(chains, curves, plans, strict=True):
            if several and not as_json:
                say(curve.label)
            if wf:
                lo, hi = (min(points_snr), max(points_snr)) if points_snr else WATERFALL_RANGE_DB
                k = itertools.count()

                def rate_at(s, chain=chain, curve=curve, k=k):
                    p = simulate(chain, curve, s, seed + WATERFALL_PROBE_SEED + next(k))
                    if not as_json:
                        say(f"  search: {line(p)}")
                    return getattr(p, key)

                try:
                    x, curve.probes = search_waterfall(rate_at, lo, hi, wf["target"], key.upper())
                except WaterfallNotFound as exc:
                    raise typer.BadParameter(
                        f"{curve.label}: {exc}", param_hint="--ebno-db" if ebnos else "--snr-db"
                    ) from None
                curve.waterfall_snr_db, curve.waterfall_ebno_db = x, float(chain.ebno_db(x))
                half = wf["span"] / 2
                points_snr = [
                    round(x - half + i * wf["span"] / (wf["points"] - 1), 2) for i in range(wf["points"])
                ]
                left = len(chains) - 1 - chains.index(chain)  # chains still to search after this one
                bar.total = bar.n + wf["points"] + left * per_chain
                bar.refresh()
                if not as_json:
                    say(
                        f"{key.upper()} {wf['target']:g} at SNR {x:.2f} dB "
                        f"(Eb/N0 {curve.waterfall_ebno_db:.2f} dB); "
                        f"{wf['points']} points over {points_snr[0]:g}..{points_snr[-1]:g} dB"
                    )
            for i, s in enumerate(points_snr):
                p = simulate(chain, curve, s, seed + i)
                curve.points.append(p)
                if not as_json:
                    say(line(p))
    finally:
        bar.close()
    if as_json:
        out = []
        for curve in curves:
            extra = {}
            if wf:
                extra = dict(
                    waterfall_target=wf["target"],
                    waterfall_snr_db=curve.waterfall_snr_db,
                    waterfall_ebno_db=curve.waterfall_ebno_db,
                )
            out += [{**p.to_dict(), **curve.describe, **extra} for p in curve.points]
        typer.echo(json.dumps(out, indent=1))
    if plot is not None:
        settings = dict(
            channel=channel,
            profile=profile,
            delay_spread_ns=delay_spread_ns,
            speed_mps=speed_mps,
            mcs_table=mcs_table,
            prbs=prbs,
            csi=csi,
            iterations=iterations,
            harq_max_tx=harq_max_tx,
            harq_combining=harq_combining,
            min_errors=min_errors,
            max_blocks=max_blocks,
            max_bits=max_bits,
            ebno=bool(ebnos),
        )
        _plot(curves, plot, count, bool(ebnos), settings, target=wf["target"] if wf else None)
        if not as_json:
            typer.echo(f"plot written to {plot}")


def _ints(values: list[str] | None, name: str) -> list[int]:
    """Repeated options and/or comma lists -> distinct integers, in the order given."""
    out: list[int] = []
    for v in values or []:
        for part in str(v).split(","):
            if part.strip():
                try:
                    n = int(part)
                except ValueError:
                    raise typer.BadParameter(f"{part.strip()!r} is not an integer", param_hint=name) from None
                if n in out:
                    raise typer.BadParameter(f"{n} is given twice", param_hint=name)
                out.append(n)
    return out


def _waterfall_options(count, find, target, points, span, snrs, ebnos) -> dict | None:
    """The --find-waterfall settings, checked before any work: {target, points, span, estimate} or None."""
    import math

    given = [
        n
        for n, v in (("--target", target), ("--waterfall-points", points), ("--waterfall-span-db", span))
        if v is not None
    ]
    if not find:
        if given:
            raise typer.BadParameter("is used with --find-waterfall only", param_hint=given[0])
        return None
    target = (1e-3 if count == "bit" else 0.1) if target is None else target
    if not (isinstance(target, float | int) and math.isfinite(target) and 0 < target < 1):
        raise typer.BadParameter(f"must be a rate in (0, 1), got {target!r}", param_hint="--target")
    points = 7 if points is None else points
    if points < 2:
        raise typer.BadParameter(f"must be >= 2, got {points}", param_hint="--waterfall-points")
    span = 4.0 if span is None else span
    if not (math.isfinite(span) and span > 0):
        raise typer.BadParameter(
            f"must be a finite number > 0 dB, got {span!r}", param_hint="--waterfall-span-db"
        )
    given_range = snrs or ebnos
    option = "--snr-db" if snrs else "--ebno-db"
    if given_range and (len(given_range) < 2 or min(given_range) >= max(given_range)):
        raise typer.BadParameter(
            "with --find-waterfall: the search range, two values LO,HI with LO < HI (or none: "
            f"{WATERFALL_RANGE_DB[0]:g},{WATERFALL_RANGE_DB[1]:g} dB SNR)",
            param_hint=option,
        )
    lo, hi = (min(given_range), max(given_range)) if given_range else WATERFALL_RANGE_DB
    grid = max(2, int((hi - lo) / WATERFALL_GRID_DB) + 2)
    estimate = (
        2 + math.ceil(math.log2(grid)) + math.ceil(math.log2(WATERFALL_GRID_DB / WATERFALL_TOL_DB)) + points
    )
    return dict(target=float(target), points=int(points), span=float(span), estimate=estimate)


def _command(count: str):
    def command(
        snr_db: list[str] = typer.Option(
            None, "--snr-db", help="SNR = Es/N0 per data RE (dB), in -50..80: 0 2 4, 0,2,4 or repeated."
        ),
        ebno_db: list[str] = typer.Option(
            None, "--ebno-db", help="Eb/N0 (dB) instead of SNR: 0 2 4, 0,2,4 or repeated."
        ),
        channel: str = typer.Option("awgn", help=_CHANNEL_HELP),
        profile: str = typer.Option("A", "--channel-profile", help="TDL/CDL profile A..E."),
        delay_spread_ns: float = typer.Option(100.0, help="TDL/CDL RMS delay spread (ns), > 0."),
        speed_mps: float = typer.Option(0.0, "--speed-mps", help="UE speed (m/s, Doppler), >= 0."),
        modulation: str = typer.Option(
            None, help="qpsk | 16qam | 64qam | 256qam (uncoded, LDPC, or NR with --code-rate)."
        ),
        code_rate: float = typer.Option(None, help="NR chain: explicit code rate with --modulation."),
        mcs: list[str] = typer.Option(
            None,
            "--mcs",
            help="NR chain: TS 38.214 MCS index (default 14); several (5,9,14) draw one curve each.",
        ),
        mcs_table: int = typer.Option(1, help="MCS table: 1 (64QAM) or 2 (256QAM)."),
        prbs: int = typer.Option(24, help="NR chain: number of PRBs."),
        csi: str = typer.Option("ls", help="NR chain: perfect | ls | lmmse."),
        iterations: int = typer.Option(20, help="LDPC BP iterations."),
        ldpc_k: int = typer.Option(
            None, "--ldpc-k", help="Plain 5G LDPC mode: information bits per codeword."
        ),
        ldpc_n: int = typer.Option(None, "--ldpc-n", help="Plain 5G LDPC mode: coded bits per codeword."),
        uncoded: bool = typer.Option(False, "--uncoded", help="Uncoded QAM (mapper/demapper only)."),
        min_errors: int = typer.Option(
            100, help="Stop a point after this many errors (bits for ber, blocks for bler)."
        ),
        max_bits: int = typer.Option(10_000_000, help="...or after this many payload bits."),
        max_blocks: int = typer.Option(
            10_000, help="...or after this many blocks (codewords / transport blocks)."
        ),
        seed: int = typer.Option(0, min=SEED_MIN, max=SEED_MAX, help="Seed of point i is seed + i, >= 0."),
        harq_max_tx: int = typer.Option(
            1,
            "--harq-max-tx",
            help="NR chain: HARQ, up to N transmissions per transport block (1 = off); BER/BLER are then "
            "residual and mean_tx is reported.",
        ),
        harq_combining: str = typer.Option(
            "ir", "--harq-combining", help="NR chain HARQ: ir (RV 0,2,3,1) | chase (RV 0, LLRs summed)."
        ),
        phy_mode: str = typer.Option(
            "bit_true",
            "--phy-mode",
            help="NR chain: bit_true (LDPC decoding) | abstraction (Sionna SYS: EESM + BLER tables, block "
            "outcomes only, so bler only; docs/performance.md).",
        ),
        find_waterfall: bool = typer.Option(
            False,
            "--find-waterfall",
            help="Search the SNR range (--snr-db LO,HI or --ebno-db LO,HI; default -10,30 dB SNR) for where "
            "the rate crosses --target (bisection on a 2 dB grid, then to 0.25 dB), then simulate "
            "--waterfall-points points around that SNR.",
        ),
        target: float = typer.Option(
            None,
            "--target",
            help="With --find-waterfall: the BLER (bler) or BER (ber) to find, in (0, 1); default 0.1 "
            "(bler) / 1e-3 (ber).",
        ),
        waterfall_points: int = typer.Option(
            None, "--waterfall-points", help="With --find-waterfall: points around the crossing (default 7)."
        ),
        waterfall_span_db: float = typer.Option(
            None,
            "--waterfall-span-db",
            help="With --find-waterfall: the span of those points (dB), centred on the crossing (default 4).",
        ),
        progress: bool = typer.Option(
            None,
            "--progress/--no-progress",
            help="Progress bar on stderr, one step per simulated SNR point (default: when stderr is a "
            "terminal).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per point."),
        plot: Path = typer.Option(None, help="Write a plot (.png or .pdf)."),
    ) -> None:
        options = {name: value for name, value in locals().items() if name != "count"}  # the CLI options
        options["channel"] = channel.lower()
        _run(count, **options)

    return command


phy_app.command("ber", help="Bit error rate vs SNR; a point stops at --min-errors bit errors.")(
    _command("bit")
)
phy_app.command("bler", help="Block error rate vs SNR; a point stops at --min-errors block errors.")(
    _command("block")
)
