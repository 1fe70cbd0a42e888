"""The source-codec interface: images in, bytes out, and back.

Images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB (``mtgc_link.images``; ``check_image``
validates them and is re-exported here).
The rate of a codec is always ``8 * len(Encoded.data)``: the bytes that are actually sent,
headers included.

A codec also says how its stream splits into ordered :class:`Segment` s of different importance
(``segments`` / ``join_segments``), so that the transport (``mtgc_link.transport``) can send each segment in
transport blocks of its own and protect the important ones more (docs/link.md, "Semantic-aware transport").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtgc_link.images import check_image
from mtgc_link.registry import Registry

__all__ = [
    "CODECS",
    "IMPORTANCE_BULK",
    "IMPORTANCE_HEADER",
    "IMPORTANCE_SEMANTIC",
    "Decoded",
    "Encoded",
    "FitTest",
    "RateControlError",
    "Segment",
    "SegmentsLost",
    "SourceCodec",
    "check_image",
]

#: Importance of a segment (lower = more important). The transport gives each class its own MCS under
#: unequal error protection: ``header`` (without it nothing decodes), ``semantic`` (small guidance the
#: decoder can do without), ``bulk`` (the rest, at the channel's MCS).
IMPORTANCE_HEADER = 0
IMPORTANCE_SEMANTIC = 1
IMPORTANCE_BULK = 2


class RateControlError(ValueError):
    """No setting of the codec fits ``max_bits`` (a typed outcome, not a crash)."""

    def __init__(self, codec: str, max_bits: int, min_bits: int | None = None) -> None:
        self.codec, self.max_bits, self.min_bits = codec, max_bits, min_bits
        floor = f"; the smallest it can send is {min_bits} bits" if min_bits is not None else ""
        super().__init__(f"{codec}: no setting fits max_bits={max_bits}{floor}")


@dataclass(frozen=True)
class Segment:
    """One part of a codec's stream: ``kind`` (e.g. "header", "hci", "payload"), ``importance`` (lower =
    more important; see ``IMPORTANCE_*``) and its bytes. ``SourceCodec.segments`` lists them in stream
    order, so that the stream is the concatenation of their ``data``."""

    kind: str
    importance: int
    data: bytes


class SegmentsLost(ValueError):
    """``join_segments`` cannot build a stream worth decoding from what arrived (a typed outcome, not a
    crash): e.g. the MTGC header was lost. ``failure`` names the case for ``Decoded.info["failure"]``."""

    def __init__(self, reason: str, failure: str = "segment_lost") -> None:
        self.failure = failure
        super().__init__(reason)


@dataclass
class Encoded:
    data: bytes
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return 8 * len(self.data)


@dataclass
class Decoded:
    """Result of decoding. ``ok=False`` carries a human-readable ``reason`` and ``image=None``."""

    image: np.ndarray | None
    ok: bool
    reason: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, reason: str, **info: Any) -> Decoded:
        return cls(image=None, ok=False, reason=reason, info=dict(info))


class SourceCodec(ABC):
    """Base class for every source codec. Subclasses register with ``@CODECS.register(name)``."""

    name: str = "codec"
    #: True for codecs with a caption modality: ``encode`` then takes ``image_caption=`` (the image set's
    #: caption, used when no other caption source is configured).
    takes_caption: bool = False
    #: The segment kinds this codec's streams can hold, in stream order (``segments`` returns a subset).
    segment_kinds: tuple[str, ...] = ("payload",)
    #: True for codecs whose ``encode`` takes ``fits=`` (a predicate on the candidate stream: the transport's
    #: "does the protected stream fit the budget?"), so that their own rate control picks the setting. For the
    #: others ``link.encode_for_budget`` searches ``max_bits`` downwards (see there).
    supports_fit: bool = False

    @property
    def backend(self) -> str:
        """Which implementation ran (e.g. 'bpgenc' or 'libx265-pyav'); recorded in every result."""
        return self.name

    def settings(self) -> dict[str, Any]:
        """Settings that change the decoder's output; part of the sweep's decode-cache key."""
        return {}

    @abstractmethod
    def encode(self, image: np.ndarray, max_bits: int | None = None, quality: float | None = None) -> Encoded:
        """Encode ``image``; with ``max_bits`` pick the best setting that fits (else RateControlError)."""

    @abstractmethod
    def decode(self, data: bytes) -> Decoded:
        """Decode ``data``. Never raises on corrupted input: returns ``Decoded.failure(reason)``."""

    # ------------------------------------------------------------------ segments (for the transport)
    def segments(self, data: bytes) -> list[Segment]:
        """The stream ``data`` as ordered segments (their ``data`` concatenated is ``data``).

        Default: one ``payload`` segment of bulk importance. The classical image codecs keep it: their
        header and body are not separately useful (a lost body leaves nothing to show, a lost header makes the
        body unreadable), so splitting them would only cost a padded transport block (docs/link.md).
        """
        return [Segment("payload", IMPORTANCE_BULK, bytes(data))]

    def join_segments(self, received: list[Segment | None]) -> bytes:
        """The stream to decode from what arrived: ``received[i]`` is what arrived of the sender's i-th
        segment (``segments(sent)[i]``): its bytes, possibly corrupted, or None when it was lost.

        Default: the concatenation; a lost segment leaves nothing decodable (``SegmentsLost``).
        """
        lost = [i for i, s in enumerate(received) if s is None]
        if lost:
            raise SegmentsLost(f"{self.name}: segment(s) {lost} lost in transport", failure="segment_lost")
        return b"".join(s.data for s in received)


#: ``fits(data) -> bool``: the transport's test of a candidate stream (see ``SourceCodec.supports_fit``).
FitTest = Callable[[bytes], bool]


#: The codec registry. Built-ins: every public module (and sub-package) of ``mtgc_link.codecs``, imported on
#: the first look-up; third-party codecs: entry points of the group ``mtgc_link.codecs`` (see registry.py).
CODECS: Registry[type[SourceCodec]] = Registry(
    "codec", package="mtgc_link.codecs", entry_points="mtgc_link.codecs"
)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def coerce_settings(cls: type, raw: dict[str, str]) -> dict[str, Any]:
    """Text settings (``--set key=value``) -> the types ``cls.__init__`` declares.

    bool: true/false, yes/no, on/off, 1/0 (any case); int and float: their literals; a str setting stays the
    text as written (``caption=42`` is the caption "42"); an optional setting takes ``none``/``null`` as
    None. A key the constructor does not take is left for it to refuse. Raises ValueError naming the key.

    >>> from mtgc_link.codecs.bpg import BpgCodec
    >>> coerce_settings(BpgCodec, {"strict": "false", "bit_depth": "10", "chroma": "420"})
    {'strict': False, 'bit_depth': 10, 'chroma': '420'}
    """
    import inspect
    import types
    import typing

    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to literals
        hints = {}
    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    for key, text in raw.items():
        hint = hints.get(key)
        if hint is None and key not in params:
            out[key] = _literal(text)
            continue
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) else ()
        kinds = [a for a in args if a is not type(None)] if args else ([hint] if hint is not None else [])
        optional = type(None) in args
        low = text.strip().lower()
        if optional and low in ("none", "null"):
            out[key] = None
        elif str in kinds or any(isinstance(k, type) and issubclass(k, str) for k in kinds):
            out[key] = text
        elif bool in kinds:
            if low not in _TRUE + _FALSE:
                raise ValueError(f"setting {key}: expected true or false, got {text!r}")
            out[key] = low in _TRUE
        elif int in kinds:
            try:
                out[key] = int(text)
            except ValueError:
                raise ValueError(f"setting {key}: expected an integer, got {text!r}") from None
        elif float in kinds:
            try:
                out[key] = float(text)
            except ValueError:
                raise ValueError(f"setting {key}: expected a number, got {text!r}") from None
        else:
            out[key] = _literal(text)
    return out


def _literal(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text
