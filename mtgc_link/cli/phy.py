"""`mtgc-link phy ber|bler`: BER/BLER curves of the PHY (uncoded QAM, plain 5G LDPC, or the full NR chain)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from channels.models import CHANNEL_MODELS  # light: the registry, no pydantic/numpy/torch/Sionna
from channels.sim import SIM_CHANNELS
from mtgc_link.cli.app import app

phy_app = typer.Typer(help="PHY link-level curves (BER/BLER) on Sionna.", no_args_is_help=True)
app.add_typer(phy_app, name="phy")

_MODULATIONS = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}
_NR_ONLY = [m for m in CHANNEL_MODELS if m not in SIM_CHANNELS]
_HARQ_COMBINING = ("ir", "chase")  # channels.link.HARQ_COMBINING (not imported here: it loads numpy)
_CHANNEL_HELP = " | ".join(CHANNEL_MODELS) + (f" ({'/'.join(_NR_ONLY)}: NR chain only)." if _NR_ONLY else ".")


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
            **explicit,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None
    return NRChain(cfg, harq_max_tx=harq_max_tx, harq_combining=harq_combining)


def _plot(points, path: Path, count: str, use_ebno: bool, title: str, harq: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "ber" if count == "bit" else "bler"
    x = [p.ebno_db if use_ebno else p.snr_db for p in points]
    y = [getattr(p, key) for p in points]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.semilogy(
        [a for a, b in zip(x, y, strict=True) if b > 0], [b for b in y if b > 0], "o-", label="simulated"
    )
    if points and points[0].mode == "uncoded" and "awgn" in title and count == "bit":
        import numpy as np

        from channels.sim import qam_ber_awgn

        qm = int(title.split("Qm=")[1].split()[0])
        grid = np.linspace(min(p.snr_db for p in points), max(p.snr_db for p in points), 100)
        xs = grid - (10 * np.log10(qm) if use_ebno else 0)
        ax.semilogy(xs, qam_ber_awgn(qm, grid), "--", label="closed form (Gray QAM)")
    ax.set_xlabel("Eb/N0 [dB] (energy per payload bit)" if use_ebno else "SNR = Es/N0 per data RE [dB]")
    rate = "bit error rate (BER)" if count == "bit" else "block error rate (BLER)"
    ax.set_ylabel(("residual " if harq else "") + rate)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if harq:  # mean transmissions per transport block on a second axis
        ax2 = ax.twinx()
        mean_tx = [p.mean_tx for p in points]
        (line,) = ax2.plot(x, mean_tx, "s--", color="tab:orange", label="mean transmissions")
        ax2.set_ylabel("mean transmissions per block")
        ax2.set_ylim(bottom=0.9)
        handles, labels = handles + [line], labels + [line.get_label()]
    ax.legend(handles, labels)
    fig.tight_layout()
    fig.savefig(path)
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
):
    snrs, ebnos = _floats(snr_db, "--snr-db"), _floats(ebno_db, "--ebno-db")
    if bool(snrs) == bool(ebnos):
        raise typer.BadParameter("give SNRs with --snr-db or Eb/N0 values with --ebno-db (one of them)")
    if min_errors < 1 or max_bits < 1 or max_blocks < 1:
        raise typer.BadParameter("--min-errors, --max-bits and --max-blocks must be >= 1")
    if plot is not None and plot.suffix.lower() not in (".png", ".pdf"):
        raise typer.BadParameter("plot file must end in .png or .pdf", param_hint="--plot")
    chain = _chain(
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
        harq_max_tx,
        harq_combining,
    )
    from channels.sim import monte_carlo

    points_snr = snrs or [chain.snr_db_from_ebno(e) for e in ebnos]
    points = []
    for i, s in enumerate(points_snr):
        p = monte_carlo(
            chain,
            s,
            seed=seed + i,
            min_errors=min_errors,
            max_bits=max_bits,
            max_blocks=max_blocks,
            count=count,
        )
        points.append(p)
        if not as_json:
            harq = harq_max_tx > 1
            rates = f"BER {p.ber:.3e}  BLER {p.bler:.3e}"
            if harq:
                rates = f"residual {rates}  mean_tx {p.mean_tx:.3f}"
            typer.echo(
                f"SNR {p.snr_db:6.2f} dB  Eb/N0 {p.ebno_db:6.2f} dB  {rates}  "
                f"({p.bit_errors}/{p.bits} bits, {p.block_errors}/{p.blocks} blocks)"
            )
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
        )
        if harq_max_tx > 1:
            describe.update(harq_combining=harq_combining)
    else:
        describe.update(modulation_order=chain._qam.qm)
        if chain.mode == "ldpc":
            describe.update(ldpc_k=ldpc_k, ldpc_n=ldpc_n)
    if as_json:
        typer.echo(json.dumps([{**p.to_dict(), **describe} for p in points], indent=1))
    if plot is not None:
        title = " ".join(f"{k}={v}" for k, v in describe.items()).replace("modulation_order", "Qm")
        _plot(points, plot, count, bool(ebnos), title, harq=harq_max_tx > 1)
        if not as_json:
            typer.echo(f"plot written to {plot}")


def _command(count: str):
    def command(
        snr_db: list[str] = typer.Option(
            None, "--snr-db", help="SNR = Es/N0 per data RE in dB; repeat or 1,2,3."
        ),
        ebno_db: list[str] = typer.Option(
            None, "--ebno-db", help="Eb/N0 in dB instead of SNR; repeat or list."
        ),
        channel: str = typer.Option("awgn", help=_CHANNEL_HELP),
        profile: str = typer.Option("A", help="TDL/CDL profile A..E."),
        delay_spread_ns: float = typer.Option(100.0, help="TDL/CDL RMS delay spread [ns]."),
        speed_mps: float = typer.Option(0.0, "--speed-mps", help="UE speed [m/s] (Doppler)."),
        modulation: str = typer.Option(
            None, help="qpsk | 16qam | 64qam | 256qam (uncoded, LDPC, or NR with --code-rate)."
        ),
        code_rate: float = typer.Option(None, help="NR chain: explicit code rate with --modulation."),
        mcs: int = typer.Option(None, help="NR chain: TS 38.214 MCS index (default 14)."),
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
        seed: int = typer.Option(0, help="Seed of point i is seed + i."),
        harq_max_tx: int = typer.Option(
            1,
            "--harq-max-tx",
            help="NR chain: HARQ, up to N transmissions per transport block (1 = off); BER/BLER are then "
            "residual and mean_tx is reported.",
        ),
        harq_combining: str = typer.Option(
            "ir", "--harq-combining", help="NR chain HARQ: ir (RV 0,2,3,1) | chase (RV 0, LLRs summed)."
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
