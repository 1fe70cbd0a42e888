"""The end-to-end link: budget -> codec rate control -> PHY -> decoder (+ failure policy) -> metrics.

The steps are exposed one by one because a sweep runs them at different multiplicities: encode once per
(image, codec, rate), transmit once per trial, decode once per distinct received payload
(:mod:`mtgc_link.sweep.cache`), metrics per trial. :func:`run_link` chains them for one image.

Definitions (docs/link.md):
- budget: complex channel uses per image, given as ``uses``, as channel bandwidth ratio
  ``cbr = uses / (3 H W)``, or as ``prbs`` x ``slots``. The PHY spends whole slots, so the payload bits
  of a budget are ``floor(uses / uses_per_slot) * TB size`` (:func:`channels.mcs.bits_for_channel_uses`).
- SNR: Es/N0 per data resource element, in dB (docs/phy.md).
- bits sent: ``8 * len(bytes)`` the codec produced, headers included; bpp = bits sent / (H W).
- protection (:mod:`mtgc_link.transport`): how the codec's segments ride the transport blocks -- ``equal``
  (one stream at the channel's MCS: the link as it always was), ``separate`` (each segment in blocks of its
  own), ``uep`` (header and semantic segments at robust MCSs). The rate control fits the *protected* stream
  in the budget; with HARQ the budget limits the first transmission of every block.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from mtgc_link import transport
from mtgc_link.codecs.base import Decoded, Encoded, RateControlError, SegmentsLost, SourceCodec, check_image
from mtgc_link.transport import Fit, Protection, SegmentRx
from mtgc_link.transport import with_mcs as with_mcs  # re-exported: it lives where the transport needs it

FAILURE_POLICIES = ("mean", "gray", "none")
FailurePolicy = Literal["mean", "gray", "none"]
#: What the receiver does with a payload whose transport-block CRCs failed:
#: "decode" hands the corrupted bytes to the decoder (what a robust decoder must survive),
#: "drop" discards the image (a packet erasure), so the failure policy applies.
CRC_ERROR_MODES = ("decode", "drop")
GRAY_LEVEL = 128


# --------------------------------------------------------------------------------------------- budget
@dataclass(frozen=True)
class Budget:
    """Channel uses allowed for one image. Give exactly one of ``uses``, ``cbr`` or ``prbs`` + ``slots``.

    uses: complex channel uses (resource elements, DMRS included), an integer >= 1.
    cbr: channel bandwidth ratio uses / (3 H W), a finite number > 0 (a fraction of the source dimension).
    prbs, slots: an allocation of ``prbs`` PRBs for ``slots`` slots; it also sets the PHY's ``num_prbs``.

    Example (the default PHY: MCS 14, 24 PRBs; a slot is 4032 channel uses carrying 7424 payload bits)::

        >>> from channels import PhyConfig
        >>> phy = PhyConfig()
        >>> Budget(uses=10_000).label, Budget(cbr=1 / 48).label, Budget(prbs=48, slots=2).label
        ('uses=10000', 'cbr=0.0208333', '48prb x 2slot')
        >>> b = Budget(cbr=0.25)  # floor(0.25 x 3 x 96 x 128) uses; two whole slots of payload
        >>> b.channel_uses(96, 128, phy), b.payload_bits(96, 128, phy)
        (9216, 14848)
        >>> b = Budget(prbs=48, slots=2)  # 48 PRBs: 8064 uses and 14856 payload bits per slot
        >>> b.channel_uses(96, 128, phy), b.payload_bits(96, 128, phy)
        (16128, 29712)
    """

    uses: int | None = None
    cbr: float | None = None
    prbs: int | None = None
    slots: int | None = None

    def __post_init__(self) -> None:
        given = [self.uses is not None, self.cbr is not None, self.prbs is not None or self.slots is not None]
        if sum(given) != 1:
            raise ValueError("budget: give exactly one of uses, cbr, or prbs + slots")
        if self.uses is not None and not (math.isfinite(self.uses) and self.uses == int(self.uses) >= 1):
            raise ValueError(f"budget.uses must be an integer >= 1, got {self.uses}")
        if self.cbr is not None and not (math.isfinite(self.cbr) and self.cbr > 0):  # inf would pass "> 0"
            raise ValueError(f"budget.cbr must be a finite number > 0, got {self.cbr}")
        if given[2] and (self.prbs is None or self.slots is None):
            raise ValueError("budget: prbs and slots must be given together")
        if self.prbs is not None and not 1 <= self.prbs <= 275:
            raise ValueError(f"budget.prbs must be in 1..275, got {self.prbs}")
        if self.slots is not None and self.slots < 1:
            raise ValueError(f"budget.slots must be >= 1, got {self.slots}")

    @property
    def kind(self) -> str:
        return "uses" if self.uses is not None else "cbr" if self.cbr is not None else "prbs_slots"

    @property
    def label(self) -> str:
        if self.uses is not None:
            return f"uses={self.uses}"
        if self.cbr is not None:
            return f"cbr={self.cbr:g}"
        return f"{self.prbs}prb x {self.slots}slot"

    def phy_config(self, phy):
        """The PHY configuration this budget runs on (``num_prbs`` replaced for a PRBs x slots budget)."""
        if self.prbs is None or phy.num_prbs == self.prbs:
            return phy
        return type(phy)(**{**phy.model_dump(), "num_prbs": self.prbs})

    def channel_uses(self, height: int, width: int, phy) -> int:
        """Channel uses granted to an H x W image on ``phy`` (a :class:`channels.PhyConfig`)."""
        if self.uses is not None:
            return int(self.uses)
        if self.cbr is not None:
            return int(math.floor(self.cbr * 3 * height * width))
        from channels.mcs import slot_geometry

        return int(self.slots) * slot_geometry(self.phy_config(phy)).channel_uses

    def payload_bits(self, height: int, width: int, phy) -> int:
        """Payload bits the budget carries at ``phy``'s MCS (whole slots only; may be 0)."""
        from channels.mcs import bits_for_channel_uses

        return int(bits_for_channel_uses(self.phy_config(phy), self.channel_uses(height, width, phy)))


