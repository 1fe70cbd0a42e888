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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from mtgc_link.codecs.base import Decoded, Encoded, RateControlError, SourceCodec, check_image

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

    uses: complex channel uses (resource elements, DMRS included), >= 1.
    cbr: channel bandwidth ratio uses / (3 H W), > 0 (a fraction of the source dimension).
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
        if self.uses is not None and self.uses < 1:
            raise ValueError(f"budget.uses must be >= 1, got {self.uses}")
        if self.cbr is not None and not self.cbr > 0:
            raise ValueError(f"budget.cbr must be > 0, got {self.cbr}")
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


def with_mcs(phy, mcs_index: int):
    """``phy`` with its MCS replaced by ``mcs_index`` (of ``phy.mcs_table``)."""
    if phy.mcs_index == mcs_index and phy.modulation_order is None:
        return phy
    data = {**phy.model_dump(), "mcs_index": int(mcs_index), "modulation_order": None, "code_rate": None}
    return type(phy)(**data)


@lru_cache(maxsize=32)
def get_link(phy):
    """A :class:`channels.Link` for ``phy``, built once per process (building Sionna blocks is slow)."""
    from channels import Link

    return Link(phy)


# --------------------------------------------------------------------------------------------- encode
@dataclass
class SourceResult:
    """Outcome of rate-controlled encoding. ``status``: "ok" or "no_fit" (no codec setting fits)."""

    encoded: Encoded | None
    status: Literal["ok", "no_fit"]
    max_bits: int
    reason: str | None = None
    seconds: float = 0.0

    @property
    def bits(self) -> int:
        return self.encoded.bits if self.encoded is not None else 0


def encode_for_budget(
    codec: SourceCodec, image: np.ndarray, max_bits: int, caption: str | None = None
) -> SourceResult:
    """Encode ``image`` with the best setting of ``codec`` that fits ``max_bits`` payload bits.

    ``caption``: the image set's caption of this image, handed to codecs with a caption modality
    (``codec.takes_caption``) as their fallback caption source; other codecs ignore it.

    A budget that no setting fits (``RateControlError``, or 0 payload bits) is the typed outcome
    ``status="no_fit"``, not an exception.
    """
    image = check_image(image)
    t0 = time.perf_counter()
    if max_bits <= 0:
        return SourceResult(None, "no_fit", max_bits, f"{codec.name}: budget carries 0 payload bits", 0.0)
    try:
        if caption is not None and codec.takes_caption:
            enc = codec.encode(image, max_bits=max_bits, image_caption=caption)
        else:
            enc = codec.encode(image, max_bits=max_bits)
    except RateControlError as exc:
        return SourceResult(None, "no_fit", max_bits, str(exc), time.perf_counter() - t0)
    if enc.bits > max_bits:  # a codec bug, never silently sent over budget
        raise RuntimeError(f"{codec.name} produced {enc.bits} bits for max_bits={max_bits}")
    return SourceResult(enc, "ok", max_bits, None, time.perf_counter() - t0)


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
) -> Delivery:
    """Transmit ``src`` over ``phy`` at ``snr_db`` and decode what arrived (+ failure policy).

    The one implementation of transmit -> receive, shared by :func:`run_link` (``mtgc-link transmit``) and
    every sweep row. ``decode``: optional replacement for ``codec.decode`` (the sweep's decode cache).
    A PHY setting that cannot run (e.g. code rate below 1/5) raises ValueError naming the MCS and channel.
    """
    if src.status == "no_fit":
        return Delivery(None, resolve_received(None, "no_fit", shape, policy, mean_rgb, src.reason))
    t0 = time.perf_counter()
    try:
        rx = get_link(phy).transmit(src.encoded.data, snr_db, seed)
    except ValueError as exc:
        where = f"MCS {phy.mcs_index} (table {phy.mcs_table}) on {phy.channel.model}"
        raise ValueError(f"{where}: {exc}") from exc
    t_tx = time.perf_counter() - t0
    t0 = time.perf_counter()
    received = receive(
        codec, rx.payload, bool(np.all(rx.tb_crc_ok)), shape, policy, mean_rgb, crc_error, decode=decode
    )
    return Delivery(rx, received, {"transmit_s": t_tx, "decode_s": time.perf_counter() - t0})


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
        mets = ", ".join(
            f"{k.upper()} {v:.2f} dB" if k == "psnr" else f"{k} {v:.4f}" for k, v in self.metrics.items()
        )
        status = self.received.status + (" (policy applied)" if self.received.policy_applied else "")
        if self.received.status == "ok" and rx is not None and rx.bit_errors:
            status += " (from corrupted bytes)"
        return (
            f"{self.bits_sent} bits sent of {self.source.max_bits} ({self.bpp:.4f} bpp), "
            f"{self.budget_uses} channel uses budget; {link}; decode {status}; {mets}"
        )


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
) -> LinkResult:
    """Send one image across the link: budget -> encode -> transmit -> decode (+ policy) -> metrics.

    image: uint8 (H, W, 3). phy: :class:`channels.PhyConfig` (its MCS is the one used). snr_db: Es/N0 per
    data RE in dB. mean_rgb defaults to this image's mean colour (policy "mean").
    """
    image = check_image(image)
    h, w = image.shape[:2]
    phy = budget.phy_config(phy)
    if mean_rgb is None:
        mean_rgb = mean_colour([image])
    src = encode_for_budget(codec, image, budget.payload_bits(h, w, phy))
    d = deliver(codec, src, phy, snr_db, seed, image.shape, policy, mean_rgb, crc_error)
    t0 = time.perf_counter()
    values, reasons = evaluate(image, d.received.image, list(metrics))
    times = {"encode_s": src.seconds, **d.times, "metrics_s": time.perf_counter() - t0}
    reception, received = d.reception, d.received
    return LinkResult(src, reception, received, values, reasons, budget.channel_uses(h, w, phy), h, w, times)
