"""Semantic-aware transport: how a codec's segments ride the PHY's transport blocks (docs/link.md).

Between the codec and the PHY: the codec cuts its stream into ordered segments of different importance
(``SourceCodec.segments``); a protection profile decides which bytes go into which group of transport blocks
and at which MCS; each group goes through ``channels.Link.transmit`` on its own (``mtgc_link.link.deliver``
does the transmitting); the receiver learns per segment whether it was delivered, corrupted or lost and hands
what arrived to ``SourceCodec.join_segments``. ``channels`` knows nothing of segments.

Profiles (:data:`PROTECTIONS`):

- ``equal``: the whole stream as one byte stream at the channel's MCS, with the point's seed: exactly the
  link without this module (bit for bit).
- ``separate``: every segment in transport blocks of its own (no block carries two segments), all at the
  channel's MCS; each group with its own seed derived from the point's seed and the segment kind.
- ``uep``: as ``separate``, but the header and the semantic segments at robust MCSs (:class:`UepMcs`); the
  bulk at the channel's MCS.

A stream that is a single segment at the channel's MCS (the classical codecs) is sent as under ``equal``
whatever the profile, with the point's seed: for those codecs every profile gives the same rows.

Budget: all blocks of an image count against its budget of channel uses. Each group spends whole slots, so
``separate`` and ``uep`` spend more than ``equal`` for the same bytes; :class:`Fit` is the test the codec's
rate control applies to a candidate stream (its protected first transmission must fit the budget). With HARQ
the budget limits the first transmission of every block; retransmissions are spent beyond it and recorded.

Pure arithmetic and bookkeeping: no PHY runs here (``channels.mcs`` gives the slot geometry).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from channels.link import ErrorRates
from mtgc_link.codecs.base import IMPORTANCE_BULK, IMPORTANCE_HEADER, Segment, SourceCodec

PROTECTIONS = ("equal", "separate", "uep")
#: What became of a segment: arrived with every CRC passing / arrived with failed CRCs (``crc_error:
#: decode``) / discarded (``crc_error: drop``) / not in this stream (the codec did not send it).
SEGMENT_STATUSES = ("delivered", "corrupted", "lost", "absent")
#: Default UEP MCSs, as steps below the channel's MCS (floored at the lowest MCS the PHY builds, never above
#: the channel's). Chosen by measurement (docs/link.md, "UEP default"): at the SNR where the channel's MCS has
#: 10 % BLER on TDL-A, 6 steps down has a BLER of about 1e-2 (1.3e-2 from MCS 14, 4e-3 from MCS 9) and 7
#: steps 4e-3 (the fading floor of these allocations); the header, whose loss costs the whole image, gets 7.
DEFAULT_HEADER_OFFSET = 7
DEFAULT_SEMANTIC_OFFSET = 6


# ------------------------------------------------------------------------------------------ MCS per class
@lru_cache(maxsize=8)
def lowest_mcs(mcs_table: int) -> int:
    """The lowest MCS index of ``mcs_table`` the PHY builds (code rate >= 1/5: 3 in table 1, 2 in table 2)."""
    from channels.mcs import MAX_MCS_INDEX, MIN_CODE_RATE, mcs_from_index

    for i in range(MAX_MCS_INDEX[mcs_table] + 1):
        if mcs_from_index(i, mcs_table)[1] >= MIN_CODE_RATE:
            return i
    raise ValueError(f"MCS table {mcs_table} has no index the PHY can build")


def with_mcs(phy, mcs_index: int):
    """``phy`` with its MCS replaced by ``mcs_index`` (of ``phy.mcs_table``)."""
    if phy.mcs_index == mcs_index and phy.modulation_order is None:
        return phy
    data = {**phy.model_dump(), "mcs_index": int(mcs_index), "modulation_order": None, "code_rate": None}
    return type(phy)(**data)


@dataclass(frozen=True)
class UepMcs:
    """The MCS of each protected importance class under ``uep``.

    header / semantic: an absolute MCS index (of the PHY's table), or None: ``header_offset`` /
    ``semantic_offset`` steps below the channel's MCS. Either way the result is never above the channel's MCS
    (a protected class is never less protected than the bulk) and an offset is floored at the lowest MCS the
    PHY builds (:func:`lowest_mcs`); an absolute index below that is an error. The bulk (importance >= 2)
    always uses the channel's MCS.
    """

    header: int | None = None
    semantic: int | None = None
    header_offset: int = DEFAULT_HEADER_OFFSET
    semantic_offset: int = DEFAULT_SEMANTIC_OFFSET

    def __post_init__(self) -> None:
        for name in ("header", "semantic", "header_offset", "semantic_offset"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"uep_mcs.{name} must be a non-negative integer, got {v!r}")

    def mcs(self, importance: int, channel_mcs: int, mcs_table: int) -> int:
        """The MCS index of a segment of ``importance`` when the channel's MCS is ``channel_mcs``."""
        if importance >= IMPORTANCE_BULK:
            return int(channel_mcs)
        which = "header" if importance <= IMPORTANCE_HEADER else "semantic"
        absolute = getattr(self, which)
        low = lowest_mcs(mcs_table)
        if absolute is not None:
            if absolute < low:
                raise ValueError(
                    f"uep_mcs.{which} = {absolute}: the PHY builds MCS {low} and up of table {mcs_table}"
                    " (code rate >= 1/5)"
                )
            return min(int(absolute), int(channel_mcs))
        return min(int(channel_mcs), max(low, int(channel_mcs) - getattr(self, f"{which}_offset")))


@dataclass(frozen=True)
class Protection:
    """A protection profile (``name`` in :data:`PROTECTIONS`) and, for ``uep``, its MCS per class."""

    name: str = "equal"
    uep: UepMcs = field(default_factory=UepMcs)

    def __post_init__(self) -> None:
        if self.name not in PROTECTIONS:
            raise ValueError(f"protection must be one of {PROTECTIONS}, got {self.name!r}")

    @classmethod
    def of(cls, value: Protection | str | None) -> Protection:
        if value is None:
            return cls()
        return value if isinstance(value, Protection) else cls(str(value))

    def mcs_for(self, segment: Segment, phy) -> int | None:
        """The MCS index ``segment`` is sent at over ``phy`` (whose MCS is the channel's; None where ``phy``
        gives a modulation order and code rate instead of an index: ``equal`` and ``separate`` only)."""
        if self.name != "uep":
            return phy.mcs_index
        if phy.mcs_index is None:
            raise ValueError("protection 'uep' needs the PHY's MCS as an index (mcs_index), not Qm + rate")
        return self.uep.mcs(segment.importance, phy.mcs_index, phy.mcs_table)


# ----------------------------------------------------------------------------------------------- planning
def group_seed(seed: int, kind: str) -> int:
    """The seed of the group carrying segment ``kind``, derived from the point's ``seed`` (31 bits, stable).

    >>> group_seed(5, "hci") == group_seed(5, "hci") != group_seed(5, "header")
    True
    """
    blob = f"{int(seed)}|segment|{kind}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Group:
    """One ``Link.transmit``: the bytes of the segments at positions ``segments`` (their kinds ``kinds``),
    over ``phy`` (the MCS of this group), with RNG ``seed``."""

    segments: tuple[int, ...]
    kinds: tuple[str, ...]
    phy: Any  # channels.PhyConfig
    data: bytes
    seed: int

    @property
    def mcs_index(self) -> int | None:
        return self.phy.mcs_index

    @property
    def slots(self) -> int:
        """Slots (transport blocks) of the first transmission (whole slots; the last block padded)."""
        from channels.mcs import slots_for_bits

        return int(slots_for_bits(self.phy, 8 * len(self.data)))

    @property
    def uses_per_slot(self) -> int:
        from channels.mcs import slot_geometry

        return int(slot_geometry(self.phy).channel_uses)

    @property
    def channel_uses(self) -> int:
        """Channel uses of the first transmission of every block of the group."""
        return self.slots * self.uses_per_slot


def plan(
    data: bytes, segments: list[Segment], protection: Protection | str | None, phy, seed: int
) -> list[Group]:
    """The groups of transport blocks ``data`` (cut into ``segments``) is sent in under ``protection``.

    ``equal`` -- or a single segment at the channel's MCS -- is one group: ``data`` with the point's
    ``seed``; otherwise one group per segment with :func:`group_seed`. An empty segment is sent in no block.
    """
    prot = Protection.of(protection)
    data = bytes(data)
    if b"".join(s.data for s in segments) != data:
        raise ValueError("the segments do not concatenate to the stream (a codec's segments() is wrong)")
    everything = tuple(range(len(segments)))
    kinds = tuple(s.kind for s in segments)
    if prot.name == "equal" or (len(segments) == 1 and prot.mcs_for(segments[0], phy) == phy.mcs_index):
        return [Group(everything, kinds, phy, data, int(seed))]
    groups = []
    for i, s in enumerate(segments):
        if s.data:
            m = prot.mcs_for(s, phy)
            at = phy if m == phy.mcs_index else with_mcs(phy, m)
            groups.append(Group((i,), (s.kind,), at, s.data, group_seed(seed, s.kind)))
    return groups


class Fit:
    """The test a codec's rate control applies to a candidate stream: cut into the codec's segments and
    planned under ``protection`` over ``phy``, does its first transmission fit ``budget_uses`` channel uses?

    Call it with the candidate's bytes. It remembers the cheapest candidate it saw (``smallest``), so that a
    budget nothing fits gets a reason naming what the protection costs (:meth:`reason`).
    """

    def __init__(
        self, codec: SourceCodec, protection: Protection | str | None, phy, budget_uses: int
    ) -> None:
        self.codec, self.protection, self.phy = codec, Protection.of(protection), phy
        self.budget_uses = int(budget_uses)
        self.smallest: tuple[int, list[Group]] | None = None

    def groups(self, data: bytes) -> list[Group]:
        return plan(data, self.codec.segments(data), self.protection, self.phy, 0)

    def uses(self, data: bytes) -> int:
        """Channel uses of the first transmission of ``data`` under this protection."""
        return sum(g.channel_uses for g in self.groups(data))

    def __call__(self, data: bytes) -> bool:
        groups = self.groups(data)
        uses = sum(g.channel_uses for g in groups)
        if self.smallest is None or uses < self.smallest[0]:
            self.smallest = (uses, groups)
        return uses <= self.budget_uses

    def reason(self) -> str:
        head = (
            f"{self.codec.name} under protection {self.protection.name!r}: no setting fits the budget of "
            f"{self.budget_uses} channel uses"
        )
        if self.smallest is None:
            return head
        uses, groups = self.smallest
        parts = ", ".join(f"{'+'.join(g.kinds)} {g.slots} slot(s) at MCS {g.mcs_index}" for g in groups)
        return f"{head}; the smallest stream needs {uses} ({parts})"


# ---------------------------------------------------------------------------------------------- reception
@dataclass
class SegmentRx:
    """What became of one segment: ``status`` (:data:`SEGMENT_STATUSES`), the channel uses spent on it
    (``uses``: retransmissions included; under ``equal`` a block shared by two segments is split between them
    by their bits in it), its size and the MCS it was sent at."""

    kind: str
    importance: int
    status: str
    uses: float
    bytes: int
    mcs_index: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "uses": self.uses, "bytes": self.bytes, "mcs": self.mcs_index}


