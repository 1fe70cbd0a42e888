"""MTGC codec side without the neural models: caption coder, HCI, bitstream container, CRCs."""

from __future__ import annotations

import random
import zlib

import brotli
import numpy as np
import pytest

from mtgc_link.codecs.mtgc import bitstream as bs
from mtgc_link.codecs.mtgc import caption as cap
from mtgc_link.codecs.mtgc import hci


# ---------------------------------------------------------------- caption coder
def test_caption_roundtrip_kodak_unicode_empty(kodak_captions):
    texts = list(kodak_captions.values()) + [
        "",
        "é",
        "naïve café ☃ 日本語 🚀",
        "UPPER Case, punctuation!?",
        "x" * 320,
    ]
    for t in texts:
        data = cap.encode_caption(t)
        assert cap.decode_caption(data) == t


def test_caption_too_long_is_a_clear_error():
    with pytest.raises(ValueError, match="caption"):
        cap.encode_caption("y" * (cap.MAX_CAPTION_BYTES + 1))


def test_caption_coder_beats_general_purpose_coders_on_kodak(kodak_captions):
    texts = list(kodak_captions.values())
    ours = np.mean([len(cap.encode_caption(t)) for t in texts])
    raw = np.mean([len(t.encode()) for t in texts])
    br = np.mean([len(brotli.compress(t.encode(), quality=11, mode=brotli.MODE_TEXT)) for t in texts])
    zl = np.mean([len(zlib.compress(t.encode(), 9, wbits=-15)) for t in texts])
    # Ideal code length under the same model, from the model's probabilities (not from the coder).
    model = cap.static_model()
    ideal = []
    for t in texts:
        seq = list(t.encode()) + [cap.EOS]
        ideal.append(-sum(np.log2(model.probs(model.context_of(seq, i))[s]) for i, s in enumerate(seq)) / 8)
    assert ours < 0.5 * br and ours < 0.5 * zl and ours < 0.4 * raw
    assert ours <= np.mean(ideal) + 1.0  # the range coder wastes < 1 byte per caption after trimming


def test_caption_order_is_chosen_on_the_corpus_not_on_kodak():
    bits = {order: cap.leave_one_out_bits(order) for order in (2, 3, 4)}
    assert min(bits, key=bits.get) == cap.ORDER


def test_caption_decoder_on_garbage_raises_only_its_typed_error():
    rng = random.Random(1)
    ok = 0
    for _ in range(1500):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        try:
            text = cap.decode_caption(data)
            assert isinstance(text, str) and len(text.encode()) <= cap.MAX_CAPTION_BYTES
            ok += 1
        except cap.CaptionDecodeError:
            pass
    assert ok < 1500  # some garbage is rejected (invalid UTF-8, no end symbol)


def test_captioner_absent_gives_one_line_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(cap.CaptionerUnavailable) as err:
        cap.Captioner("Salesforce/blip-image-captioning-base").load()
    msg = str(err.value)
    assert "\n" not in msg and "blip-image-captioning-base" in msg and "caption" in msg


# ---------------------------------------------------------------- HCI
def test_hci_size_and_fidelity(kodak_images):
    img = kodak_images["kodim23"]
    data = hci.encode_hci(img, 16)
    assert 20 <= len(data) <= 600  # "tens of bytes to a few hundred"
    low = hci.decode_hci(data, hci.hci_size(*img.shape[:2], 16))
    assert low.shape == (32, 48, 3)
    ref = hci.downscale(img, 16).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((low - ref) ** 2))
    assert psnr > 18  # a coarse but faithful thumbnail, not noise
    np.testing.assert_array_equal(hci.make_hci(img, 16), low)


def test_hci_garbage_and_wrong_size_are_typed_errors(kodak_images):
    data = hci.encode_hci(kodak_images["kodim01"], 16)
    with pytest.raises(hci.HCIDecodeError):
        hci.decode_hci(data, (10, 10))
    with pytest.raises(hci.HCIDecodeError):
        hci.decode_hci(b"\x00garbage" * 5, (32, 48))
    with pytest.raises(ValueError, match="hci_scale"):
        hci.hci_size(512, 768, 0)


# ---------------------------------------------------------------- container
@pytest.fixture(scope="module")
def real_stream(kodak_images, kodak_captions):
    img = kodak_images["kodim01"]
    payloads = {
        "caption": cap.encode_caption(kodak_captions["kodim01"]),
        "hci": hci.encode_hci(img, 16),
        "spw": bytes(random.Random(0).randrange(256) for _ in range(90)),  # opaque to the container
    }
    header = bs.Header(
        profile_id=1, height=512, width=768, seed=1234, k=4, hci_scale=16, steps=4, modalities=bs.MODALITIES
    )
    return header, payloads, bs.pack_bitstream(header, payloads)


