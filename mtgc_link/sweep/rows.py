"""The results table's columns, named once: :class:`Row` is the data dictionary.

One row per (point, image, trial). Each field carries its unit and meaning (``docs/experiments.md`` lists
them from here; a test checks the two agree). Columns that vary by sweep, in this order after the fields:
every metric as ``<metric>`` and ``<metric>_reason``, the times, the provenance, ``image_file``; and the
value column of any sweep axis that is not a field (see :mod:`mtgc_link.sweep.axes`).
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
    codec_backend: str = col("which implementation ran, e.g. `libx265-pyav`")
    channel: str = col("channel label")
    channel_model: str = col("awgn, rayleigh, tdl or cdl")
    channel_profile: str | None = col("TDL/CDL profile letter")
    delay_spread_ns: float | None = col("TDL/CDL delay spread", "ns")
    speed_mps: float | None = col("UE speed", "m/s")
    carrier_hz: float | None = col("carrier frequency", "Hz")
    snr_db: float = col("Es/N0 per data resource element", "dB")
    budget: str = col("budget label, e.g. `cbr=0.09`")
    budget_kind: str = col("uses, cbr or prbs_slots")
    budget_uses: int = col("channel uses the budget allows (whole slots)", "channel uses")
    cbr_budget: float = col("budget_uses / (3 H W)")
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
    payload_bits: int = col("payload bits the budget carries at this MCS", "bits")
    bits_sent: int = col("8 x bytes the codec produced, headers included", "bits")
    bpp: float = col("bits_sent / (H W)", "bits/px")
    segment_bits: str = col("JSON {segment: bits} for codecs with named segments (MTGC)")
    codec_trained: str = col("yes/no for codecs with weights (MTGC), else empty")
    # --- link
    channel_uses: int = col("channel uses spent, retransmissions included", "channel uses")
    channel_uses_first: int = col(
        "channel uses of the first transmission of every block (<= budget_uses)", "channel uses"
    )
    cbr: float = col("channel_uses / (3 H W) spent")
    slots: int = col("slots spent, retransmissions included")
    bits: int = col("payload bits sent over the PHY", "bits")
    bit_errors: int | None = col(
        "payload bit errors after decoding (after the last transmission); null in the abstraction PHY mode "
        "(failed blocks are erasures, their bits unknown)",
        "bits",
    )
    ber: float = col("bit_errors / bits")
    blocks: int = col("transport blocks sent (each counted once)")
    block_errors: int = col("transport blocks whose CRC failed at their last transmission")
    bler: float = col("block_errors / blocks (residual, after HARQ)")
    transmissions: int = col("transmissions of all transport blocks (= blocks without HARQ)")
    mean_transmissions: float = col("transmissions / blocks")
    received_identical: bool | None = col("received bytes == sent bytes")
    rx_payload_sha: str = col("first 16 hex digits of the received bytes' SHA-256")
    # --- receiver
    decode_status: str = col(
        "what became of the row: ok, decode_failed, dropped or no_fit; or, where a step raised instead of "
        "returning a typed outcome, encode_error, decode_error or link_error (metrics null)"
    )
    decode_ok: bool = col("decode_status == ok")
    decode_reason: str = col(
        "one line: why there is no decoded image (failure, drop, no fit, or the step that raised); "
        "empty when ok"
    )
    failure_policy: str = col("mean, gray or none")
    policy_applied: bool = col("the failure policy supplied the picture")
    crc_error: str = col("decode or drop: what the receiver does with CRC failures")
    decode_cache_hit: bool = col("decoded from the sweep's decode cache")
    # --- per segment (docs/link.md): delivered | corrupted | lost | absent; empty where the codec has no such
    # segment; uses: channel uses spent on it, retransmissions included
    segments_rx: str = col(
        "JSON {segment kind: {status, uses, bytes, mcs}} of every segment kind of the codec"
    )
    seg_header: str = col("MTGC header: delivered, corrupted, lost or absent")
    seg_header_uses: float | None = col("channel uses spent on the MTGC header", "channel uses")
    seg_caption: str = col("MTGC caption segment: delivered, corrupted, lost or absent")
    seg_caption_uses: float | None = col("channel uses spent on the caption", "channel uses")
    seg_spw: str = col("MTGC SPW segment: delivered, corrupted, lost or absent")
    seg_spw_uses: float | None = col("channel uses spent on the SPWs", "channel uses")
    seg_hci: str = col("MTGC HCI segment: delivered, corrupted, lost or absent")
    seg_hci_uses: float | None = col("channel uses spent on the HCI", "channel uses")
    seg_payload: str = col("one-segment codecs' payload: delivered, corrupted, lost or absent")
    seg_payload_uses: float | None = col("channel uses spent on the payload", "channel uses")


#: ``decode_status`` of rows whose encoder, decoder or link raised (a bug or a shape the codec refuses, not a
#: channel outcome): their metrics are null and ``decode_reason`` names the step and the exception.
ERROR_STATUSES = ("encode_error", "decode_error", "link_error")
#: Every ``decode_status``: the typed outcomes of ``mtgc_link.link.Received`` and the error statuses.
DECODE_STATUSES = ("ok", "decode_failed", "dropped", "no_fit", *ERROR_STATUSES)


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


def row_columns() -> list[str]:
    return [f.name for f in fields(Row)]


def data_dictionary() -> list[tuple[str, str, str]]:
    """(column, unit, meaning) of every fixed column."""
    return [(f.name, f.metadata["unit"], f.metadata["doc"]) for f in fields(Row)]