@lru_cache(maxsize=32)
def get_link(phy):
    """The link for ``phy`` (``phy.mode``: :class:`channels.Link` bit-true, or
    :class:`channels.abstraction.AbstractLink`), built once per process (building Sionna blocks is slow)."""
    from channels.abstraction import make_link

    return make_link(phy)


# --------------------------------------------------------------------------------------------- encode
@dataclass
class SourceResult:
    """Outcome of rate-controlled encoding. ``status``: "ok" or "no_fit" (no codec setting fits)."""

    encoded: Encoded | None
    status: Literal["ok", "no_fit"]
    max_bits: int
    reason: str | None = None
    seconds: float = 0.0
    #: the protection the stream was fitted under, and the channel uses of its first transmission under it
    #: (None under ``equal``: there the payload bits are the whole test)
    protection: str = "equal"
    protected_uses: int | None = None

    @property
    def bits(self) -> int:
        return self.encoded.bits if self.encoded is not None else 0


#: The keys of :func:`rate_choice`: the results table's rate-control columns (``mtgc_link.sweep.rows.Row``).
RATE_CHOICE_KEYS = ("rc_knob", "rc_quality", "rc_scale", "rc_rung", "rc_spws", "rc_hci_scale", "rc_hci_qp")


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)


def rate_choice(encoded: Encoded | None, codec: SourceCodec | None = None) -> dict[str, Any]:
    """What the codec's rate control chose for ``encoded``, read from ``Encoded.info``, as the ``rc_*``
    columns of the results table (None where not applicable; all None when nothing was encoded).

    - Classical codecs (``codecs.ratecontrol.LadderCodec``: ``info["quality"]``, ``info["scale"]``):
      ``rc_knob`` (``codec.knob``: ``quality``, ``BPG -q, lower is better``, ``target bpp``), ``rc_quality``
      (the knob's value) and ``rc_scale`` (resolution-ladder scale, coded side / image side).
    - MTGC (``info["rung"]``, ``codecs/mtgc/ratecontrol.py``): ``rc_rung`` (None for its default setting,
      encoded without a budget), ``rc_spws`` (K), ``rc_hci_scale`` (1 / the HCI's downscale factor) and
      ``rc_hci_qp`` (the HCI's BPG -q); the last two None without an HCI.
    """
    out: dict[str, Any] = dict.fromkeys(RATE_CHOICE_KEYS)
    info = encoded.info if encoded is not None else None
    if not info:
        return out
    if "rung" in info:  # MTGC reuses "quality" for the rung index: read its own keys
        factor = info.get("hci_scale")
        out.update(
            rc_rung=_int_or_none(info.get("rung")),
            rc_spws=_int_or_none(info.get("k")),
            rc_hci_scale=1.0 / factor if factor else None,
            rc_hci_qp=_int_or_none(info.get("hci_q")) if factor else None,
        )
    elif info.get("quality") is not None:
        scale = info.get("scale")
        out.update(
            rc_knob=getattr(codec, "knob", None),
            rc_quality=float(info["quality"]),
            rc_scale=float(scale) if scale is not None else None,
        )
    return out


