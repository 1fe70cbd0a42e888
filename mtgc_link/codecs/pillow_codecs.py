"""Pillow-based codecs: ``avif`` (libavif + libaom, decoded by dav1d), ``jpeg2000`` (OpenJPEG), ``webp``
(libwebp), and the shared ``PillowCodec`` base that ``jpeg`` also uses.

Stream layout: one ladder byte (see ``ratecontrol.pack_ladder_byte``) followed by the file exactly as
Pillow writes it (JPEG/JFIF, AVIF/ISOBMFF, raw J2K codestream, WebP/RIFF). The rate counts both.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from typing import Any

import numpy as np
from PIL import Image, features

from mtgc_link.codecs.base import CODECS
from mtgc_link.codecs.ratecontrol import Fit, LadderCodec, fit_rate, pack_ladder_byte, unpack_ladder_byte
from mtgc_link.images import MAX_PIXELS

DEFAULT_MAX_PIXELS = MAX_PIXELS  # a corrupted header claiming more is refused before allocating (old name)


def pillow_decode(data: bytes, fmt: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode one image file with Pillow (runs inside the sandbox). Returns uint8 (h, w, 3) RGB.

    A header claiming more than ``max_pixels`` is refused before any pixel is decoded (Pillow's own
    decompression-bomb limit, about 179 Mpx, gives the same message)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit is checked below
            im = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        claim = f"{found.group(1)} pixels" if found else "too many pixels"
        raise ValueError(f"header claims {claim} (limit {max_pixels} pixels)") from None
    with im:
        w, h = im.size
        if w * h > max_pixels or w < 1 or h < 1:
            raise ValueError(f"header claims a {w}x{h} image (limit {max_pixels} pixels)")
        im.load()
        return np.asarray(im.convert("RGB"))


class PillowCodec(LadderCodec):
    """Base of the codecs that Pillow encodes and decodes. Subclasses set ``fmt``, ``magic`` and
    ``save_options``."""

    fmt: str = ""
    magic: tuple[bytes, ...] = ()
    library: str = ""

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = int(max_pixels)

    @property
    def backend(self) -> str:
        return f"pillow-{self.library}"

    def backend_version(self) -> str:
        return f"pillow {Image.__version__}"

    def save_options(self, level: float, coded: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def encode_stream(self, coded: np.ndarray, level: float, height: int, width: int, step: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(coded).save(buf, self.fmt, **self.save_options(level, coded))
        return pack_ladder_byte(height, width, step) + buf.getvalue()

    def decode_plan(self, data: bytes) -> tuple[str, bytes, dict[str, Any]]:
        if len(data) < 2:
            raise ValueError(f"{self.name}: stream of {len(data)} bytes is too short")
        unpack_ladder_byte(data[0], 1, 1)  # step and residual bits must be consistent
        payload = data[1:]
        if not any(payload.startswith(m) for m in self.magic):
            raise ValueError(f"{self.name}: not a {self.fmt} stream (bad signature {payload[:4].hex()})")
        kwargs = {"fmt": self.fmt, "max_pixels": self.max_pixels}
        return "mtgc_link.codecs.pillow_codecs:pillow_decode", payload, kwargs

    def finish(self, data: bytes, coded: np.ndarray) -> tuple[int, int, int]:
        return unpack_ladder_byte(data[0], coded.shape[0], coded.shape[1])


def _chroma(value: str) -> str:
    value = str(value).replace(":", "")
    if value not in ("420", "444"):
        raise ValueError(f"chroma must be '420' or '444', got {value!r}")
    return value


@CODECS.register("avif")
class AvifCodec(PillowCodec):
    """AV1 intra in AVIF via Pillow's libavif (encoder libaom, tuned for PSNR; decoder dav1d).

    Knob: ``quality`` 0..100 (libavif's, 100 = best). ``speed`` 0..10 (libaom cpu-used; 6 is
    Pillow's default, 2 gains ~0.3-0.8 dB but is ~15x slower)."""

    name = "avif"
    fmt = "AVIF"
    magic = (b"\x00\x00\x00",)  # ISOBMFF: a 32-bit box size, then 'ftyp' (checked below)
    library = "libavif-aom"
    max_side = 32768  # libavif's decoder refuses larger sides (imageDimensionLimit); libaom would encode them
    levels = tuple(range(0, 101))
    default_quality = 50

    def __init__(self, speed: int = 6, chroma: str = "420", tune: str = "psnr", **kw: Any) -> None:
        super().__init__(**kw)
        if not 0 <= int(speed) <= 10:
            raise ValueError(f"avif: speed must be in 0..10, got {speed}")
        if tune not in ("psnr", "ssim"):
            raise ValueError(f"avif: tune must be 'psnr' or 'ssim', got {tune!r}")
        self.speed, self.chroma, self.tune = int(speed), _chroma(chroma), tune

    def backend_version(self) -> str:
        return f"pillow {Image.__version__}, libavif {features.version('avif')}"

    def settings(self) -> dict[str, Any]:
        return {"speed": self.speed, "chroma": self.chroma, "tune": self.tune}

    def save_options(self, level: float, coded: np.ndarray) -> dict[str, Any]:
        sub = "4:4:4" if self.chroma == "444" else "4:2:0"
        return {
            "quality": int(level),
            "speed": self.speed,
            "subsampling": sub,
            "codec": "aom",
            "advanced": {"tune": self.tune},
            "max_threads": 1,  # deterministic and polite on shared CPUs
        }

    def decode_plan(self, data: bytes) -> tuple[str, bytes, dict[str, Any]]:
        plan = super().decode_plan(data)
        if plan[1][4:8] != b"ftyp":
            raise ValueError(f"{self.name}: not an AVIF stream (no 'ftyp' box)")
        return plan


@CODECS.register("webp")
class WebpCodec(PillowCodec):
    """Lossy WebP (VP8 intra, 4:2:0) via Pillow's libwebp. Knob: ``quality`` 0..100; ``method`` 0..6
    (6 = slowest, smallest)."""

    name = "webp"
    fmt = "WEBP"
    magic = (b"RIFF",)
    library = "libwebp"
    max_side = 16383  # WebP's 14-bit width and height fields
    levels = tuple(range(0, 101))
    default_quality = 75

    def __init__(self, method: int = 6, **kw: Any) -> None:
        super().__init__(**kw)
        if not 0 <= int(method) <= 6:
            raise ValueError(f"webp: method must be in 0..6, got {method}")
        self.method = int(method)

    def backend_version(self) -> str:
        return f"pillow {Image.__version__}, libwebp {features.version('webp')}"

    def settings(self) -> dict[str, Any]:
        return {"method": self.method}

    def save_options(self, level: float, coded: np.ndarray) -> dict[str, Any]:
        return {"quality": int(level), "method": self.method, "lossless": False, "exact": False}


@CODECS.register("jpeg2000")
class Jpeg2000Codec(PillowCodec):
    """JPEG 2000 (irreversible 9/7 wavelet, RGB->YCbCr transform) via Pillow's OpenJPEG, as a raw J2K
    codestream (no JP2 boxes). Knob: ``quality`` = the target rate in bpp of the coded image, given
    directly to OpenJPEG's rate allocation (``quality_layers`` = 24 / bpp)."""

    name = "jpeg2000"
    fmt = "JPEG2000"
    magic = (b"\xff\x4f\xff\x51",)  # SOC + SIZ markers
    library = "openjpeg"
    knob = "target bpp"
    default_quality = 0.5
    min_bpp = 0.002

    def backend_version(self) -> str:
        return f"pillow {Image.__version__}, openjpeg {features.version('jpg_2000')}"

    def check_quality(self, quality: float) -> float:
        if not isinstance(quality, int | float) or not 0 < quality <= 24:
            raise ValueError(f"jpeg2000: quality (target bpp) must be in (0, 24], got {quality!r}")
        return float(quality)

    def rate_control(self, image: np.ndarray, max_bits: int) -> Fit:
        h, w = image.shape[:2]
        return fit_rate(lambda r, s: self.encode_at(image, r, s), max_bits, self.name, h * w, self.min_bpp)

    def save_options(self, level: float, coded: np.ndarray) -> dict[str, Any]:
        # OpenJPEG needs every resolution level to keep >= 1 pixel.
        levels = max(1, min(6, int(math.log2(min(coded.shape[:2]))) + 1))
        return {
            "no_jp2": True,
            "irreversible": True,
            "mct": 1,
            "quality_mode": "rates",
            "quality_layers": [24.0 / max(level, self.min_bpp)],
            "num_resolutions": levels,
        }
