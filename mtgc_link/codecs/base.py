"""The source-codec interface: images in, bytes out, and back.

Images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB (``mtgc_link.images``; ``check_image``
validates them and is re-exported here).
The rate of a codec is always ``8 * len(Encoded.data)``: the bytes that are actually sent,
headers included.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtgc_link.images import check_image
from mtgc_link.registry import Registry

__all__ = ["CODECS", "Decoded", "Encoded", "RateControlError", "SourceCodec", "check_image"]


class RateControlError(ValueError):
    """No setting of the codec fits ``max_bits`` (a typed outcome, not a crash)."""

    def __init__(self, codec: str, max_bits: int, min_bits: int | None = None) -> None:
        self.codec, self.max_bits, self.min_bits = codec, max_bits, min_bits
        floor = f"; the smallest it can send is {min_bits} bits" if min_bits is not None else ""
        super().__init__(f"{codec}: no setting fits max_bits={max_bits}{floor}")


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


#: The codec registry. Built-ins: every public module (and sub-package) of ``mtgc_link.codecs``, imported on
#: the first look-up; third-party codecs: entry points of the group ``mtgc_link.codecs`` (see registry.py).
CODECS: Registry[type[SourceCodec]] = Registry(
    "codec", package="mtgc_link.codecs", entry_points="mtgc_link.codecs"
)