#: Rounds of the downward search of :func:`encode_for_budget` for codecs without ``fits=``.
_MAX_FIT_ROUNDS = 64


def _encode_to_fit(codec: SourceCodec, image, max_bits: int, fit: Fit, kwargs: dict) -> Encoded:
    """For a codec whose ``encode`` takes no ``fits=``: lower ``max_bits`` below each candidate that does not
    fit under the protection until one does (every candidate already has at most ``max_bits`` bits)."""
    bits = max_bits
    for _ in range(_MAX_FIT_ROUNDS):
        enc = codec.encode(image, max_bits=bits, **kwargs)
        if fit(enc.data):
            return enc
        bits = enc.bits - 8  # strictly fewer bytes next time
        if bits <= 0:
            break
    raise RateControlError(codec.name, max_bits)


def encode_for_budget(
    codec: SourceCodec, image: np.ndarray, max_bits: int, caption: str | None = None, fit: Fit | None = None
) -> SourceResult:
    """Encode ``image`` with the best setting of ``codec`` that fits ``max_bits`` payload bits.

    ``caption``: the image set's caption of this image, handed to codecs with a caption modality
    (``codec.takes_caption``) as their fallback caption source; other codecs ignore it.
    ``fit``: under a protection other than ``equal``, the transport's test that the stream -- cut into
    segments, each in whole slots of its own at its MCS -- fits the budget of channel uses
    (:class:`mtgc_link.transport.Fit`); ``max_bits`` (what the budget carries as one stream at the channel's
    MCS) stays an upper bound. Codecs with ``supports_fit`` (MTGC) apply it in their own rate control (the
    ladder); for the others the search lowers ``max_bits`` until the stream fits.

    A budget that no setting fits (``RateControlError``, or 0 payload bits) is the typed outcome
    ``status="no_fit"``, not an exception; under a protection the reason says what protecting costs.
    """
    image = check_image(image)
    t0 = time.perf_counter()
    prot = fit.protection.name if fit is not None else "equal"
    if max_bits <= 0:
        reason = f"{codec.name}: budget carries 0 payload bits"
        return SourceResult(None, "no_fit", max_bits, reason, 0.0, protection=prot)
    kwargs = {"image_caption": caption} if caption is not None and codec.takes_caption else {}
    try:
        if fit is None:
            enc = codec.encode(image, max_bits=max_bits, **kwargs)
        elif codec.supports_fit:
            enc = codec.encode(image, max_bits=max_bits, fits=fit, **kwargs)
        else:
            enc = _encode_to_fit(codec, image, max_bits, fit, kwargs)
    except RateControlError as exc:
        reason = fit.reason() if fit is not None and fit.smallest is not None else str(exc)
        return SourceResult(None, "no_fit", max_bits, reason, time.perf_counter() - t0, protection=prot)
    if enc.bits > max_bits:  # a codec bug, never silently sent over budget
        raise RuntimeError(f"{codec.name} produced {enc.bits} bits for max_bits={max_bits}")
    uses = None
    if fit is not None:
        uses = fit.uses(enc.data)
        if uses > fit.budget_uses:  # likewise
            raise RuntimeError(f"{codec.name}: its stream needs {uses} channel uses of {fit.budget_uses}")
    return SourceResult(
        enc, "ok", max_bits, None, time.perf_counter() - t0, protection=prot, protected_uses=uses
    )


