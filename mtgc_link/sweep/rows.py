"""The results table's columns, named once: :class:`Row` is the data dictionary.

One row per (point, image, trial). Each field carries its unit and meaning; the columns that vary by sweep
follow the fields, in this order: every metric as ``<metric>`` and ``<metric>_reason`` (:func:`metric_column`
names them), the times, the provenance, ``image_file``, the value column of any sweep axis that is not a
field (see :mod:`mtgc_link.sweep.axes`), and the reference columns (:mod:`mtgc_link.sweep.reference`).
``docs/experiments.md`` holds :func:`data_dictionary_markdown` verbatim (a test checks it; print it with
``python -m mtgc_link.sweep.rows``).

One naming scheme: snake_case throughout (a metric registered as ``ms-ssim`` is the column ``ms_ssim``);
``budget_*`` is what the budget grants, the plain names what was spent; ``*_bits`` says whose bits
(``budget_bits``, ``stream_bits``, ``transmitted_bits``). Empty means null: a text column with nothing to say
holds None (null in Parquet, an empty cell in CSV), never "". Rows written under the old names are read under
the new ones (:func:`upgrade_row`, :data:`RENAMED_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def col(doc: str, unit: str = "") -> dict:
    return field(metadata={"doc": doc, "unit": unit})


@dataclass
class Row:
    # --- the point
    point: int = col("grid position; the table is sorted by it")
    key: str = col("the row's identity (resume): the axes' key parts joined by '|'")
    codec: str = col("codec label (its `label`, else name(settings))")
    codec_name: str = col("registered codec name")
    codec_settings: str = col("JSON of the codec's resolved settings")
    codec_backend: str | None = col(
        "which implementation ran, e.g. `libx265-pyav`; null where no codec was built"
    )
    channel: str = col("channel label")
    channel_model: str = col("awgn, rayleigh, tdl or cdl")
    channel_profile: str | None = col("TDL/CDL profile letter")
    delay_spread_ns: float | None = col("TDL/CDL delay spread", "ns")
    speed_mps: float | None = col("UE speed", "m/s")
    carrier_hz: float | None = col("carrier frequency", "Hz")
    snr_db: float = col("Es/N0 per data resource element", "dB")
    ebno_db: float | None = col(
        "Eb/N0 at `snr_db` on the row's PHY: energy per payload bit of one transmission, DMRS included "
        "(`channels.mcs.link_ebno_from_snr`: SNR - 10 log10(Qm R_eff) + 10 log10(rho)), at the row's MCS "
        "(under `uep` the protected segments' MCSs differ); null where the PHY could not be built",
        "dB",
    )
    budget: str = col("budget label, e.g. `cbr=0.09`")
    budget_kind: str = col("uses, cbr or prbs_slots")
    budget_uses: int = col("channel uses the budget grants", "channel uses")
    budget_cbr: float = col("budget_uses / (3 H W): the budget as a channel bandwidth ratio")
    mcs_policy: str = col("fixed<index> or adaptive(bler<=target)")
    mcs_index: int = col("MCS index of this row (TS 38.214 table `mcs_table`)")
    mcs_table: int = col("TS 38.214 MCS table")
    modulation_order: int = col("Qm", "bits/symbol")
    code_rate: float = col("target code rate R")
    num_prbs: int = col("PRBs per slot")
    subcarrier_spacing_khz: int = col("subcarrier spacing", "kHz")
    csi: str = col("perfect, ls or lmmse")
    ldpc_iterations: int = col("LDPC decoder iterations")
    image: str = col("image name")
    height: int = col("image height", "px")
    width: int = col("image width", "px")
    trial: int = col("trial number (channel realisation)")
    seed: int = col("channel seed (config seed + channel-side coordinates)")
    protection: str = col("transport protection: equal, separate or uep (docs/link.md)")
    harq_max_tx: int = col("transmissions allowed per transport block (1 = no HARQ)")
    phy_mode: str = col("PHY mode: bit_true (the NR chain) or abstraction (Sionna SYS link abstraction)")
    # --- source
    budget_bits: int = col(
        "payload bits the budget carries as one stream at the row's MCS (whole slots): the rate control's "
        "ceiling",
        "bits",
    )
    stream_bits: int = col(
        "8 x the bytes of the codec's stream, headers included (0: nothing encoded)", "bits"
    )
    bpp: float = col("stream_bits / (H W)", "bits/px")
    segment_bits: str | None = col(
        "JSON {segment: bits} of the stream, for codecs with named segments (MTGC); null for the others"
    )
    codec_trained: str | None = col("yes/no for codecs with weights (MTGC); null for the others")
    # --- rate control: what the codec chose to fit budget_bits (null where not applicable or nothing encoded)
    rc_knob: str | None = col(
        "the classical codec's quality knob: `quality` (JPEG, WebP, AVIF), `BPG -q, lower is better`, "
        "`target bpp` (JPEG 2000); null for MTGC"
    )
    rc_quality: float | None = col(
        "the knob's value rate control chose: quality 0..100 (higher is better), BPG -q 0..51 (lower is "
        "better) or the target bpp of the coded picture; null for MTGC",
    )
    rc_scale: float | None = col(
        "resolution-ladder scale the classical codec coded at: coded side / image side (1, 1/2, 1/4, 1/8); "
        "null for MTGC"
    )
    rc_rung: int | None = col(
        "MTGC rate-ladder rung chosen (0 = richest; `codecs/mtgc/ratecontrol.LADDER` with K capped for the "
        "profile); null for the others"
    )
    rc_spws: int | None = col("MTGC semantic pseudo-words sent (the rung's K; 0: no SPW segment)")
    rc_hci_scale: float | None = col("MTGC HCI scale: HCI side / image side (e.g. 1/8); null without an HCI")
    rc_hci_qp: int | None = col("BPG -q of the MTGC HCI (higher is coarser); null without an HCI")
    # --- link
    channel_uses: int = col("channel uses spent, retransmissions included", "channel uses")
    channel_uses_first: int = col(
        "channel uses of the first transmission of every block (<= budget_uses)", "channel uses"
    )
    cbr: float = col("channel_uses / (3 H W): the channel bandwidth ratio spent")
    slots: int = col("slots spent, retransmissions included")
    transmitted_bits: int = col(
        "stream bits sent over the PHY as transport-block payload, each block counted once (= stream_bits "
        "when anything was sent; 0 when nothing was)",
        "bits",
    )
    bit_errors: int | None = col(
        "bit errors among transmitted_bits after decoding (after the last transmission); null in the "
        "abstraction PHY mode (failed blocks are erasures, their bits unknown)",
        "bits",
    )
    ber: float = col("bit_errors / transmitted_bits (NaN when nothing was sent)")
    blocks: int = col("transport blocks sent (each counted once)")
    block_errors: int = col("transport blocks whose CRC failed at their last transmission")
    bler: float = col("block_errors / blocks (residual, after HARQ; NaN when nothing was sent)")
    transmissions: int = col("transmissions of all transport blocks (= blocks without HARQ)")
    mean_transmissions: float = col("transmissions / blocks")
    received_identical: bool | None = col("received bytes == sent bytes; null when nothing was sent")
    rx_payload_sha: str | None = col(
        "first 16 hex digits of the received bytes' SHA-256; null when nothing was sent"
    )
    # --- receiver
    decode_status: str = col(
        "what became of the row: ok, decode_failed, dropped or no_fit; or, where a step raised instead of "
        "returning a typed outcome, encode_error, decode_error or link_error, or image_error where the image "
        "file could not be read (metrics null)"
    )
    decode_ok: bool = col("decode_status == ok")
    decode_reason: str | None = col(
        "one line: why there is no decoded image (failure, drop, no fit, or the step that raised); "
        "null when ok"
    )
    failure_policy: str = col("mean, gray or none")
    policy_applied: bool = col("the failure policy supplied the picture")
    crc_error: str = col("decode or drop: what the receiver does with CRC failures")
    decode_cache_hit: bool = col("decoded from the sweep's decode cache")
    # --- per segment (docs/link.md): delivered | corrupted | lost | absent; null where the codec has no such
    # segment; uses: channel uses spent on it, retransmissions included
    segments_rx: str | None = col(
        "JSON {segment kind: {status, uses, bytes, mcs}} of every segment kind of the codec; null where "
        "nothing reached the link (error rows)"
    )
    seg_header: str | None = col("MTGC header: delivered, corrupted, lost or absent")
    seg_header_uses: float | None = col("channel uses spent on the MTGC header", "channel uses")
    seg_caption: str | None = col("MTGC caption segment: delivered, corrupted, lost or absent")
    seg_caption_uses: float | None = col("channel uses spent on the caption", "channel uses")
    seg_spw: str | None = col("MTGC SPW segment: delivered, corrupted, lost or absent")
    seg_spw_uses: float | None = col("channel uses spent on the SPWs", "channel uses")
    seg_hci: str | None = col("MTGC HCI segment: delivered, corrupted, lost or absent")
    seg_hci_uses: float | None = col("channel uses spent on the HCI", "channel uses")
    seg_payload: str | None = col("one-segment codecs' payload: delivered, corrupted, lost or absent")
    seg_payload_uses: float | None = col("channel uses spent on the payload", "channel uses")


#: ``decode_status`` of rows whose encoder, decoder or link raised (a bug or a shape the codec refuses, not a
#: channel outcome), or whose image file could not be read (``image_error``: nothing ran; the reason names the
#: file): their metrics are null and ``decode_reason`` names the step and the exception.
ERROR_STATUSES = ("encode_error", "decode_error", "link_error", "image_error")
#: Every ``decode_status``: the typed outcomes of ``mtgc_link.link.Received`` and the error statuses.
DECODE_STATUSES = ("ok", "decode_failed", "dropped", "no_fit", *ERROR_STATUSES)

#: ``<metric>_reason`` of a metric that cannot run here (weights or package missing). The long reason is
#: stored once per sweep folder, in ``manifest.json`` ``metrics_unavailable: {metric: reason}``.
METRIC_UNAVAILABLE = "unavailable"


#: The segment kinds with flat ``seg_<kind>`` / ``seg_<kind>_uses`` columns (MTGC's and the one-segment
#: codecs' "payload"); other codecs' kinds are in ``segments_rx`` only.
SEGMENT_COLUMNS = ("header", "caption", "spw", "hci", "payload")


#: The times columns (seconds), after the metrics.
TIME_COLUMNS = {
    "t_encode_s": "the one encoding this row's bytes came from",
    "t_transmit_s": "transmission",
    "t_decode_s": "decoding (about 0 on a cache hit)",
    "t_metrics_s": "metrics",
}

#: The columns after the fields whose names vary by sweep or come from elsewhere: (column, unit, meaning), in
#: table order. ``<metric>`` stands for each metric's column (:func:`metric_column`).
OTHER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    (
        "<metric>",
        "PSNR: dB; others: none",
        "each metric of the config (column: the registered name in snake_case, `ms-ssim` -> `ms_ssim`) of "
        "the received picture against the original; NaN where not computed",
    ),
    (
        "<metric>_reason",
        "",
        "null when computed; else why not, in short: `unavailable` (the metric cannot run here; the reason "
        "is in manifest.json `metrics_unavailable`), `not computed (<status>)` (error rows), "
        "`metric_error: ...`, `no image (...)` (policy none), or why it does not apply (e.g. MS-SSIM under "
        "161 px)",
    ),
    *((name, "s", f"seconds: {doc}") for name, doc in TIME_COLUMNS.items()),
    ("config_hash", "", "hash of the config the row was computed under"),
    ("git_commit", "", "commit of the checkout that computed it (`+dirty` with local changes)"),
    ("mtgc_link_version", "", "mtgc-link's version"),
    ("versions", "", "JSON of the libraries that shape results: torch, sionna-no-rt, numpy, pillow, av, ..."),
    (
        "image_file",
        "",
        "the decoded picture this row saved, relative to the sweep folder (the image grids read it); null "
        "when none was saved",
    ),
    (
        "ref_error_free_<metric>",
        "as `<metric>`",
        "the codec's decode of the very bytes it sent, with no channel errors (references: true)",
    ),
    ("ref_error_free_status", "", "decode_status of that error-free decode, or the error that prevented it"),
    (
        "ref_capacity_bound_bits",
        "bits",
        "the capacity bound C of the row's budget at its SNR (AWGN: uses x log2(1 + SNR); fading: this "
        "realisation's), unquantised",
    ),
    (
        "ref_capacity_stream_bits",
        "bits",
        "8 x the bytes of BPG's stream given 8 floor(C / 8) bits (0: no fit)",
    ),
    (
        "ref_capacity_status",
        "",
        "ok, no_fit or an error status of the BPG + capacity reference; null when C is unknown",
    ),
    ("ref_capacity_codec", "", "the reference codec and its backend, e.g. `bpg (libx265-pyav)`"),
    ("ref_capacity_<metric>", "as `<metric>`", "BPG given the capacity bound, decoded error-free"),
    (
        "ref_floor_<metric>",
        "as `<metric>`",
        "the metric of the failure policy's picture (NaN under policy none)",
    ),
)

#: Columns renamed when the table adopted one naming scheme: old name -> new name. Rows and tables written
#: before are read under the new names (:func:`current_column`).
RENAMED_COLUMNS = {
    "payload_bits": "budget_bits",
    "bits_sent": "stream_bits",
    "bits": "transmitted_bits",
    "cbr_budget": "budget_cbr",
    "ref_capacity_bits": "ref_capacity_bound_bits",
    "ref_capacity_bits_sent": "ref_capacity_stream_bits",
}


def metric_column(metric: str) -> str:
    """The results-table column of a registered metric: its name in snake_case.

    >>> metric_column("ms-ssim"), metric_column("lpips-alex"), metric_column("psnr")
    ('ms_ssim', 'lpips_alex', 'psnr')
    """
    return metric.replace("-", "_")


def current_column(name: str) -> str:
    """The name today of a column of an older table (a renamed one, or a metric column with a hyphen).

    >>> current_column("bits_sent"), current_column("ref_error_free_ms-ssim"), current_column("psnr")
    ('stream_bits', 'ref_error_free_ms_ssim', 'psnr')
    """
    return RENAMED_COLUMNS.get(name, name.replace("-", "_"))


def upgrade_row(row: dict) -> dict:
    """A row as today's table holds it: old column names renamed (:func:`current_column`), "" as None."""
    return {current_column(k): (None if v == "" else v) for k, v in row.items()}


