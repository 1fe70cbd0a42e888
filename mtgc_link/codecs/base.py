"""The source-codec interface: images in, bytes out, and back.

Images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB.
The rate of a codec is always ``8 * len(Encoded.data)``: the bytes that are actually sent,
headers included.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtgc_link.registry import Registry


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


CODECS: Registry[type[SourceCodec]] = Registry("codec")


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an input image and return it as a contiguous uint8 (H, W, 3) array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 in [0, 255], got dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)