# ------------------------------------------------------------------------------------ receive + policy
def fallback_image(
    policy: str, shape: tuple[int, ...], mean_rgb: np.ndarray | None = None
) -> np.ndarray | None:
    """What the user sees when nothing decodable arrived.

    policy "gray": every pixel 128; "mean": every pixel the mean colour ``mean_rgb`` (3 values in [0, 255],
    the mean over the image set, rounded); "none": ``None`` (the metrics record a failure).
    """
    if policy not in FAILURE_POLICIES:
        raise ValueError(f"failure_policy must be one of {FAILURE_POLICIES}, got {policy!r}")
    if policy == "none":
        return None
    out = np.empty(tuple(shape), dtype=np.uint8)
    if policy == "gray":
        out[...] = GRAY_LEVEL
    else:
        if mean_rgb is None:
            raise ValueError("failure_policy 'mean' needs mean_rgb (the mean colour of the image set)")
        out[...] = np.clip(np.round(np.asarray(mean_rgb, dtype=np.float64)), 0, 255).astype(np.uint8)
    return out


def mean_colour(images) -> np.ndarray:
    """Mean RGB colour (3 floats in [0, 255]) over a set of uint8 (H, W, 3) images, each weighted equally."""
    means = [np.asarray(im, dtype=np.float64).reshape(-1, 3).mean(axis=0) for im in images]
    if not means:
        raise ValueError("mean_colour needs at least one image")
    return np.mean(means, axis=0)


@dataclass
class Received:
    """What reached the user.

    status: "ok" (decoded), "decode_failed" (decoder returned a failure), "dropped" (CRC failed and the
    receiver discards payloads with CRC errors), "no_fit" (nothing was sent: the budget fits no setting).
    image: the decoded image, else the failure policy's image (None for policy "none").
    """

    image: np.ndarray | None
    status: Literal["ok", "decode_failed", "dropped", "no_fit"]
    reason: str | None
    policy_applied: bool
    decoded: Decoded | None = None


def resolve_received(
    decoded: Decoded | None,
    status_if_none: Literal["dropped", "no_fit"],
    shape: tuple[int, ...],
    policy: str,
    mean_rgb: np.ndarray | None = None,
    reason_if_none: str | None = None,
) -> Received:
    """Apply the failure policy to a decoder result (``decoded=None``: nothing was decoded)."""
    if decoded is not None and decoded.ok:
        img = decoded.image
        if img is None or img.shape != tuple(shape):
            got = None if img is None else img.shape
            decoded = Decoded.failure(f"decoded image has shape {got}, expected {tuple(shape)}")
        else:
            return Received(img, "ok", None, False, decoded)
    if decoded is not None:
        status, reason = "decode_failed", decoded.reason
    else:
        status, reason = status_if_none, reason_if_none
    return Received(fallback_image(policy, shape, mean_rgb), status, reason, policy != "none", decoded)


