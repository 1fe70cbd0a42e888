"""What codecs take and refuse: sizes (tiny, thin, odd, huge aspect ratios) coded correctly or refused up
front with an ``ImageShapeError``; decoder work limits (a valid header asking for absurd work is a fast typed
failure); and strict decoding of truncated streams (docs/codecs.md, "Images in, and what codecs refuse")."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from PIL import Image

from mtgc_link.codecs import available_codecs, get_codec
from mtgc_link.codecs.base import Decoded, Encoded, ImageShapeError, SourceCodec
from mtgc_link.codecs.bpg import KIND_HEVC, BpgHeader
from mtgc_link.codecs.mtgc import bitstream as bs
from mtgc_link.codecs.mtgc.codec import MAX_DECODE_STEPS, MTGCCodec
from mtgc_link.images import MAX_PIXELS
from mtgc_link.metrics import psnr

# fast encoder settings: the limits and the decoders are the same for every preset / speed / method
FAST = {
    "jpeg": {},
    "webp": {"method": 0},
    "avif": {"speed": 10},
    "jpeg2000": {},
    "bpg": {"preset": "ultrafast"},
}
QUALITY = {"jpeg": 80, "webp": 80, "avif": 70, "jpeg2000": 2.0, "bpg": 25}
MAX_SIDE = {"jpeg": 65500, "webp": 16383, "avif": 32768, "jpeg2000": None, "bpg": 65536, "mtgc": 65535}


def _gradient(h: int, w: int) -> np.ndarray:
    """A smooth picture: a luminance ramp along both axes with a constant tint (so that 4:2:0 chroma loses
    nothing), coded well by every codec; a wrong crop, shift or transpose shows in PSNR."""
    y, x = np.mgrid[0:h, 0:w]
    ramp = 20 + 100 * x / max(w - 1, 1) + 100 * y / max(h - 1, 1)
    return np.clip(ramp[..., None] + np.array([12, 0, -12]), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def small(astronaut) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((48, 40), Image.Resampling.LANCZOS))


# ------------------------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize("name", sorted(FAST))
def test_tiny_thin_and_odd_sizes_round_trip(name):
    codec = get_codec(name, **FAST[name])
    for h, w in [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (1, 300), (300, 1), (17, 33)]:
        img = _gradient(h, w)
        dec = codec.decode(codec.encode(img, quality=QUALITY[name]).data)
        assert dec.ok, (name, h, w, dec.reason)
        assert dec.image.shape == (h, w, 3), (name, h, w)
        assert np.abs(dec.image.astype(int) - img).mean() < 12, (name, h, w)


@pytest.mark.parametrize("chroma", ["444", "420"])
def test_bpg_very_thin_long_images_are_padded_for_libx265(chroma):
    """libx265 refuses a side under 32 px when the other is over ~4200 px (the BPG fallback failed on 1x5000
    with a raw libav error): such pictures are edge-padded to 32 px and cropped on decode."""
    codec = get_codec("bpg", preset="ultrafast", chroma=chroma)
    for h, w in [(1, 5000), (5000, 1), (16, 4300), (31, 4500)]:
        img = _gradient(h, w)
        dec = codec.decode(codec.encode(img, quality=20).data)
        assert dec.ok and dec.image.shape == (h, w, 3), (h, w, dec.reason)
        assert psnr(img, dec.image) > 35, (h, w)
    # preset placebo needs 32 px a side even for small pictures (the decoder accepts both paddings)
    placebo = get_codec("bpg", preset="placebo", chroma=chroma)
    img = _gradient(5, 40)
    dec = get_codec("bpg").decode(placebo.encode(img, quality=20).data)
    assert dec.ok and dec.image.shape == (5, 40, 3) and psnr(img, dec.image) > 35


def test_mtgc_takes_tiny_thin_and_odd_sizes():
    """MTGC generates at a working size (multiples of the VAE x UNet factor, at least one multiple, the
    longer side at most the profile's max_side) and resizes to the header's size: any size works, the HCI
    (BPG) of a thin image included."""
    codec = get_codec("mtgc", profile="tiny", caption="a gradient", steps=1)
    for h, w in [(1, 1), (3, 5), (1, 300), (40, 40000)]:
        dec = codec.decode(codec.encode(_gradient(h, w)).data)
        assert dec.ok and dec.image.shape == (h, w, 3), (h, w, dec.reason)
        assert dec.info["used"] == ["caption", "hci", "spw"], (h, w)


@pytest.mark.parametrize("name", sorted(n for n, m in MAX_SIDE.items() if m is not None))
def test_sides_over_the_codec_limit_are_refused_before_any_work(name, monkeypatch):
    top = MAX_SIDE[name]
    if name == "mtgc":
        codec = MTGCCodec(profile="tiny")
        monkeypatch.setattr(MTGCCodec, "models", property(lambda self: pytest.fail("models loaded")))
    else:
        codec = get_codec(name, **FAST[name])
        monkeypatch.setattr(type(codec), "encode_stream", lambda *a, **k: pytest.fail("encoder ran"))
    for shape in [(1, top + 1), (top + 1, 1)]:
        with pytest.raises(ImageShapeError) as info:
            codec.encode(np.zeros((*shape, 3), np.uint8))
        err = info.value
        assert isinstance(err, ValueError) and err.codec == name and err.shape == shape
        assert str(err) == (
            f"{name}: cannot code an image of {shape[0]}x{shape[1]} (HxW); it takes 1..{top} px a side "
            f"and at most max_pixels={MAX_PIXELS} pixels"
        )


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "bpg"])
def test_the_largest_side_a_codec_allows_still_round_trips(name):
    top = MAX_SIDE[name]
    codec = get_codec(name, **FAST[name])
    dec = codec.decode(codec.encode(np.full((1, top, 3), 90, np.uint8), quality=QUALITY[name]).data)
    assert dec.ok and dec.image.shape == (1, top, 3), dec.reason


def test_max_pixels_setting_is_an_encode_limit_too():
    """A picture the decoder would refuse (over its max_pixels) is refused when encoding."""
    for name in ("jpeg", "bpg"):
        codec = get_codec(name, max_pixels=100, **FAST[name])
        assert codec.decode(codec.encode(_gradient(10, 10), quality=QUALITY[name]).data).ok
        with pytest.raises(
            ImageShapeError,
            match=rf"^{name}: cannot code an image of 10x11 \(HxW\); it takes "
            r"at most max_pixels=100 pixels$",
        ):
            codec.encode(_gradient(10, 11))
    with pytest.raises(ImageShapeError, match=r"at most max_pixels=99 pixels"):
        MTGCCodec(profile="tiny", max_pixels=99).encode(_gradient(10, 10))


def test_base_class_checks_the_declared_limits_of_any_codec():
    """A codec only declares ``min_side`` / ``max_side``: every ``encode`` it defines checks them first."""

    class Picky(SourceCodec):
        name = "picky"
        min_side, max_side = 8, 64

        def encode(self, image, max_bits=None, quality=None):
            return Encoded(b"x")

        def decode(self, data):
            return Decoded.failure("no")

    picky = Picky()
    assert picky.encode(np.zeros((8, 64, 3), np.uint8)).data == b"x"
    with pytest.raises(
        ImageShapeError, match=r"^picky: cannot code an image of 4x9 \(HxW\); it takes 8\.\.64 px"
    ):
        picky.encode(np.zeros((4, 9, 3), np.uint8))
    with pytest.raises(ImageShapeError, match=r"65x8"):
        picky.encode(np.zeros((65, 8, 3), np.uint8))
    # what is not an image at all is left to check_image (TypeError / ValueError of the codec itself)
    assert picky.encode("not an array").data == b"x"


# ----------------------------------------------------------------------------------- decoder work limits
def _mtgc_stream(height: int, width: int, steps: int, caption: bytes | None = b"\x01") -> bytes:
    mods = ("caption",) if caption is not None else ()
    header = bs.Header(
        bs.PROFILE_IDS["tiny"], height, width, seed=1, k=0, hci_scale=1, steps=steps, modalities=mods
    )
    return bs.pack_bitstream(header, {"caption": caption} if caption is not None else {})


def test_mtgc_header_asking_for_absurd_work_is_a_fast_typed_failure(monkeypatch):
    monkeypatch.setattr(MTGCCodec, "models", property(lambda self: pytest.fail("models loaded")))
    codec = MTGCCodec(profile="tiny")
    cases = {
        # the maximum step count on a large (but allowed) picture: 255 UNet passes
        _mtgc_stream(
            8000, 8000, 255
        ): f"mtgc header: steps=255 exceeds the decoder's max_steps={MAX_DECODE_STEPS}",
        # the largest picture the header can claim: 4.3 Gpx
        _mtgc_stream(65535, 65535, 4): (
            f"mtgc header: 65535x65535 = 4294836225 px exceeds the decoder's max_pixels={MAX_PIXELS}"
        ),
    }
    for data, reason in cases.items():
        t = time.perf_counter()
        dec = codec.decode(data)
        assert time.perf_counter() - t < 0.5
        assert not dec.ok and dec.image is None and dec.reason == reason
        assert dec.info["failure"] == "work_limit"
    # the limits are settings: a smaller one refuses a stream the default takes
    assert MTGCCodec(profile="tiny", max_pixels=63_999_999).decode(_mtgc_stream(8000, 8000, 4)).reason == (
        "mtgc header: 8000x8000 = 64000000 px exceeds the decoder's max_pixels=63999999"
    )


def test_mtgc_max_steps_setting(small):
    stream = MTGCCodec(profile="tiny", steps=6, caption="a face").encode(small).data
    refused = MTGCCodec(profile="tiny", max_steps=5).decode(stream)
    assert not refused.ok and refused.info["failure"] == "work_limit"
    assert refused.reason == "mtgc header: steps=6 exceeds the decoder's max_steps=5"
    assert MTGCCodec(profile="tiny", max_steps=6).decode(stream).ok
    with pytest.raises(ValueError, match=r"^steps=65 exceeds max_steps=64 \(the decoder would refuse it\)$"):
        MTGCCodec(profile="tiny", steps=65)
    for bad in ({"max_steps": 0}, {"max_steps": 256}, {"max_pixels": 0}):
        with pytest.raises(ValueError, match=rf"^{next(iter(bad))} must be an integer"):
            MTGCCodec(profile="tiny", **bad)


def test_classical_headers_claiming_huge_pictures_fail_fast(small):
    # BPG: the 5-byte header's largest size, then something that looks like HEVC
    bpg = BpgHeader(KIND_HEVC, 0, True, 8, 65536, 65536).pack() + b"\x00\x00\x00\x01" + bytes(64)
    # JPEG: a real stream whose SOF0 claims 65500 x 65500
    jpeg = bytearray(get_codec("jpeg").encode(small, quality=50).data)
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    for name, data, reason in [
        ("bpg", bpg, "bpg: header claims 65536x65536, over max_pixels=64000000"),
        ("jpeg", bytes(jpeg), "ValueError: header claims 4290250000 pixels (limit 64000000 pixels)"),
    ]:
        t = time.perf_counter()
        dec = get_codec(name).decode(data)
        assert time.perf_counter() - t < 5.0
        assert not dec.ok and dec.reason == reason


# ----------------------------------------------------------------------------- strict mode: truncation
def _cuts(n: int) -> list[int]:
    return sorted({1, 2, 5, 12, n // 4, n // 2, 3 * n // 4, 9 * n // 10, n - 8, n - 2} - {0, n})


CLASSICAL = {
    "jpeg": [{}],
    "webp": [{"method": 0}],
    "avif": [{"speed": 10}],
    "jpeg2000": [{}],
    "bpg": [{"preset": "ultrafast"}, {"preset": "ultrafast", "chroma": "420"}, {"bit_depth": 10}],
}


def test_every_registered_codec_is_covered():
    assert set(available_codecs()) == set(CLASSICAL) | {"mtgc"}


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_strict_decoding_refuses_truncated_streams(name, small):
    for settings in CLASSICAL[name]:
        codec = get_codec(name, **settings)
        data = codec.encode(small, quality=QUALITY[name]).data
        assert codec.decode(data).ok
        for cut in _cuts(len(data)):
            dec = codec.decode(data[:cut])
            assert not dec.ok and dec.image is None and dec.reason, (name, settings, cut, len(data))


def test_bpg_truncation_check_is_what_strict_adds(small):
    """FFmpeg decodes most truncated HEVC streams from its zero padding without an error; strict mode
    catches them by decoding again with other bytes after the stream (the picture then changes)."""
    data = get_codec("bpg", preset="ultrafast").encode(small, quality=25).data
    cut = data[: 3 * len(data) // 4]
    lenient = get_codec("bpg", strict=False).decode(cut)
    assert lenient.ok and lenient.image.shape == small.shape  # a concealed picture
    strict = get_codec("bpg").decode(cut)
    assert (
        strict.reason == "ValueError: HEVC bitstream is truncated (its picture depends on bytes past its end)"
    )


def test_mtgc_truncation_is_detected_per_segment(small):
    """MTGC has no strict mode: its header and segments carry their lengths and CRCs, so a cut header is a
    typed failure and a cut segment is dropped by name (docs/mtgc.md, graceful degradation)."""
    codec = get_codec("mtgc", profile="tiny", steps=1)
    data = codec.encode(small, caption="a woman in a spacesuit").data
    spans = bs.parse_bitstream(data).spans
    assert list(spans) == ["header", "caption", "hci", "spw"]
    for cut in (1, 10, spans["header"][1] - 1):
        dec = codec.decode(data[:cut])
        assert not dec.ok and dec.info["failure"] == "header_truncated", cut
    last = codec.decode(data[: len(data) - 1])
    assert last.ok and last.info["used"] == ["caption", "hci"]
    assert last.info["dropped"]["spw"].startswith("truncated (")
    mid = codec.decode(data[: (spans["hci"][0] + spans["hci"][1]) // 2])
    assert mid.info["used"] == ["caption"] and set(mid.info["dropped"]) == {"hci", "spw"}
