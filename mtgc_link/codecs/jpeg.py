"""``jpeg``: baseline JPEG through Pillow's libjpeg(-turbo), optimized Huffman tables."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, features

from mtgc_link.codecs.base import CODECS
from mtgc_link.codecs.pillow_codecs import PillowCodec, _chroma


@CODECS.register("jpeg")
class JpegCodec(PillowCodec):
    """JPEG via Pillow. Knob: ``quality`` 1..100 (libjpeg's IJG scale). ``chroma`` '420' (Pillow's and
    most cameras' default) or '444'. Stream: one ladder byte + the JFIF file."""

    name = "jpeg"
    fmt = "JPEG"
    magic = (b"\xff\xd8\xff",)
    library = "libjpeg"
    max_side = 65500  # libjpeg's JPEG_MAX_DIMENSION (the encoder fails on larger sides)
    levels = tuple(range(1, 101))
    default_quality = 75

    def __init__(self, chroma: str = "420", **kw: Any) -> None:
        super().__init__(**kw)
        self.chroma = _chroma(chroma)

    def backend_version(self) -> str:
        turbo = " (turbo)" if features.check_feature("libjpeg_turbo") else ""
        return f"pillow {Image.__version__}, libjpeg {features.version('jpg')}{turbo}"

    def settings(self) -> dict[str, Any]:
        return {"chroma": self.chroma}

    def save_options(self, level: float, coded: np.ndarray) -> dict[str, Any]:
        sub = 0 if self.chroma == "444" else 2  # Pillow: 0 = 4:4:4, 2 = 4:2:0
        return {"quality": int(level), "subsampling": sub, "optimize": True}
