"""Every codec round-trips each Kodak image within its expected PSNR band at two qualities.

Bands are wide on purpose (Kodak spans easy and very detailed images); they follow the published
ranges of these codecs on Kodak (CompressAI's results/image/kodak, libjpeg/libwebp/OpenJPEG/libaom
reports) and catch gross faults: swapped channels, wrong colour matrix, shifted or mis-sized output,
a broken ladder. BPG and AVIF use fast encoder presets here (the decoder is the same for every
preset); BPG's exact bpgenc settings are checked against the published curve in test_codecs_bpg.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtgc_link.codecs import get_codec
from mtgc_link.codecs.sandbox import call_in_process
from mtgc_link.metrics import psnr

# name: (settings, [(quality, (psnr_lo, psnr_hi)), (quality, band)]), low quality first
ROUNDTRIP = {
    "jpeg": ({}, [(25, (24.0, 35.0)), (90, (33.0, 43.0))]),
    "webp": ({"method": 4}, [(25, (25.0, 36.0)), (90, (35.0, 44.0))]),
    "jpeg2000": ({}, [(0.25, (21.0, 37.0)), (1.0, (26.0, 45.0))]),
    "avif": ({"speed": 10}, [(30, (24.0, 35.0)), (70, (33.0, 43.0))]),
    "bpg": ({"preset": "ultrafast"}, [(40, (24.0, 35.0)), (28, (33.0, 42.0))]),
}


@pytest.mark.parametrize("label", sorted(ROUNDTRIP))
def test_roundtrip_kodak_psnr_band(label, kodak_images):
    settings, points = ROUNDTRIP[label]
    codec = get_codec(label.split("-")[0], **settings)
    assert len(kodak_images) == 24
    for stem, img in kodak_images.items():
        got = []
        for quality, (lo, hi) in points:
            enc = codec.encode(img, quality=quality)
            assert enc.info["backend"] == codec.backend and enc.info["ladder_step"] == 0
            assert enc.info["bits"] == 8 * len(enc.data)
            dec = codec.decode(enc.data)
            assert dec.ok, f"{stem} q={quality}: {dec.reason}"
            assert dec.image.shape == img.shape and dec.image.dtype == np.uint8
            value = psnr(img, dec.image)
            assert lo <= value <= hi, f"{label} {stem} q={quality}: PSNR {value:.2f} dB outside [{lo}, {hi}]"
            got.append((enc.bits, value))
        (bits_lo, psnr_lo), (bits_hi, psnr_hi) = got
        assert bits_hi > bits_lo and psnr_hi > psnr_lo + 2.0, f"{label} {stem}: {got}"


def test_jpeg2000_rate_is_given_directly(kodak_images):
    """The J2K knob is the rate: the stream lands within 2 % under the target bpp (+ our one byte)."""
    codec = get_codec("jpeg2000")
    img = kodak_images["kodim23"]
    for bpp in (0.1, 0.5, 2.0):
        enc = codec.encode(img, quality=bpp)
        payload_bpp = 8 * (len(enc.data) - 1) / (img.shape[0] * img.shape[1])
        assert 0.98 * bpp <= payload_bpp <= bpp * 1.001, (bpp, payload_bpp)


@pytest.mark.parametrize("name", ["jpeg", "webp", "jpeg2000", "avif", "bpg"])
def test_sandboxed_decode_equals_in_process(name, kodak_images):
    """The worker process returns exactly what the decoder gives in-process."""
    codec = get_codec(
        name, **({"speed": 10} if name == "avif" else {"preset": "ultrafast"} if name == "bpg" else {})
    )
    img = kodak_images["kodim04"]  # portrait: catches transposed shapes
    enc = codec.encode(img)
    fn, payload, kwargs = codec.decode_plan(enc.data)
    direct = call_in_process(fn, payload, kwargs)
    dec = codec.decode(enc.data)
    assert direct.ok and dec.ok
    np.testing.assert_array_equal(dec.image, direct.array)
    assert dec.image.flags.writeable


def test_decode_rejects_other_codecs_streams(kodak_images):
    img = kodak_images["kodim01"][:64, :96]
    streams = {
        n: get_codec(n, **({"speed": 10} if n == "avif" else {})).encode(img).data for n in ("jpeg", "webp")
    }
    for name in ("jpeg", "webp", "jpeg2000", "avif", "bpg"):
        for other, data in streams.items():
            if other != name:
                res = get_codec(name).decode(data)
                assert not res.ok and res.reason, (name, other)
