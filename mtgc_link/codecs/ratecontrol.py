"""Rate control and the resolution ladder, shared by every classical codec.

Rate control: with ``max_bits`` the codec tries quality levels ordered worst -> best and keeps the best
one whose *actual* encoded size (headers included) fits. Bisection over the level index: a handful of
encodes, the same choice every time for the same image (encoders here are deterministic). If sizes are
not monotonic in the level, the result still fits; it may just not be the very best level.

Resolution ladder: every codec has a floor (its smallest stream at its worst quality, e.g. BPG about
0.04 bpp on Kodak). Below it the image is downscaled by 2, 4 or 8 (``LADDER``), encoded, and upscaled
back to the original size after decoding; the step is recorded in the stream. A budget below the
floor of the coarsest step raises ``RateControlError`` carrying that minimum.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mtgc_link.codecs.base import Decoded, Encoded, RateControlError, SourceCodec, check_image
from mtgc_link.codecs.sandbox import safe_call

LADDER: tuple[int, ...] = (1, 2, 4, 8)
"""Downscale factor per ladder step (step 0 = full resolution)."""


def ladder_factor(step: int) -> int:
    if not 0 <= step < len(LADDER):
        raise ValueError(f"ladder step must be in 0..{len(LADDER) - 1}, got {step}")
    return LADDER[step]


def scaled_size(height: int, width: int, step: int) -> tuple[int, int]:
    """(H, W) of the image coded at ladder ``step``: ceil(H / f), ceil(W / f)."""
    f = ladder_factor(step)
    return -(-height // f), -(-width // f)


def downscale(image: np.ndarray, step: int) -> np.ndarray:
    """Anti-aliased (Lanczos) downscale of a uint8 (H, W, 3) image to ``scaled_size``."""
    if step == 0:
        return image
    h, w = scaled_size(image.shape[0], image.shape[1], step)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS))


def upscale(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic upscale of a uint8 (h, w, 3) image back to (height, width, 3)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


# -- the one-byte ladder header of the Pillow-based codecs -----------------------------------------------
# bits 7-6: ladder step; bits 5-3: f*h' - H; bits 2-0: f*w' - W (h', w' = coded size, f = factor).
# The coded size comes from the codec's own bitstream, so one byte restores the original size.


def pack_ladder_byte(height: int, width: int, step: int) -> bytes:
    f = ladder_factor(step)
    h, w = scaled_size(height, width, step)
    return bytes([(step << 6) | ((f * h - height) << 3) | (f * w - width)])


def unpack_ladder_byte(byte: int, coded_h: int, coded_w: int) -> tuple[int, int, int]:
    """(step, H, W) from the header byte and the coded size; ValueError when inconsistent."""
    step, rh, rw = byte >> 6, (byte >> 3) & 7, byte & 7
    f = ladder_factor(step)
    if rh >= f or rw >= f:
        raise ValueError(f"ladder header byte 0x{byte:02x} is inconsistent with step {step}")
    return step, f * coded_h - rh, f * coded_w - rw


# -- bisection ---------------------------------------------------------------------------------------------
@dataclass
class Fit:
    """The chosen encoding: ``data`` (the full stream), its ``level`` and ladder ``step``."""

    data: bytes
    level: float
    step: int
    encodes: int


def fit_levels(
    encode_at: Callable[[float, int], bytes],
    levels: Sequence[float],
    max_bits: int,
    codec: str,
    steps: Sequence[int] = tuple(range(len(LADDER))),
) -> Fit:
    """Best ``level`` (ordered worst -> best) whose stream fits ``max_bits``, at the finest ladder step.

    ``encode_at(level, step)`` returns the complete stream (headers included). Raises
    ``RateControlError(min_bits=...)`` when even the worst level at the coarsest step is too big.
    """
    if max_bits <= 0:
        raise RateControlError(codec, max_bits)
    n_enc = 0
    smallest = None
    for step in steps:
        cache: dict[int, bytes] = {}

        def fits(i: int, step: int = step, cache: dict[int, bytes] = cache) -> bool:
            nonlocal n_enc
            if i not in cache:
                cache[i] = encode_at(levels[i], step)
                n_enc += 1
            return 8 * len(cache[i]) <= max_bits

        if not fits(0):
            smallest = min(8 * len(cache[0]), smallest or 8 * len(cache[0]))
            continue
        lo, hi = 0, len(levels)  # invariant: levels[lo] fits; levels[hi] does not (or is past the end)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return Fit(cache[lo], levels[lo], step, n_enc)
    raise RateControlError(codec, max_bits, smallest)


def fit_rate(
    encode_at: Callable[[float, int], bytes],
    max_bits: int,
    codec: str,
    n_pixels: int,
    min_bpp: float,
    steps: Sequence[int] = tuple(range(len(LADDER))),
    tries: int = 6,
) -> Fit:
    """Rate control for codecs whose knob *is* a rate (JPEG 2000: target bpp of the coded image).

    Aim at ``max_bits``; when the stream overshoots, scale the target down by the overshoot (plus 1 %)
    and retry. Deterministic. Falls down the ladder when even ``min_bpp`` overshoots.
    """
    if max_bits <= 0:
        raise RateControlError(codec, max_bits)
    n_enc = 0
    smallest = None
    for step in steps:
        pixels = math.ceil(n_pixels / ladder_factor(step) ** 2)
        target = max_bits / pixels
        for _ in range(tries):
            target = max(target, min_bpp)
            data = encode_at(target, step)
            n_enc += 1
            bits = 8 * len(data)
            if bits <= max_bits:
                return Fit(data, target, step, n_enc)
            smallest = bits if smallest is None else min(smallest, bits)
            if target <= min_bpp:
                break
            target *= 0.99 * max_bits / bits
    raise RateControlError(codec, max_bits, smallest)


# -- the base of the classical codecs ------------------------------------------------------------------------
class LadderCodec(SourceCodec):
    """A codec with one quality knob, bisection rate control and the resolution ladder.

    Subclasses define ``levels`` (the knob's values, worst -> best), ``default_quality``,
    ``encode_stream`` (one encode of an already downscaled image) and ``decode_plan`` / ``finish``
    (cheap in-process checks, the sandboxed decode call, and restoring the original size).
    """

    levels: Sequence[float] = ()
    default_quality: float = 0
    knob: str = "quality"
    steps: Sequence[int] = tuple(range(len(LADDER)))

    def check_quality(self, quality: float) -> float:
        lo, hi = min(self.levels), max(self.levels)
        if not isinstance(quality, int | float) or not lo <= quality <= hi or quality != int(quality):
            raise ValueError(
                f"{self.name}: quality ({self.knob}) must be an integer in {lo}..{hi}, got {quality!r}"
            )
        return int(quality)

    @abstractmethod
    def encode_stream(self, coded: np.ndarray, level: float, height: int, width: int, step: int) -> bytes:
        """The complete stream (our header + codec bytes) for ``coded`` = ``image`` at ladder ``step``."""

    def encode_at(self, image: np.ndarray, level: float, step: int) -> bytes:
        return self.encode_stream(downscale(image, step), level, image.shape[0], image.shape[1], step)

    def rate_control(self, image: np.ndarray, max_bits: int) -> Fit:
        return fit_levels(
            lambda q, s: self.encode_at(image, q, s), self.levels, max_bits, self.name, self.steps
        )

    def encode(self, image: np.ndarray, max_bits: int | None = None, quality: float | None = None) -> Encoded:
        image = check_image(image)
        if max_bits is not None and quality is not None:
            raise ValueError(f"{self.name}: give max_bits or quality, not both")
        if max_bits is not None:
            if isinstance(max_bits, bool) or not isinstance(max_bits, int | np.integer):
                raise TypeError(f"{self.name}: max_bits must be an int, got {type(max_bits).__name__}")
            fit = self.rate_control(image, int(max_bits))
        else:
            level = self.check_quality(self.default_quality if quality is None else quality)
            fit = Fit(self.encode_at(image, level, 0), level, 0, 1)
        h, w = image.shape[:2]
        info = {
            "codec": self.name,
            "backend": self.backend,
            "quality": fit.level,
            "ladder_step": fit.step,
            "scale": 1 / LADDER[fit.step],
            "coded_size": list(scaled_size(h, w, fit.step)),
            "bits": 8 * len(fit.data),
            "bpp": 8 * len(fit.data) / (h * w),
            "encodes": fit.encodes,
            "max_bits": max_bits,
        }
        return Encoded(fit.data, info)

    @abstractmethod
    def decode_plan(self, data: bytes) -> tuple[str, bytes, dict[str, Any]]:
        """Cheap in-process validation; returns the sandboxed call ``(fn, payload, kwargs)``.
        Raises ValueError with the reason when ``data`` is obviously not a stream of this codec."""

    @abstractmethod
    def finish(self, data: bytes, coded: np.ndarray) -> tuple[int, int, int]:
        """Check the sandbox output against the header; returns ``(step, H, W)`` or raises ValueError."""

    def decode(self, data: bytes) -> Decoded:
        if not isinstance(data, bytes | bytearray | memoryview):
            return Decoded.failure(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        try:
            fn, payload, kwargs = self.decode_plan(data)
        except ValueError as exc:
            return Decoded.failure(str(exc), backend=self.backend)
        res = safe_call(fn, payload, **kwargs)
        if res.array is None:
            return Decoded.failure(res.reason or "decoder failed", backend=self.backend)
        coded = res.array
        try:
            if coded.ndim != 3 or coded.shape[2] != 3:
                raise ValueError(f"decoder returned shape {coded.shape}, expected (h, w, 3)")
            step, h, w = self.finish(data, coded)
            image = upscale(coded, h, w)
        except ValueError as exc:
            return Decoded.failure(str(exc), backend=self.backend)
        info = {"backend": self.backend, "ladder_step": step, "coded_size": list(coded.shape[:2])}
        if not image.flags.writeable:  # buffers from the sandbox pipe are read-only
            image = image.copy()
        return Decoded(np.ascontiguousarray(image), True, None, info)
