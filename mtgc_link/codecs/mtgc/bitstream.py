"""The MTGC bitstream: a CRC-protected header and one CRC-protected segment per modality.

Layout (version 1, all integers big-endian; docs/mtgc.md has the table and the reasons)::

    header   magic "MT" (2) | version (1) | profile id (1) | height (2) | width (2) | flags (1)
             | seed (4) | K (1) | HCI scale (1) | steps (1) | one u16 length per present segment (2 each)
             | CRC-32 of all header bytes before it (4)
    segments for each present modality, in the order caption, hci, spw: payload | CRC-16/CCITT (2)

A segment whose CRC fails (or that is cut short) is dropped and decoding goes on without it; the header
cannot be dropped: a bad header is a ``HeaderError`` (typed failure). Segment lengths live in the
CRC-protected header, so a corrupted segment never shifts the boundaries of the others.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"MT"
VERSION = 1
MODALITIES = ("caption", "hci", "spw")  # segment order == flag bit order
FLAG_BITS = {name: 1 << i for i, name in enumerate(MODALITIES)}
PROFILE_IDS = {
    "custom": 0,
    "tiny": 1,
    "reference": 2,
    "compact": 3,
}  # 0: a trained folder; not checked against the decoder
MAX_SEGMENT = 0xFFFF
_FIXED = struct.Struct(">2sBBHHBIBBB")  # magic .. steps (16 bytes)
HEADER_CRC_BYTES = 4
SEGMENT_CRC_BYTES = 2


class HeaderError(ValueError):
    """The header cannot be recovered. ``kind`` is one of: truncated, magic, version, crc, field."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        super().__init__(reason)


@dataclass(frozen=True)
class Header:
    """Decoder settings carried in the stream. ``modalities``: segments present, in ``MODALITIES`` order."""

    profile_id: int
    height: int
    width: int
    seed: int
    k: int
    hci_scale: int
    steps: int
    modalities: tuple[str, ...] = ()
    version: int = VERSION

    def __post_init__(self) -> None:
        limits = {
            "profile_id": 255,
            "height": 0xFFFF,
            "width": 0xFFFF,
            "seed": 0xFFFFFFFF,
            "k": 255,
            "hci_scale": 255,
            "steps": 255,
        }
        for name, hi in limits.items():
            v = getattr(self, name)
            lo = 1 if name in ("height", "width", "hci_scale", "steps") else 0
            if not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"header field {name} must be an integer in {lo}..{hi}, got {v!r}")
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; known: {MODALITIES}")
        if self.version != VERSION:
            raise ValueError(f"header field version must be {VERSION}, got {self.version}")

    @property
    def flags(self) -> int:
        return sum(FLAG_BITS[m] for m in self.modalities)


