"""`mtgc-link transmit`: one image across the end-to-end link (codec -> NR PHY -> decoder -> metrics).

Exit codes: 0 an image was written (decoded, or the failure policy's image); 2 bad arguments (one line
naming the option, before anything is encoded); 3 nothing to show (decoding failed, or no codec setting fits
the budget, with policy none).

Options mean what they mean in the other commands: ``--profile`` is the MTGC profile (as in encode/decode/rd),
the TDL/CDL profile is ``--channel-profile`` (as in ``phy``), and ``--csi`` defaults to ``ls`` (as in ``phy``
and sweeps).
"""

from __future__ import annotations

from pathlib import Path

import typer

from channels.models import CHANNEL_MODELS  # light: the registry only
from mtgc_link.cli.app import SEED_MAX, SEED_MIN, app, check_output_file, number, phy_error
from mtgc_link.cli.app import fail as _fail
from mtgc_link.cli.app import snr_db as _snr_db
from mtgc_link.cli.codec import ProfileOpt, make_codec

#: PhyConfig field -> the option that sets it (error messages name the option).
PHY_OPTIONS = {
    "channel.model": "--channel",
    "channel.profile": "--channel-profile",
    "channel.delay_spread_ns": "--delay-spread-ns",
    "channel.speed_mps": "--speed-mps",
    "num_prbs": "--num-prbs",
    "mcs_index": "--mcs",
    "mcs_table": "--mcs-table",
    "csi": "--csi",
    "mode": "--phy-mode",
}