def receive(
    codec: SourceCodec,
    data: bytes,
    crc_ok: bool,
    shape: tuple[int, ...],
    policy: str = "gray",
    mean_rgb: np.ndarray | None = None,
    crc_error: str = "decode",
    decode=None,
) -> Received:
    """Decode received bytes and apply the failure policy.

    crc_ok: all transport-block CRCs passed. crc_error: "decode" (decode anyway) or "drop" (discard).
    decode: optional replacement for ``codec.decode`` (the sweep passes its cached decoder).
    """
    if crc_error not in CRC_ERROR_MODES:
        raise ValueError(f"crc_error must be one of {CRC_ERROR_MODES}, got {crc_error!r}")
    if not crc_ok and crc_error == "drop":
        return resolve_received(None, "dropped", shape, policy, mean_rgb, "transport-block CRC failed")
    decoded = (decode or codec.decode)(data)
    return resolve_received(decoded, "dropped", shape, policy, mean_rgb)


def receive_segments(
    codec: SourceCodec,
    arrived: list,
    shape: tuple[int, ...],
    policy: str = "gray",
    mean_rgb: np.ndarray | None = None,
    decode=None,
) -> Received:
    """Decode what arrived of a stream sent segment by segment (+ failure policy).

    arrived[i]: the i-th segment as received (``Segment``, possibly corrupted) or None where it was lost.
    Every segment lost -> "dropped" (as a dropped stream); the codec cannot join what arrived (e.g. the MTGC
    header was lost) -> "decode_failed" with its typed reason; else the joined stream is decoded.
    """
    if all(s is None for s in arrived):
        reason = "transport-block CRC failed: every segment lost"
        return resolve_received(None, "dropped", shape, policy, mean_rgb, reason)
    try:
        data = codec.join_segments(arrived)
    except SegmentsLost as exc:
        return resolve_received(
            Decoded.failure(str(exc), failure=exc.failure), "dropped", shape, policy, mean_rgb
        )
    return resolve_received((decode or codec.decode)(data), "dropped", shape, policy, mean_rgb)


# --------------------------------------------------------------------------------- across the link
@dataclass
class Delivery:
    """One pass of an encoding across the link: what the PHY did and what reached the user.

    reception: :class:`channels.Reception`, or None when nothing was sent (``no_fit``). times: seconds spent
    in ``transmit_s`` and ``decode_s`` (absent when nothing was sent).
    """

    reception: Any
    received: Received
    times: dict[str, float] = field(default_factory=dict)
    segments: list[SegmentRx] = field(default_factory=list)  # per segment of the stream, in stream order


@lru_cache(maxsize=1)
def _link_has_harq() -> bool:
    """Whether ``channels.Link.transmit`` takes ``harq_max_tx`` (HARQ in the PHY)."""
    import inspect

    from channels.link import Link

    return "harq_max_tx" in inspect.signature(Link.transmit).parameters


def transmit_group(group: transport.Group, snr_db: float, harq_max_tx: int = 1):
    """One group of transport blocks through ``get_link(group.phy).transmit`` -> ``channels.Reception``."""
    link = get_link(group.phy)
    try:
        if _link_has_harq():
            return link.transmit(group.data, snr_db, group.seed, harq_max_tx=int(harq_max_tx))
        if harq_max_tx > 1:
            raise ValueError(f"harq_max_tx={harq_max_tx}: this channels.Link has no HARQ")
        return link.transmit(group.data, snr_db, group.seed)
    except ValueError as exc:
        where = f"MCS {group.phy.mcs_index} (table {group.phy.mcs_table}) on {group.phy.channel.model}"
        raise ValueError(f"{where}: {exc}") from exc


def check_phy_mode(mode: str, crc_error: str) -> None:
    """ValueError when ``crc_error`` asks for what the PHY mode cannot give: the abstraction knows which
    transport blocks arrived, not the bits of the others, so it cannot hand corrupted bytes to a decoder."""
    if mode == "abstraction" and crc_error == "decode":
        raise ValueError(
            "crc_error 'decode' needs the bit-true PHY (the abstraction knows which blocks arrived, not the "
            "bits of the failed ones): use crc_error 'drop' with phy mode abstraction"
        )