def _transmissions(rx) -> np.ndarray:
    """Transmissions per block of a ``channels.Reception`` (all ones where the PHY has no HARQ)."""
    tx = getattr(rx, "transmissions", None)
    if tx is None:
        return np.ones(int(rx.blocks), dtype=np.int64)
    return np.asarray(tx, dtype=np.int64)


@dataclass
class LinkReception(ErrorRates):
    """The receptions of every group of one image, summed: the same fields as ``channels.Reception``
    (``payload`` = the groups' received bytes in stream order), plus the first-round channel uses and HARQ
    counts. ``groups`` and ``receptions`` keep the parts."""

    payload: bytes
    tb_crc_ok: np.ndarray
    bits: int
    bit_errors: int | None  # None: unknown (abstraction PHY mode: failed blocks are erasures)
    blocks: int
    block_errors: int
    slots: int
    channel_uses: int
    channel_uses_first: int
    transmissions: int
    harq_max_tx: int
    snr_db: float
    groups: list[Group] = field(default_factory=list)
    receptions: list[Any] = field(default_factory=list)
    #: the PHY's Shannon bound of the first round, summed over the groups (``Reception.capacity_bits``: over
    #: the data REs of every block's first transmission; 0 where the PHY does not report it), and those REs
    capacity_bits: float = 0.0
    data_res_first: int = 0