@app.command()
def transmit(
    image: Path = typer.Argument(..., help="Input image (any format Pillow reads)."),
    out: Path = typer.Argument(..., help="Received image (PNG)."),
    codec: str = typer.Option(..., "--codec", "-c", help="Codec name ({codecs})."),
    snr_db: float = typer.Option(
        ...,
        "--snr-db",
        callback=_snr_db,
        help="SNR = Es/N0 per data resource element (dB), in -50..80.",
    ),
    channel: str = typer.Option("awgn", "--channel", help=" | ".join(CHANNEL_MODELS) + "."),
    channel_profile: str = typer.Option("A", "--channel-profile", help="TDL/CDL profile A..E."),
    delay_spread_ns: float = typer.Option(
        100.0, "--delay-spread-ns", help="TDL/CDL RMS delay spread (ns), > 0."
    ),
    speed_mps: float = typer.Option(0.0, "--speed-mps", help="UE speed (m/s, Doppler), >= 0."),
    mcs: int = typer.Option(14, "--mcs", help="MCS index (TS 38.214 table --mcs-table)."),
    mcs_table: int = typer.Option(1, "--mcs-table", help="1: up to 64QAM, 2: up to 256QAM."),
    cbr: float | None = typer.Option(
        None, "--cbr", callback=number(0, lo_open=True), help="Budget: channel uses / (3 H W), > 0."
    ),
    uses: int | None = typer.Option(None, "--uses", min=1, help="Budget: channel uses per image, >= 1."),
    prbs: int | None = typer.Option(None, "--prbs", min=1, max=275, help="Budget: PRBs (with --slots)."),
    slots: int | None = typer.Option(None, "--slots", min=1, help="Budget: slots (with --prbs), >= 1."),
    num_prbs: int = typer.Option(24, "--num-prbs", help="PRBs of the allocation for --cbr / --uses budgets."),
    csi: str = typer.Option(
        "ls", "--csi", help="perfect | ls | lmmse channel estimation (default ls, as in `phy` and sweeps)."
    ),
    policy: str = typer.Option("gray", "--policy", help="Failure policy: mean | gray | none."),
    crc_error: str = typer.Option(
        "decode", "--crc-error", help="decode (corrupted bytes to the decoder) | drop."
    ),
    seed: int = typer.Option(0, "--seed", min=SEED_MIN, max=SEED_MAX, help="Channel and noise seed, >= 0."),
    protection: str = typer.Option(
        "equal",
        "--protection",
        help="Transport of the codec's segments: equal (one stream) | separate (blocks of their own) | uep "
        "(header and semantic segments at robust MCSs). See docs/link.md.",
    ),
    uep_mcs: list[str] | None = typer.Option(
        None,
        "--uep-mcs",
        help="UEP MCSs, key=value (repeatable or comma separated): header=<MCS> | semantic=<MCS> (absolute) "
        "or header_offset=<n> | semantic_offset=<n> (steps below --mcs).",
    ),
    harq_max_tx: int = typer.Option(
        1,
        "--harq-max-tx",
        min=1,
        max=16,  # sweep.config.HARQ_MAX_TX_RANGE
        help="Transmissions allowed per transport block, 1..16 (1 = no HARQ).",
    ),
    phy_mode: str = typer.Option(
        "bit_true",
        "--phy-mode",
        help="bit_true (the NR chain) | abstraction (Sionna SYS link abstraction: which blocks arrive; "
        "needs --crc-error drop).",
    ),
    settings: list[str] | None = typer.Option(None, "--set", help="Codec setting key=value (repeatable)."),
    profile: str | None = ProfileOpt,
) -> None:
    """Send IMAGE over the link and write what the receiver gets to OUT; print a one-line summary."""
    from PIL import Image
    from pydantic import ValidationError

    from channels import ChannelConfig, PhyConfig
    from mtgc_link.images import ImageError, load_image
    from mtgc_link.link import Budget, run_link
    from mtgc_link.transport import PROTECTIONS, Protection, UepMcs

    try:
        budget = Budget(uses=uses, cbr=cbr, prbs=prbs, slots=slots)
    except ValueError as exc:
        raise _fail(2, f"{exc} (options --uses, --cbr, --prbs/--slots)") from None
    try:
        phy = PhyConfig(
            channel=ChannelConfig(
                model=channel, profile=channel_profile, delay_spread_ns=delay_spread_ns, speed_mps=speed_mps
            ),
            num_prbs=num_prbs,
            mcs_index=mcs,
            mcs_table=mcs_table,
            csi=csi,
            mode=phy_mode,
        )
    except ValidationError as exc:
        raise phy_error(exc, PHY_OPTIONS) from None
    if policy not in ("mean", "gray", "none"):
        raise _fail(2, f"--policy must be mean, gray or none, got {policy!r}")
    if crc_error not in ("decode", "drop"):
        raise _fail(2, f"--crc-error must be decode or drop, got {crc_error!r}")
    if phy_mode == "abstraction" and crc_error == "decode":
        raise _fail(
            2, "--crc-error decode needs --phy-mode bit_true (the abstraction gives erasures): use drop"
        )
    if protection not in PROTECTIONS:
        raise _fail(2, f"--protection must be one of {', '.join(PROTECTIONS)}, got {protection!r}")
    try:
        uep = {}
        for item in (part.strip() for v in uep_mcs or [] for part in v.split(",") if part.strip()):
            key, sep, value = item.partition("=")
            if not sep or key not in ("header", "semantic", "header_offset", "semantic_offset"):
                raise ValueError(f"{item!r}: expected header|semantic|header_offset|semantic_offset=<int>")
            uep[key] = int(value)
        prot = Protection(protection, UepMcs(**uep))
        for importance in (0, 1) if protection == "uep" else ():  # an unbuildable MCS fails here
            prot.uep.mcs(importance, mcs, mcs_table)
    except ValueError as exc:
        raise _fail(2, f"--uep-mcs: {exc}") from None
    src = make_codec(codec, settings, profile)  # settings checked first; no models loaded for that
    check_output_file(out, "OUT")
    try:
        img = load_image(image)
    except ImageError as exc:
        raise _fail(2, f"IMAGE {exc.path}: {exc.reason}") from None

    import torch

    torch.set_num_threads(1)  # the PHY's tensors are small; extra intra-op threads only cost (docs/link.md)
    try:
        res = run_link(
            img,
            src,
            phy,
            budget,
            snr_db,
            seed=seed,
            policy=policy,
            metrics=("psnr",),
            crc_error=crc_error,
            protection=prot,
            harq_max_tx=harq_max_tx,
        )
    except ValueError as exc:  # e.g. a HARQ limit the PHY refuses
        raise _fail(2, str(exc)) from None
    ch = phy.channel.model.upper() + (
        f"-{phy.channel.profile}" if phy.channel.model in ("tdl", "cdl") else ""
    )
    typer.echo(f"{codec} [{src.backend}] {ch} SNR {snr_db:g} dB MCS {mcs}: " + res.summary())
    if protection != "equal":
        typer.echo(res.segments_summary())
    decoded = res.received.decoded
    if decoded is not None and decoded.info.get("used") is not None:
        from mtgc_link.cli.codec import guidance_summary

        typer.echo(guidance_summary(decoded.info))
    if res.received.image is None:
        raise _fail(3, f"no image: {res.received.status}: {res.received.reason}")
    Image.fromarray(res.received.image).save(out, format="PNG")
