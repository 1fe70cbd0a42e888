"""`mtgc-link transmit`: one image across the end-to-end link (codec -> NR PHY -> decoder -> metrics).

Exit codes: 0 an image was written (decoded, or the failure policy's image); 2 bad arguments;
3 nothing to show (decoding failed, or no codec setting fits the budget, with policy none).
"""

from __future__ import annotations

from pathlib import Path

import typer

from channels.models import CHANNEL_MODELS  # light: the registry only
from mtgc_link.cli.app import app
from mtgc_link.cli.codec import fail as _fail
from mtgc_link.cli.codec import parse_settings


@app.command()
def transmit(
    image: Path = typer.Argument(..., help="Input image (any format Pillow reads)."),
    out: Path = typer.Argument(..., help="Received image (PNG)."),
    codec: str = typer.Option(..., "--codec", "-c", help="Codec name ({codecs})."),
    snr_db: float = typer.Option(..., "--snr-db", help="SNR = Es/N0 per data resource element, in dB."),
    channel: str = typer.Option("awgn", "--channel", help=" | ".join(CHANNEL_MODELS) + "."),
    profile: str = typer.Option("A", "--profile", help="TDL/CDL profile A..E."),
    delay_spread_ns: float = typer.Option(100.0, "--delay-spread-ns", help="TDL/CDL RMS delay spread [ns]."),
    speed_mps: float = typer.Option(0.0, "--speed-mps", help="UE speed [m/s] (Doppler)."),
    mcs: int = typer.Option(14, "--mcs", help="MCS index (TS 38.214 table --mcs-table)."),
    mcs_table: int = typer.Option(1, "--mcs-table", help="1: up to 64QAM, 2: up to 256QAM."),
    cbr: float | None = typer.Option(None, "--cbr", help="Budget: channel uses / (3 H W)."),
    uses: int | None = typer.Option(None, "--uses", help="Budget: channel uses per image."),
    prbs: int | None = typer.Option(None, "--prbs", help="Budget: PRBs (with --slots)."),
    slots: int | None = typer.Option(None, "--slots", help="Budget: slots (with --prbs)."),
    num_prbs: int = typer.Option(24, "--num-prbs", help="PRBs of the allocation for --cbr / --uses budgets."),
    csi: str = typer.Option("perfect", "--csi", help="perfect | ls | lmmse channel estimation."),
    policy: str = typer.Option("gray", "--policy", help="Failure policy: mean | gray | none."),
    crc_error: str = typer.Option(
        "decode", "--crc-error", help="decode (corrupted bytes to the decoder) | drop."
    ),
    seed: int = typer.Option(0, "--seed", help="Channel and noise seed."),
    protection: str = typer.Option(
        "equal",
        "--protection",
        help="Transport of the codec's segments: equal (one stream) | separate (blocks of their own) | uep "
        "(header and semantic segments at robust MCSs). See docs/link.md.",
    ),
    uep_mcs: list[str] | None = typer.Option(
        None,
        "--uep-mcs",
        help="UEP MCSs, key=value (repeatable): header=<MCS> | semantic=<MCS> (absolute) or "
        "header_offset=<n> | semantic_offset=<n> (steps below --mcs).",
    ),
    harq_max_tx: int = typer.Option(
        1, "--harq-max-tx", help="Transmissions allowed per transport block (1 = no HARQ)."
    ),
    settings: list[str] | None = typer.Option(None, "--set", help="Codec setting key=value (repeatable)."),
) -> None:
    """Send IMAGE over the link and write what the receiver gets to OUT; print a one-line summary."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from pydantic import ValidationError

    from channels import ChannelConfig, PhyConfig
    from mtgc_link.codecs import get_codec
    from mtgc_link.link import Budget, run_link
    from mtgc_link.transport import PROTECTIONS, Protection, UepMcs

    try:
        budget = Budget(uses=uses, cbr=cbr, prbs=prbs, slots=slots)
    except ValueError as exc:
        raise _fail(2, f"{exc} (options --uses, --cbr, --prbs/--slots)") from None
    try:
        phy = PhyConfig(
            channel=ChannelConfig(
                model=channel, profile=profile, delay_spread_ns=delay_spread_ns, speed_mps=speed_mps
            ),
            num_prbs=num_prbs,
            mcs_index=mcs,
            mcs_table=mcs_table,
            csi=csi,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _fail(2, f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    if policy not in ("mean", "gray", "none"):
        raise _fail(2, f"--policy must be mean, gray or none, got {policy!r}")
    if crc_error not in ("decode", "drop"):
        raise _fail(2, f"--crc-error must be decode or drop, got {crc_error!r}")
    if protection not in PROTECTIONS:
        raise _fail(2, f"--protection must be one of {', '.join(PROTECTIONS)}, got {protection!r}")
    if harq_max_tx < 1:
        raise _fail(2, f"--harq-max-tx must be >= 1, got {harq_max_tx}")
    try:
        uep = {}
        for item in uep_mcs or []:
            key, sep, value = item.partition("=")
            if not sep or key not in ("header", "semantic", "header_offset", "semantic_offset"):
                raise ValueError(f"{item!r}: expected header|semantic|header_offset|semantic_offset=<int>")
            uep[key] = int(value)
        prot = Protection(protection, UepMcs(**uep))
        for importance in (0, 1) if protection == "uep" else ():  # an unbuildable MCS fails here
            prot.uep.mcs(importance, mcs, mcs_table)
    except ValueError as exc:
        raise _fail(2, f"--uep-mcs: {exc}") from None
    try:
        src = get_codec(codec, **parse_settings(settings, codec))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(2, f"--codec {codec!r}: {exc.args[0] if exc.args else exc}") from None
    try:
        with Image.open(image) as im:
            img = np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise _fail(2, f"IMAGE {image}: cannot read ({exc})") from None

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
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(res.received.image).save(out, format="PNG")