def metrics_unavailable(names) -> dict[str, str]:
    """{metric: why it cannot run here} of those of ``names`` that cannot (weights or a package missing), from
    each metric's ``availability()``; names the registry does not know are left out. Rows say
    :data:`METRIC_UNAVAILABLE`; the manifest stores this dict (``store.write_manifest``)."""
    from mtgc_link.metrics import get_metric

    out = {}
    for name in names:
        try:
            ok, why = get_metric(name).availability()
        except KeyError:  # not registered here (a plug-in not installed)
            continue
        if not ok:
            out[name] = why or METRIC_UNAVAILABLE
    return out


def row_columns() -> list[str]:
    return [f.name for f in fields(Row)]


def data_dictionary() -> list[tuple[str, str, str]]:
    """(column, unit, meaning) of every fixed column."""
    return [(f.name, f.metadata["unit"], f.metadata["doc"]) for f in fields(Row)]


def data_dictionary_markdown() -> str:
    """The data dictionary as the Markdown table of docs/experiments.md: every field, then
    :data:`OTHER_COLUMNS`."""
    lines = ["| column | unit | meaning |", "|---|---|---|"]
    for name, unit, doc in [*data_dictionary(), *OTHER_COLUMNS]:
        lines.append(f"| `{name}` | {unit.replace('|', chr(92) + '|')} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m mtgc_link.sweep.rows > the table for docs/experiments.md
    print(data_dictionary_markdown(), end="")