def _sum_known(values) -> int | None:
    """Sum of counts, None when any is unknown (the abstraction PHY mode does not know bit errors)."""
    values = list(values)
    return None if any(v is None for v in values) else sum(int(v) for v in values)


def combine(groups: list[Group], receptions: list[Any], harq_max_tx: int = 1, snr_db: float = float("nan")):
    """The :class:`LinkReception` of ``receptions`` (one ``channels.Reception`` per group, in order)."""
    from channels.mcs import slot_geometry

    crc = [np.asarray(rx.tb_crc_ok, dtype=bool) for rx in receptions]
    return LinkReception(
        payload=b"".join(rx.payload for rx in receptions),
        tb_crc_ok=np.concatenate(crc) if crc else np.ones(0, bool),
        bits=sum(int(rx.bits) for rx in receptions),
        bit_errors=_sum_known(rx.bit_errors for rx in receptions),
        blocks=sum(int(rx.blocks) for rx in receptions),
        block_errors=sum(int(rx.block_errors) for rx in receptions),
        slots=sum(int(rx.slots) for rx in receptions),
        channel_uses=sum(int(rx.channel_uses) for rx in receptions),
        channel_uses_first=sum(
            int(rx.blocks) * g.uses_per_slot for g, rx in zip(groups, receptions, strict=True)
        ),
        transmissions=sum(int(_transmissions(rx).sum()) for rx in receptions),
        harq_max_tx=int(harq_max_tx),
        snr_db=float(snr_db),
        groups=list(groups),
        receptions=list(receptions),
        capacity_bits=float(sum(float(getattr(rx, "capacity_bits", 0.0) or 0.0) for rx in receptions)),
        data_res_first=sum(
            int(rx.blocks) * int(slot_geometry(g.phy).data_res)
            for g, rx in zip(groups, receptions, strict=True)
        ),
    )


