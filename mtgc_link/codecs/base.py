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
    "ImageShapeError",
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


class ImageShapeError(ValueError):
    """An image of a size the codec cannot code (``SourceCodec.check_shape``), refused before any work:
    ``codec``, ``shape`` (H, W) and ``allowed`` (what the codec takes) name it."""

    def __init__(self, codec: str, shape: tuple[int, int], allowed: str) -> None:
        self.codec, self.shape, self.allowed = codec, (int(shape[0]), int(shape[1])), allowed
        h, w = self.shape
        super().__init__(f"{codec}: cannot code an image of {h}x{w} (HxW); it takes {allowed}")


class SettingError(ValueError):
    """A codec setting the codec would refuse (``SourceCodec.check_settings``); ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


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
    #: True when building the codec is cheap (no model weights loaded, no process started), so that
    #: ``check_settings`` may build one to run the constructor's own value checks. A codec whose constructor
    #: loads models sets False (its settings are then checked against the signature and annotations only).
    cheap_init: bool = True
    #: Image sizes the codec codes (``check_shape``, run before every ``encode``): each side in
    #: ``min_side..max_side`` (None: no upper bound) and at most ``max_pixels`` pixels (the instance's
    #: ``max_pixels`` setting where it has one: its decoder refuses larger pictures; None: no bound).
    min_side: int = 1
    max_side: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every ``encode`` a subclass defines runs ``check_shape`` first, so a size the codec cannot code
        is an ``ImageShapeError`` before any work (never a library's own error half-way through)."""
        super().__init_subclass__(**kwargs)
        encode = cls.__dict__.get("encode")
        if encode is None or getattr(encode, "__isabstractmethod__", False):
            return
        if getattr(encode, "_checks_shape", False):
            return
        import functools

        @functools.wraps(encode)
        def checked_encode(self: SourceCodec, image: Any, *args: Any, **kw: Any) -> Encoded:
            self.check_shape(image)
            return encode(self, image, *args, **kw)

        checked_encode._checks_shape = True  # type: ignore[attr-defined]
        cls.encode = checked_encode  # type: ignore[method-assign]

    def check_shape(self, image: Any) -> None:
        """Raise ``ImageShapeError`` when ``image``'s size is outside ``min_side``, ``max_side`` and
        ``max_pixels``. Anything that is not an array of at least 2 dimensions is left to ``check_image``."""
        if not isinstance(image, np.ndarray) or image.ndim < 2:
            return
        h, w = int(image.shape[0]), int(image.shape[1])
        max_pixels = getattr(self, "max_pixels", None)
        if min(h, w) < self.min_side or (self.max_side is not None and max(h, w) > self.max_side):
            top = f"..{self.max_side}" if self.max_side is not None else " or more"
            allowed = f"{self.min_side}{top} px a side"
        elif max_pixels is not None and h * w > max_pixels:
            allowed = f"at most max_pixels={max_pixels} pixels"
        else:
            return
        if max_pixels is not None and "max_pixels" not in allowed:
            allowed += f" and at most max_pixels={max_pixels} pixels"
        raise ImageShapeError(self.name, (h, w), allowed)

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> None:
        """Refuse, before any work, settings that ``cls(**settings)`` would refuse: raise ``SettingError``
        naming the key. Checks the keys against the constructor's signature (following ``**kw`` to the base
        classes), the values against its annotations (a bool is True/False, not the text "false"; an int is
        integral; floats are finite), :data:`COMMON_SETTING_RANGES`, then (``cheap_init``) builds one."""
        check_codec_settings(cls, settings)

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


#: Settings several codecs take with one meaning, and their allowed range (inclusive; None: unbounded).
COMMON_SETTING_RANGES: dict[str, tuple[int | None, int | None]] = {"max_pixels": (1, None)}


def _init_signature(cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters, type hints) of ``cls``'s constructor, following ``**kw`` up the MRO (a subclass that
    passes ``**kw`` on takes its base's settings too)."""
    import inspect
    import typing

    params: dict[str, Any] = {}
    hints: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            break
        try:
            klass_hints = typing.get_type_hints(init)
        except Exception:  # unresolvable annotations: no type checks for this class
            klass_hints = {}
        more = False
        for name, p in list(inspect.signature(init).parameters.items())[1:]:  # skip self
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind is not p.VAR_POSITIONAL and name not in params:
                params[name] = p
                if name in klass_hints:
                    hints[name] = klass_hints[name]
        if not more:
            break
    return params, hints


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None: it fits, or the hint is not checked)."""
    import math
    import os
    import types
    import typing

    if hint is None or hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else f"expected one of {', '.join(map(repr, allowed))}, got {value!r}"
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None if len(kinds) < len(typing.get_args(hint)) else f"expected a value, got {value!r}"
        problems = [_type_problem(value, k) for k in kinds]
        return None if any(p is None for p in problems) else next(p for p in problems if p)
    if not isinstance(hint, type):
        return None
    if issubclass(hint, bool):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if issubclass(hint, int):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and value == int(value)
        return None if ok else f"expected an integer, got {value!r}"
    if issubclass(hint, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok and math.isfinite(value) else f"expected a finite number, got {value!r}"
    if issubclass(hint, str):  # YAML reads `chroma: 420` as a number: the constructor converts it
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        return None if ok else f"expected text, got {value!r}"
    if issubclass(hint, os.PathLike):
        return None if isinstance(value, str | os.PathLike) else f"expected a path, got {value!r}"
    return None


def check_codec_settings(cls: type[SourceCodec], settings: dict[str, Any]) -> None:
    """The default ``SourceCodec.check_settings`` (see there)."""
    if not isinstance(settings, dict):
        raise SettingError("settings", f"expected a mapping of setting names to values, got {settings!r}")
    params, hints = _init_signature(cls)
    name = getattr(cls, "name", cls.__name__)
    for key, value in settings.items():
        if key not in params:
            takes = ", ".join(sorted(params)) or "no settings"
            raise SettingError(key, f"{name} has no setting {key!r}; it takes: {takes}")
        problem = _type_problem(value, hints.get(key))
        if problem:
            raise SettingError(key, problem)
        lo, hi = COMMON_SETTING_RANGES.get(key, (None, None))
        if value is not None and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            span = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in {lo}..{hi}"
            raise SettingError(key, f"must be {span}, got {value!r}")
    if cls.cheap_init:
        try:
            cls(**settings)
        except (TypeError, ValueError) as exc:
            message = " ".join(str(exc.args[0] if exc.args else exc).split())
            key = next((k for k in sorted(settings, key=len, reverse=True) if k in message), "settings")
            raise SettingError(key, message) from None