@dataclass
class Bitstream:
    """A parsed stream. ``segments``: payloads whose CRC passed; ``dropped``: name -> why it was dropped.

    ``spans``: name -> (start, end) byte range of each segment *including its CRC* in the stream
    (plus ``"header"``), for unequal error protection by the link.
    """

    header: Header
    segments: dict[str, bytes]
    dropped: dict[str, str] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    trailing_bytes: int = 0

    def sizes(self) -> dict[str, int]:
        """Bytes per part (header, then each present segment with its CRC): these sum to the stream size."""
        return {name: end - start for name, (start, end) in self.spans.items()}


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), from the standard library."""
    return binascii.crc_hqx(data, 0xFFFF)


def header_size(n_segments: int) -> int:
    return _FIXED.size + 2 * n_segments + HEADER_CRC_BYTES


def pack_bitstream(header: Header, payloads: dict[str, bytes]) -> bytes:
    """Header + segments -> bytes. ``payloads`` must hold exactly ``header.modalities``."""
    if set(payloads) != set(header.modalities):
        raise ValueError(f"payloads {sorted(payloads)} != header modalities {list(header.modalities)}")
    order = [m for m in MODALITIES if m in header.modalities]
    for m in order:
        if len(payloads[m]) > MAX_SEGMENT:
            raise ValueError(
                f"segment {m} is {len(payloads[m])} bytes; at most {MAX_SEGMENT} fit its length field"
            )
    head = _FIXED.pack(
        MAGIC,
        header.version,
        header.profile_id,
        header.height,
        header.width,
        header.flags,
        header.seed,
        header.k,
        header.hci_scale,
        header.steps,
    )
    head += b"".join(struct.pack(">H", len(payloads[m])) for m in order)
    out = [head, struct.pack(">I", zlib.crc32(head))]
    for m in order:
        out += [payloads[m], struct.pack(">H", crc16(payloads[m]))]
    return b"".join(out)


def parse_header(data: bytes) -> tuple[Header, dict[str, int], int]:
    """-> (header, segment lengths, header size in bytes). Raises HeaderError."""
    if len(data) < _FIXED.size:
        raise HeaderError("truncated", f"stream is {len(data)} bytes; the header alone needs {_FIXED.size}+")
    magic, version, profile_id, h, w, flags, seed, k, scale, steps = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise HeaderError("magic", f"not an MTGC stream (magic {magic!r}, expected {MAGIC!r})")
    order = [m for m in MODALITIES if flags & FLAG_BITS[m]]
    size = header_size(len(order))
    if len(data) < size:
        raise HeaderError("truncated", f"stream is {len(data)} bytes; its header needs {size}")
    body = data[: size - HEADER_CRC_BYTES]
    (crc,) = struct.unpack_from(">I", data, size - HEADER_CRC_BYTES)
    if zlib.crc32(body) != crc:
        raise HeaderError("crc", "header CRC-32 mismatch: the header is corrupted")
    # Checked after the CRC so that a corrupted version byte reads as corruption, not as a new format.
    if version != VERSION:
        raise HeaderError("version", f"MTGC bitstream version {version} is not supported (this is {VERSION})")
    if flags & ~sum(FLAG_BITS.values()):
        raise HeaderError("field", f"header flags 0x{flags:02x} set unknown modality bits")
    try:
        header = Header(profile_id, h, w, seed, k, scale, steps, tuple(order), version)
    except ValueError as exc:
        raise HeaderError("field", str(exc)) from None
    lengths = {m: struct.unpack_from(">H", data, _FIXED.size + 2 * i)[0] for i, m in enumerate(order)}
    return header, lengths, size


def parse_bitstream(data: bytes) -> Bitstream:
    """bytes -> Bitstream (segments with a bad or missing CRC are dropped). Raises HeaderError."""
    data = bytes(data)
    header, lengths, pos = parse_header(data)
    stream = Bitstream(header, {}, spans={"header": (0, pos)})
    for m in header.modalities:
        end = pos + lengths[m] + SEGMENT_CRC_BYTES
        stream.spans[m] = (pos, end)
        if end > len(data):
            stream.dropped[m] = f"truncated ({max(0, len(data) - pos)} of {end - pos} bytes)"
        else:
            payload = data[pos : end - SEGMENT_CRC_BYTES]
            (crc,) = struct.unpack_from(">H", data, end - SEGMENT_CRC_BYTES)
            if crc16(payload) == crc:
                stream.segments[m] = payload
            else:
                stream.dropped[m] = "CRC-16 mismatch"
        pos = end
    stream.trailing_bytes = max(0, len(data) - pos)
    return stream


# ------------------------------------------------------------------------------- segments for the transport
# The transport (mtgc_link.transport) may send the header and each segment in transport blocks of their own.
# These two functions cut a stream into those parts and put it back together from what arrived; the byte
# format above is untouched: a stream is always exactly its parts concatenated.


def split_parts(data: bytes) -> list[tuple[str, bytes]]:
    """The stream as ``[("header", bytes), (modality, payload + CRC-16), ...]`` in stream order (the byte
    spans of :func:`parse_bitstream`); joined they are ``data``. Raises HeaderError, and ValueError for a
    stream that is not whole (a segment cut short, or bytes after the last one)."""
    data = bytes(data)
    stream = parse_bitstream(data)
    if stream.trailing_bytes or any(end > len(data) for _, end in stream.spans.values()):
        raise ValueError("not a whole MTGC stream (a segment is cut short or bytes follow the last one)")
    return [(name, data[start:end]) for name, (start, end) in stream.spans.items()]


def erasure(size: int) -> bytes:
    """``size`` bytes (>= 2) standing for a segment that was lost: zeros and a CRC-16 that never matches
    them, so the parser drops that segment ("CRC-16 mismatch") and every other one keeps its place."""
    if size < SEGMENT_CRC_BYTES:
        raise ValueError(f"a segment has at least {SEGMENT_CRC_BYTES} bytes (its CRC), got {size}")
    body = bytes(size - SEGMENT_CRC_BYTES)
    return body + struct.pack(">H", crc16(body) ^ 0xFFFF)


def join_parts(header: bytes, parts: list[bytes | None]) -> bytes:
    """Inverse of :func:`split_parts` from what arrived: ``header`` (possibly corrupted) and ``parts[j]``,
    the j-th segment after it (payload + CRC, possibly corrupted) or None when it was lost.

    A lost segment becomes an :func:`erasure` of the length the header gives it, so the decoder drops exactly
    that modality. A header whose CRC fails gives no lengths (nor one that disagrees with the parts): the
    parts are concatenated as they are (lost ones as nothing) and the decoder reports what it finds.
    """
    header = bytes(header)
    as_they_are = header + b"".join(p or b"" for p in parts)
    try:
        _, lengths, size = parse_header(header)
    except HeaderError:
        return as_they_are
    if size != len(header) or len(parts) != len(lengths):  # only a corruption under a valid CRC-32
        return as_they_are
    out = [header]
    for m, part in zip(lengths, parts, strict=True):
        out.append(bytes(part) if part is not None else erasure(lengths[m] + SEGMENT_CRC_BYTES))
    return b"".join(out)