def _status(ok: bool, crc_error: str) -> str:
    return "delivered" if ok else ("corrupted" if crc_error == "decode" else "lost")


def segment_outcomes(
    segments: list[Segment], groups: list[Group], receptions: list[Any], crc_error: str = "decode"
) -> tuple[list[SegmentRx], list[Segment | None]]:
    """Per segment: what became of it, and what the receiver hands to ``join_segments`` (None = lost).

    One group carrying several segments (``equal``): a segment is delivered when every block holding one of
    its bits passed its CRC, else corrupted; with ``crc_error="drop"`` the receiver discards the whole stream
    as soon as any block failed, so every segment is then lost. One group per segment: the group's blocks
    decide alone.
    """
    from channels.mcs import slot_geometry

    out: list[SegmentRx | None] = [None] * len(segments)
    arrived: list[Segment | None] = [None] * len(segments)
    for g, rx in zip(groups, receptions, strict=True):
        crc = np.asarray(rx.tb_crc_ok, dtype=bool)
        per_block = _transmissions(rx) * g.uses_per_slot  # channel uses each block spent
        k = int(slot_geometry(g.phy).tb_size)  # payload bits per block
        total_bits = 8 * len(g.data)
        start = 0
        drop_all = crc_error == "drop" and not bool(np.all(crc))
        for i in g.segments:
            seg = segments[i]
            a, b = 8 * start, 8 * (start + len(seg.data))
            start += len(seg.data)
            if b == a:
                out[i] = SegmentRx(seg.kind, seg.importance, "delivered", 0.0, 0, g.mcs_index)
                arrived[i] = seg
                continue
            first, last = a // k, (b - 1) // k
            uses = 0.0
            for blk in range(first, last + 1):
                lo, hi = blk * k, min((blk + 1) * k, total_bits)
                uses += float(per_block[blk]) * (min(b, hi) - max(a, lo)) / (hi - lo)
            if len(g.segments) == 1:
                uses = float(per_block.sum())  # the padding of the last block is this segment's too
            ok = bool(np.all(crc[first : last + 1]))
            status = "lost" if drop_all else _status(ok, crc_error)
            out[i] = SegmentRx(seg.kind, seg.importance, status, uses, len(seg.data), g.mcs_index)
            a_byte = a // 8
            if status != "lost":
                arrived[i] = Segment(seg.kind, seg.importance, rx.payload[a_byte : a_byte + len(seg.data)])
    for i, seg in enumerate(segments):  # empty segments sent in no group
        if out[i] is None:
            out[i] = SegmentRx(seg.kind, seg.importance, "delivered", 0.0, 0, -1)
            arrived[i] = seg
    return [o for o in out if o is not None], arrived


def segments_table(codec: SourceCodec, outcomes: list[SegmentRx] | None) -> dict[str, dict[str, Any]]:
    """{kind: {status, uses, bytes, mcs}} of every kind the codec has, in its order (absent ones too: status
    "absent", 0 uses), then any kind it did not declare (a fallback "payload")."""
    got = {o.kind: o.as_dict() for o in outcomes or []}
    absent = {"status": "absent", "uses": 0.0, "bytes": 0, "mcs": None}
    table = {k: got.get(k, dict(absent)) for k in codec.segment_kinds}
    for k, v in got.items():
        table.setdefault(k, v)
    return table


def segments_json(codec: SourceCodec, outcomes: list[SegmentRx] | None) -> str:
    """:func:`segments_table` as JSON (the rows' ``segments_rx``)."""
    return json.dumps(segments_table(codec, outcomes))