def deliver(
    codec: SourceCodec,
    src: SourceResult,
    phy,
    snr_db: float,
    seed: int,
    shape: tuple[int, ...],
    policy: str = "gray",
    mean_rgb: np.ndarray | None = None,
    crc_error: str = "decode",
    decode=None,
    protection: Protection | str | None = None,
    harq_max_tx: int = 1,
) -> Delivery:
    """Transmit ``src`` over ``phy`` at ``snr_db`` and decode what arrived (+ failure policy).

    The one implementation of transmit -> receive, shared by :func:`run_link` (``mtgc-link transmit``) and
    every sweep row. ``decode``: optional replacement for ``codec.decode`` (the sweep's decode cache).
    ``protection`` (default ``equal``): how the codec's segments ride the transport blocks
    (:mod:`mtgc_link.transport`); each group of blocks is one ``get_link(phy at its MCS).transmit`` with its
    own seed (``equal``: the one stream with ``seed``, exactly as without segments). ``harq_max_tx``:
    transmissions allowed per transport block (1 = no HARQ). The reception is a
    :class:`mtgc_link.transport.LinkReception` (the groups summed).
    A PHY setting that cannot run (e.g. code rate below 1/5) raises ValueError naming the MCS and channel.
    """
    if crc_error not in CRC_ERROR_MODES:
        raise ValueError(f"crc_error must be one of {CRC_ERROR_MODES}, got {crc_error!r}")
    check_phy_mode(getattr(phy, "mode", "bit_true"), crc_error)
    if isinstance(harq_max_tx, bool) or not isinstance(harq_max_tx, int | np.integer) or harq_max_tx < 1:
        raise ValueError(f"harq_max_tx must be an integer >= 1, got {harq_max_tx!r}")
    if src.status == "no_fit":
        return Delivery(None, resolve_received(None, "no_fit", shape, policy, mean_rgb, src.reason))
    data = src.encoded.data
    segments = codec.segments(data)
    groups = transport.plan(data, segments, protection, phy, seed)
    t0 = time.perf_counter()
    receptions = [transmit_group(g, snr_db, harq_max_tx) for g in groups]
    rx = transport.combine(groups, receptions, harq_max_tx, snr_db)
    t_tx = time.perf_counter() - t0
    outcomes, arrived = transport.segment_outcomes(segments, groups, receptions, crc_error)
    t0 = time.perf_counter()
    if len(groups) == 1 and len(groups[0].segments) == len(segments):  # one stream: as it always was
        received = receive(codec, rx.payload, rx.ok, shape, policy, mean_rgb, crc_error, decode=decode)
    else:
        received = receive_segments(codec, arrived, shape, policy, mean_rgb, decode=decode)
    times = {"transmit_s": t_tx, "decode_s": time.perf_counter() - t0}
    return Delivery(rx, received, times, outcomes)


# --------------------------------------------------------------------------------------------- metrics
def evaluate(reference: np.ndarray, image: np.ndarray | None, metrics: list[str]) -> tuple[dict, dict]:
    """Metrics of ``image`` against ``reference``.

    Returns (values, reasons): ``values[name]`` is a float (NaN where it could not be computed) and
    ``reasons[name]`` says why (no image because decoding failed with policy "none", metric unavailable here,
    or not applicable to this input, e.g. MS-SSIM on images under 161 px).
    """
    from mtgc_link.metrics import compute_metrics

    if image is None:
        why = "no image (decoding failed, failure policy none)"
        return {n: math.nan for n in metrics}, {n: why for n in metrics}
    got, reasons = compute_metrics(reference, image, list(metrics))
    values = {n: (math.nan if v is None else float(v)) for n, v in got.items()}
    return values, reasons