def test_bitstream_roundtrip_and_sizes(real_stream):
    header, payloads, data = real_stream
    parsed = bs.parse_bitstream(data)
    assert parsed.header == header and parsed.segments == payloads and not parsed.dropped
    sizes = parsed.sizes()
    assert sum(sizes.values()) == len(data)
    assert sizes["header"] == 16 + 2 * 3 + 4
    for m in bs.MODALITIES:
        assert sizes[m] == len(payloads[m]) + 2
        s, e = parsed.spans[m]
        assert data[s : e - 2] == payloads[m]


def test_each_segment_corruption_drops_exactly_that_segment(real_stream):
    header, payloads, data = real_stream
    spans = bs.parse_bitstream(data).spans
    rng = random.Random(2)
    for m in bs.MODALITIES:
        s, e = spans[m]
        for _ in range(20):
            bad = bytearray(data)
            pos = rng.randrange(s, e)
            bad[pos] ^= 1 << rng.randrange(8)
            parsed = bs.parse_bitstream(bytes(bad))
            assert set(parsed.dropped) == {m}
            assert {k: v for k, v in parsed.segments.items()} == {k: v for k, v in payloads.items() if k != m}


def test_every_header_byte_flip_is_a_typed_header_error(real_stream):
    _, _, data = real_stream
    n = bs.parse_bitstream(data).sizes()["header"]
    for pos in range(n):
        for bit in (0, 7):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            with pytest.raises(bs.HeaderError) as err:
                bs.parse_bitstream(bytes(bad))
            assert err.value.kind in ("magic", "crc")


def test_truncation_and_trailing_bytes(real_stream):
    _, payloads, data = real_stream
    spans = bs.parse_bitstream(data).spans
    cut = bs.parse_bitstream(data[: spans["hci"][0] + 3])
    assert cut.segments == {"caption": payloads["caption"]}
    assert cut.dropped["hci"].startswith("truncated") and cut.dropped["spw"].startswith("truncated")
    longer = bs.parse_bitstream(data + b"abc")
    assert longer.trailing_bytes == 3 and longer.segments == payloads
    for n in (0, 1, 5, 16):
        with pytest.raises(bs.HeaderError, match="bytes"):
            bs.parse_bitstream(data[:n])


def test_version_and_fields_are_checked():
    with pytest.raises(ValueError, match="height"):
        bs.Header(profile_id=1, height=0, width=8, seed=0, k=0, hci_scale=1, steps=1)
    with pytest.raises(ValueError, match="seed"):
        bs.Header(profile_id=1, height=8, width=8, seed=-1, k=0, hci_scale=1, steps=1)
    h = bs.Header(profile_id=1, height=8, width=8, seed=0, k=0, hci_scale=1, steps=1, modalities=("caption",))
    data = bytearray(bs.pack_bitstream(h, {"caption": b"\x01"}))
    data[2] = 9  # a future version, with a valid CRC
    body_len = bs.header_size(1) - 4
    data[body_len : body_len + 4] = zlib.crc32(bytes(data[:body_len])).to_bytes(4, "big")
    with pytest.raises(bs.HeaderError) as err:
        bs.parse_bitstream(bytes(data))
    assert err.value.kind == "version"
    with pytest.raises(ValueError, match="payloads"):
        bs.pack_bitstream(h, {"hci": b"x"})


def test_header_bytes_follow_the_documented_layout():
    """docs/mtgc.md's table, byte by byte (an independent reading of the spec, not of pack_bitstream)."""
    h = bs.Header(profile_id=2, height=512, width=768, seed=0xDEADBEEF, k=8, hci_scale=16, steps=20,
                  modalities=("caption", "spw"))  # fmt: skip
    data = bs.pack_bitstream(h, {"caption": b"\x12\x34\x56", "spw": b"\xab"})
    assert data[0:2] == b"MT" and data[2] == 1 and data[3] == 2
    assert data[4:6] == (512).to_bytes(2, "big") and data[6:8] == (768).to_bytes(2, "big")
    assert data[8] == 0b101 and data[9:13] == bytes.fromhex("deadbeef")
    assert (data[13], data[14], data[15]) == (8, 16, 20)
    assert data[16:18] == (3).to_bytes(2, "big") and data[18:20] == (1).to_bytes(2, "big")
    assert data[20:24] == zlib.crc32(data[:20]).to_bytes(4, "big")
    assert data[24:27] == b"\x12\x34\x56" and data[27:29] == bs.crc16(b"\x12\x34\x56").to_bytes(2, "big")
    assert data[29:30] == b"\xab" and len(data) == 32
    assert bs.crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
