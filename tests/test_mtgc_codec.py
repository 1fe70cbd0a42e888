"""The registered ``mtgc`` codec end to end on the tiny profile (random weights: these tests check bytes,
guidance routing, degradation and rate control, never image quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtgc_link.codecs import RateControlError, get_codec
from mtgc_link.codecs.mtgc import bitstream as bs
from mtgc_link.codecs.mtgc.caption import decode_caption
from mtgc_link.codecs.mtgc.codec import Guidance, MTGCCodec
from mtgc_link.codecs.mtgc.hci import downscale, make_hci


@pytest.fixture(scope="module")
def codec():
    return get_codec("mtgc", profile="tiny", steps=1, seed=7)


@pytest.fixture(scope="module")
def small(kodak_images):
    return downscale(kodak_images["kodim23"], 8)  # 64 x 96: generate() stays cheap on CPU


@pytest.fixture(scope="module")
def encoded(codec, small, kodak_captions):
    return codec.encode(small, caption=kodak_captions["kodim23"])


@pytest.fixture(scope="module")
def clean(codec, encoded):
    return codec.decode(encoded.data)


def test_roundtrip_guidance_is_exactly_what_was_sent(codec, small, encoded, clean, kodak_captions):
    assert isinstance(codec, MTGCCodec) and codec.backend == "mtgc-tiny(untrained)"
    info = encoded.info
    assert info["modalities"] == ["caption", "hci", "spw"] and info["caption_source"] == "argument"
    assert sum(info["segments"].values()) == len(encoded.data) == info["bits"] // 8
    assert clean.ok and clean.image.shape == small.shape and clean.image.dtype == np.uint8
    assert clean.info["used"] == ["caption", "hci", "spw"] and clean.info["dropped"] == {}
    g = codec.parse_guidance(encoded.data)
    assert isinstance(g, Guidance)
    assert g.caption == kodak_captions["kodim23"]
    cfg = codec.models.config
    np.testing.assert_array_equal(g.hci, make_hci(small, cfg.train_hci_factor))  # what training sees
    want = codec.models.decode_spws(codec.models.encode_spws(small, cfg.default_spws), cfg.default_spws)
    assert g.spws.shape == (cfg.default_spws, cfg.text_embed_dim)
    np.testing.assert_array_equal(g.spws.cpu().numpy(), want.cpu().numpy())


def test_decode_is_a_pure_function_of_the_bytes(codec, encoded, clean):
    other = get_codec("mtgc", profile="tiny", steps=3, seed=99)  # settings in the header win
    again = other.decode(encoded.data)
    assert again.ok and again.info["steps"] == 1 and again.info["seed"] == 7
    np.testing.assert_array_equal(again.image, clean.image)


@pytest.mark.parametrize("modality", bs.MODALITIES)
def test_corrupt_segment_drops_exactly_that_modality(codec, encoded, clean, modality):
    start, end = bs.parse_bitstream(encoded.data).spans[modality]
    bad = bytearray(encoded.data)
    bad[(start + end) // 2] ^= 0x10
    out = codec.decode(bytes(bad))
    assert out.ok and out.image.shape == clean.image.shape
    assert set(out.info["dropped"]) == {modality}
    assert out.info["used"] == [m for m in bs.MODALITIES if m != modality]
    g = codec.parse_guidance(bytes(bad))
    assert getattr(g, "spws" if modality == "spw" else modality) is None
    assert not np.array_equal(out.image, clean.image)  # the guidance really steers the decoder


def test_header_corruption_is_a_typed_failure(codec, encoded):
    n = encoded.info["segments"]["header"]
    for pos in range(n):
        bad = bytearray(encoded.data)
        bad[pos] ^= 0x01
        out = codec.decode(bytes(bad))
        assert not out.ok and out.image is None and out.info["failure"] in ("header_crc", "header_magic")
    for data, kind in (
        (b"", "header_truncated"),
        (b"MT\x01", "header_truncated"),
        (b"\x89PNG" * 9, "header_magic"),
    ):
        out = codec.decode(data)
        assert not out.ok and out.info["failure"] == kind, out.reason
    assert codec.decode("not bytes").info["failure"] == "type"


def test_stream_from_another_profile_is_refused(codec, encoded):
    p = bs.parse_bitstream(encoded.data)
    h = p.header
    foreign = bs.Header(2, h.height, h.width, h.seed, h.k, h.hci_scale, h.steps, h.modalities)
    out = codec.decode(bs.pack_bitstream(foreign, p.segments))
    assert not out.ok and out.info["failure"] == "profile_mismatch" and "reference" in out.reason


def test_max_bits_is_never_exceeded_and_the_ladder_is_deterministic(codec, kodak_images, kodak_captions):
    img, text = kodak_images["kodim01"], kodak_captions["kodim01"]
    rungs = []
    for nbytes in (2457, 1000, 600, 400, 300, 200, 170, 150, 130, 60, 40, 20):
        try:
            enc = codec.encode(img, max_bits=8 * nbytes, caption=text)
        except RateControlError as exc:
            assert exc.min_bits > 8 * nbytes
            rungs.append(None)
            continue
        assert enc.bits <= 8 * nbytes
        assert codec.encode(img, max_bits=8 * nbytes, caption=text).data == enc.data
        rungs.append(enc.info["rung"])
    fitted = [r for r in rungs if r is not None]
    assert fitted[0] == 0 and fitted == sorted(fitted)  # richest rung under a big budget, leaner below
    assert rungs[-1] is None  # 20 bytes: below header + caption
    caption_only = codec.encode(img, max_bits=8 * 42, caption=text)  # header 22 + caption 15 + CRC 2
    assert caption_only.info["modalities"] == ["caption"]
    with pytest.raises(TypeError, match="max_bits"):
        codec.encode(img, max_bits=1.5)


def test_default_setting_is_below_0_05_bpp_on_kodak(codec, kodak_images, kodak_captions):
    img = kodak_images["kodim01"]
    enc = codec.encode(img, caption=kodak_captions["kodim01"])
    assert enc.info["modalities"] == ["caption", "hci", "spw"]
    assert len(enc.data) * 8 / (512 * 768) < 0.05 and enc.info["bpp"] == len(enc.data) * 8 / (512 * 768)
    assert sum(enc.info["segments"].values()) == len(enc.data)


def test_caption_sources_and_no_caption(monkeypatch, small, kodak_dir, kodak_images, kodak_captions):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bare = MTGCCodec(profile="tiny", steps=1)
    enc = bare.encode(small)
    assert enc.info["modalities"] == ["hci", "spw"] and "no caption" in enc.info["note"]
    g = bare.parse_guidance(enc.data)
    assert g.caption is None and g.info()["absent"] == ["caption"]
    fixed = MTGCCodec(profile="tiny", caption="a macaw").encode(small)
    seg = bs.parse_bitstream(fixed.data).segments["caption"]
    assert decode_caption(seg) == "a macaw" and fixed.info["caption_source"] == "codec setting"
    by_file = MTGCCodec(profile="tiny", captions_file=kodak_dir / "captions.json")
    last = len(by_file.ladder()) - 1  # the caption-only rung: cheap
    enc = by_file.encode(kodak_images["kodim05"], quality=last)  # found by pixel content
    assert enc.info["caption"] == kodak_captions["kodim05"] and enc.info["modalities"] == ["caption"]
    assert (
        by_file.encode(small, image_id="kodim22.png", quality=last).info["caption"]
        == kodak_captions["kodim22"]
    )


def test_bad_arguments_name_the_field(tmp_path, small, codec):
    for kw, field in (
        ({"k": -1}, "k"),
        ({"steps": 0}, "steps"),
        ({"hci_q": 60}, "hci_q"),
        ({"seed": -3}, "seed"),
    ):
        with pytest.raises(ValueError, match=field):
            MTGCCodec(**kw)
    (tmp_path / "c.json").write_text(json.dumps(["not", "a", "map"]))
    with pytest.raises(ValueError, match="captions_file"):
        MTGCCodec(captions_file=tmp_path / "c.json")
    with pytest.raises(ValueError, match="quality"):
        codec.encode(small, quality=99)
    with pytest.raises(ValueError, match="mtgc profile"):
        _ = MTGCCodec(profile=str(tmp_path / "missing")).models


def test_cli_encode_decode_rd_with_profile(tmp_path, small):
    from PIL import Image
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    (tmp_path / "imgs").mkdir()
    Image.fromarray(small).save(tmp_path / "imgs" / "macaw.png")
    run = CliRunner().invoke
    common = ["--codec", "mtgc", "--profile", "tiny", "--set", "steps=1"]
    res = run(app, ["encode", str(tmp_path / "imgs" / "macaw.png"), str(tmp_path / "m.bin"), *common,
                    "--set", "caption=two parrots"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = (tmp_path / "m.bin").read_bytes()
    assert f"{len(data)} bytes" in res.output
    assert decode_caption(bs.parse_bitstream(data).segments["caption"]) == "two parrots"
    res = run(app, ["decode", str(tmp_path / "m.bin"), str(tmp_path / "m.png"), *common])
    assert res.exit_code == 0, res.output
    assert np.asarray(Image.open(tmp_path / "m.png")).shape == small.shape
    (tmp_path / "bad.bin").write_bytes(b"MT" + data[2:8] + b"\0" + data[9:])
    res = run(app, ["decode", str(tmp_path / "bad.bin"), str(tmp_path / "b.png"), *common])
    assert res.exit_code == 3 and "header" in res.output
    res = run(app, ["rd", *common, "--images", str(tmp_path / "imgs"), "-q", "8", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output[res.output.index("{") :])
    assert doc["results"][0]["decoded"] and doc["results"][0]["bytes"] > 30


def test_nothing_to_send_is_refused(monkeypatch, small):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no captioner either
    bare = MTGCCodec(profile="tiny", k=0, hci_scale=0)
    with pytest.raises(ValueError, match="sends no modality"):
        bare.encode(small)
    # Without a caption the leanest stream is header + one SPW (~30 bytes); header-only is never sent.
    with pytest.raises(RateControlError) as err:
        MTGCCodec(profile="tiny").encode(small, max_bits=8 * 25)
    assert err.value.min_bits > 8 * 25