# --------------------------------------------------------------------------------------------- one shot
@dataclass
class LinkResult:
    """Everything one end-to-end run produced (see :func:`run_link`)."""

    source: SourceResult
    reception: Any  # channels.Reception | None (None when nothing was sent)
    received: Received
    metrics: dict[str, float]
    metric_reasons: dict[str, str]
    budget_uses: int
    height: int
    width: int
    times: dict[str, float] = field(default_factory=dict)
    segments: list[SegmentRx] = field(default_factory=list)
    protection: str = "equal"
    harq_max_tx: int = 1

    @property
    def bits_sent(self) -> int:
        return self.source.bits

    @property
    def bpp(self) -> float:
        return self.bits_sent / (self.height * self.width)

    def summary(self) -> str:
        """One line: bits, bpp, BER, BLER, decode status, metrics."""
        rx = self.reception
        link = "nothing sent"
        if rx is not None:
            link = f"BER {rx.ber:.2e}, BLER {rx.bler:.3f} ({rx.block_errors}/{rx.blocks} blocks)"
            if self.harq_max_tx > 1:
                link += (
                    f", HARQ <= {self.harq_max_tx} tx: {rx.mean_transmissions:.2f} tx/block, "
                    f"{rx.channel_uses} channel uses spent ({rx.channel_uses_first} first round)"
                )
        mets = ", ".join(
            f"{k.upper()} {v:.2f} dB" if k == "psnr" else f"{k} {v:.4f}" for k, v in self.metrics.items()
        )
        status = self.received.status + (" (policy applied)" if self.received.policy_applied else "")
        lost = [x.kind for x in self.segments if x.status == "lost"]
        if self.received.status == "ok" and lost:
            status += f" (without the lost {', '.join(lost)})"
        elif self.received.status == "ok" and rx is not None and rx.bit_errors:
            status += " (from corrupted bytes)"
        return (
            f"{self.bits_sent} bits sent of {self.source.max_bits} ({self.bpp:.4f} bpp), "
            f"{self.budget_uses} channel uses budget; {link}; decode {status}; {mets}"
        )

    def segments_summary(self) -> str:
        """One line: the protection and, per segment, its MCS, channel uses and what became of it."""
        parts = [
            f"{s.kind} {s.status} (MCS {s.mcs_index}, {s.uses:g} uses, {s.bytes} B)" for s in self.segments
        ]
        return f"protection {self.protection}: " + ("; ".join(parts) or "nothing sent")


def run_link(
    image: np.ndarray,
    codec: SourceCodec,
    phy,
    budget: Budget,
    snr_db: float,
    seed: int = 0,
    policy: str = "gray",
    metrics: tuple[str, ...] = ("psnr",),
    mean_rgb: np.ndarray | None = None,
    crc_error: str = "decode",
    protection: Protection | str | None = None,
    harq_max_tx: int = 1,
) -> LinkResult:
    """Send one image across the link: budget -> encode -> transmit -> decode (+ policy) -> metrics.

    image: uint8 (H, W, 3). phy: :class:`channels.PhyConfig` (its MCS is the one used). snr_db: Es/N0 per
    data RE in dB. mean_rgb defaults to this image's mean colour (policy "mean"). protection: ``equal``
    (default), ``separate``, ``uep`` or a :class:`mtgc_link.transport.Protection`; harq_max_tx: transmissions
    allowed per transport block (the budget limits the first).
    """
    image = check_image(image)
    h, w = image.shape[:2]
    phy = budget.phy_config(phy)
    prot = Protection.of(protection)
    if mean_rgb is None:
        mean_rgb = mean_colour([image])
    uses = budget.channel_uses(h, w, phy)
    fit = Fit(codec, prot, phy, uses) if prot.name != "equal" else None
    src = encode_for_budget(codec, image, budget.payload_bits(h, w, phy), fit=fit)
    d = deliver(
        codec, src, phy, snr_db, seed, image.shape, policy, mean_rgb, crc_error, None, prot, harq_max_tx
    )
    t0 = time.perf_counter()
    values, reasons = evaluate(image, d.received.image, list(metrics))
    times = {"encode_s": src.seconds, **d.times, "metrics_s": time.perf_counter() - t0}
    return LinkResult(
        src,
        d.reception,
        d.received,
        values,
        reasons,
        uses,
        h,
        w,
        times,
        d.segments,
        prot.name,
        int(harq_max_tx),
    )
