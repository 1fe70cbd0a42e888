"""``mtgc_link.images.load_image``: every pixel format Pillow opens becomes the right 8-bit RGB, and every
file that is not a readable image is an ``ImageError`` naming the file (never a raw Pillow exception). Also
the image sets (``demo_images.load_image_set``), which report every unreadable file at once, and the CLI."""

from __future__ import annotations

import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import mtgc_link.images as images_mod
from mtgc_link.demo_images import ImageSetError, _read, load_image_set
from mtgc_link.images import ImageError, load_image


def _png(path, width: int, height: int, depth: int, colour_type: int, raw: bytes) -> None:
    """A PNG written by hand (Pillow cannot write 16-bit RGB(A) or a lying IHDR)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _rows(pixels: np.ndarray) -> bytes:
    """PNG scanlines (filter 0) of a big-endian (H, W[, C]) array."""
    return b"".join(b"\x00" + row.tobytes() for row in pixels)


def _row(values) -> list:
    """A one-row gray image as nested lists, the form ``ndarray.tolist()`` gives."""
    return [[[v, v, v] for v in values]]


# ------------------------------------------------------------------------------------- bit depth: scaled
def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    ramp = np.arange(256, dtype=np.uint16) * 257  # 0, 257, ..., 65535: exactly 0..255 after scaling
    odd = np.array([0, 128, 129, 32767, 32768, 65534, 65535] + [0] * 249, dtype=np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(np.stack([ramp, odd])).save(path)
    assert Image.open(path).mode == "I;16"
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (2, 256, 3) and out.flags.writeable
    assert out[0, :, 0].tolist() == list(range(256))  # the ramp keeps its shape (convert("RGB") clips it)
    assert out[1, :7, 0].tolist() == [0, 0, 1, 127, 128, 255, 255]  # round(v / 257)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16bit_rgb_and_rgba_png(tmp_path):
    rgb = np.array([[[0, 0, 0], [256, 512, 65535], [32768, 1000, 65280]]], dtype=">u2")
    _png(tmp_path / "rgb16.png", 3, 1, 16, 2, _rows(rgb))
    assert load_image(tmp_path / "rgb16.png").tolist() == [[[0, 0, 0], [1, 2, 255], [128, 3, 255]]]
    rgba = np.array([[[0, 0, 0, 65535], [256, 512, 65535, 0], [32768, 1000, 65280, 32768]]], dtype=">u2")
    _png(tmp_path / "rgba16.png", 3, 1, 16, 6, _rows(rgba))
    # alpha 0 -> white; alpha 128/255 -> round((c * 128 + 255 * 127) / 255)
    assert load_image(tmp_path / "rgba16.png").tolist() == [[[0, 0, 0], [255, 255, 255], [191, 129, 255]]]


def test_16bit_pgm_and_tiff(tmp_path):
    (tmp_path / "g.pgm").write_bytes(b"P5 3 1 65535\n" + np.array([0, 514, 65535], ">u2").tobytes())
    assert Image.open(tmp_path / "g.pgm").mode == "I"  # Pillow reads 16-bit PGM as 32-bit "I"
    assert load_image(tmp_path / "g.pgm").tolist() == _row([0, 2, 255])
    Image.fromarray(np.array([[0, 257, 65535]], np.uint16)).save(tmp_path / "g16.tif")
    assert load_image(tmp_path / "g16.tif").tolist() == _row([0, 1, 255])


def test_32bit_integer_tiff_uses_its_declared_depth(tmp_path):
    values = np.array([[0, 2**30, 2**31 - 1, -5]], np.int32)
    Image.fromarray(values).save(tmp_path / "i32.tif")  # BitsPerSample 32, SampleFormat signed
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    assert load_image(tmp_path / "i32.tif").tolist() == _row([0, 128, 255, 0])  # negative -> black


def test_float_images(tmp_path):
    Image.fromarray(np.array([[0.0, 0.25, 1.0]], np.float32)).save(tmp_path / "unit.tif")
    assert Image.open(tmp_path / "unit.tif").mode == "F"
    assert load_image(tmp_path / "unit.tif").tolist() == _row([0, 64, 255])  # [0, 1] -> x 255
    Image.fromarray(np.array([[0.0, 2.4, 254.6]], np.float32)).save(tmp_path / "byte.tif")
    assert load_image(tmp_path / "byte.tif").tolist() == _row([0, 2, 255])  # [0, 255] as it is
    Image.fromarray(np.array([[0.0, 300.0]], np.float32)).save(tmp_path / "hdr.tif")
    with pytest.raises(ImageError, match=r"hdr\.tif: float image values span 0\.\.300; only \[0, 1\]"):
        load_image(tmp_path / "hdr.tif")
    Image.fromarray(np.array([[0.0, np.nan]], np.float32)).save(tmp_path / "nan.tif")
    with pytest.raises(ImageError, match=r"nan\.tif: float image holds NaN"):
        load_image(tmp_path / "nan.tif")


# ------------------------------------------------------------------------- grayscale, palette, alpha
def test_one_bit_and_grayscale(tmp_path):
    Image.fromarray(np.array([[0, 1, 1, 0]], bool)).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    assert load_image(tmp_path / "b.png").tolist() == _row([0, 255, 255, 0])
    Image.fromarray(np.array([[0, 7, 200]], np.uint8)).save(tmp_path / "l.png")
    assert load_image(tmp_path / "l.png").tolist() == _row([0, 7, 200])


def test_la_and_rgba_are_composited_on_white(tmp_path):
    la = np.array([[[100, 255], [100, 0], [100, 128]]], np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert Image.open(tmp_path / "la.png").mode == "LA"
    # (100 * 128 + 255 * 127 + 127) // 255 = 177
    assert load_image(tmp_path / "la.png").tolist() == _row([100, 255, 177])
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [0, 0, 0, 51]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").tolist() == [[[200, 100, 50], [255, 255, 255], [204, 204, 204]]]


def _palette(tmp_path, name: str, **save) -> np.ndarray:
    p = Image.new("P", (3, 1))
    p.putpalette([10, 20, 30, 200, 100, 50, 0, 0, 255] + [0] * (768 - 9))
    for x in range(3):
        p.putpixel((x, 0), x)
    p.save(tmp_path / name, **save)
    return load_image(tmp_path / name)


def test_palette_with_and_without_transparency(tmp_path):
    assert _palette(tmp_path, "p.png").tolist() == [[[10, 20, 30], [200, 100, 50], [0, 0, 255]]]
    # one transparent index -> white
    assert _palette(tmp_path, "pt.png", transparency=0).tolist() == [
        [[255, 255, 255], [200, 100, 50], [0, 0, 255]]
    ]
    # a per-entry alpha table (tRNS): entry 1 at alpha 0 -> white, entry 2 (0, 0, 255) at alpha 51 -> 204
    partial = _palette(tmp_path, "pa.png", transparency=bytes([255, 0, 51]))
    assert partial.tolist() == [[[10, 20, 30], [255, 255, 255], [204, 204, 255]]]
    assert _palette(tmp_path, "pt.gif", transparency=0).tolist() == [
        [[255, 255, 255], [200, 100, 50], [0, 0, 255]]
    ]


def test_rgb_with_a_transparent_colour_key(tmp_path):
    rgb = np.array([[[1, 2, 3], [9, 9, 9]]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "key.png", transparency=(1, 2, 3))
    assert load_image(tmp_path / "key.png").tolist() == [[[255, 255, 255], [9, 9, 9]]]


# ------------------------------------------------------------------------------ other colour spaces
def test_cmyk_tiff_and_jpeg(tmp_path):
    c = Image.new("CMYK", (16, 8))
    for x in range(16):
        for y in range(8):
            c.putpixel((x, y), (0, 0, 0, 0) if x < 8 else (255, 0, 0, 0))
    c.save(tmp_path / "c.tif")
    out = load_image(tmp_path / "c.tif")
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 15].tolist() == [0, 255, 255]  # white, cyan
    c.save(tmp_path / "c.jpg", quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    jpg = load_image(tmp_path / "c.jpg").astype(int)
    assert np.abs(jpg[4, 2] - [255, 255, 255]).max() <= 2 and np.abs(jpg[4, 13] - [0, 255, 255]).max() <= 2


def test_ycbcr_and_lab(tmp_path):
    Image.new("YCbCr", (1, 1), (128, 128, 128)).save(tmp_path / "y.tif")
    assert Image.open(tmp_path / "y.tif").mode == "YCbCr"
    assert load_image(tmp_path / "y.tif").tolist() == [[[128, 128, 128]]]
    Image.new("LAB", (2, 1), (255, 128, 128)).save(tmp_path / "lab.tif")
    assert Image.open(tmp_path / "lab.tif").mode == "LAB"
    lab = load_image(tmp_path / "lab.tif")  # L* = 100, a* = b* = 0: white (Pillow's convert gives colour)
    assert np.abs(lab.astype(int) - 255).max() <= 2


# ---------------------------------------------------------------------------- orientation, frames
def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((16, 32, 3), np.uint8)
    img[:8, :8] = [255, 0, 0]  # red top-left block
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    Image.fromarray(img).save(tmp_path / "rot.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (32, 16, 3)
    assert out[2, 13].tolist()[0] > 240 and out[2, 13].tolist()[1] < 15  # the red block is now top-right
    assert out[2, 2].max() < 15
    Image.fromarray(img).save(tmp_path / "rot.png", exif=exif)
    png = load_image(tmp_path / "rot.png")
    assert png.shape == (32, 16, 3) and png[:8, 8:].tolist() == [[[255, 0, 0]] * 8] * 8


def test_multi_frame_files_give_their_first_frame(tmp_path):
    frames = [Image.new("RGB", (2, 2), (255, 0, 0)), Image.new("RGB", (2, 2), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "pages.tif").n_frames == 2
    assert load_image(tmp_path / "anim.gif")[0, 0].tolist() == [255, 0, 0]
    assert load_image(tmp_path / "pages.tif").tolist() == [[[255, 0, 0]] * 2] * 2


# ---------------------------------------------------------------------------------- refused files
def test_files_that_are_not_images(tmp_path):
    (tmp_path / "text.png").write_text("hello, not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    cases = {
        "text.png": "not an image file Pillow can read (format not recognised)",
        "empty.png": "empty file (0 bytes)",
        "folder.png": "is a directory, not an image file",
        "missing.png": "no such file",
    }
    for name, reason in cases.items():
        with pytest.raises(ImageError) as info:
            load_image(tmp_path / name)
        err = info.value
        assert isinstance(err, ValueError) and err.path == str(tmp_path / name) and err.reason == reason
        assert str(err) == f"image file {tmp_path / name}: {reason}"


def test_truncated_files(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    for suffix in ("png", "jpg"):
        Image.fromarray(img).save(tmp_path / f"full.{suffix}")
        data = (tmp_path / f"full.{suffix}").read_bytes()
        for cut in (len(data) // 3, len(data) // 2, len(data) * 9 // 10):
            path = tmp_path / f"cut{cut}.{suffix}"
            path.write_bytes(data[:cut])
            with pytest.raises(ImageError, match=rf"^image file {path}: ") as info:
                load_image(path)
            assert info.value.reason.startswith("truncated: the file ends before its image data (OSError: ")
            assert " at 0x" not in str(info.value)


def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    _png(tmp_path / "bomb.png", 100_000, 100_000, 8, 2, b"\x00" * 16)  # Pillow's own error: > 179 Mpx
    t = time.perf_counter()
    with pytest.raises(ImageError, match=r"bomb\.png: header claims 10000000000 pixels, over the limit of"):
        load_image(tmp_path / "bomb.png")
    # between our limit (64 Mpx) and Pillow's warning (89 Mpx) / error (179 Mpx): our limit, WxH named
    _png(tmp_path / "big.png", 12_000, 8_000, 8, 2, b"\x00" * 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape either
        with pytest.raises(ImageError) as info:
            load_image(tmp_path / "big.png")
    assert info.value.reason.startswith(
        "header claims 12000x8000 = 96000000 pixels, over the limit of 64000000 pixels"
    )
    assert "nothing was decoded" in info.value.reason  # the 16-byte IDAT would have failed as truncated
    assert time.perf_counter() - t < 2.0
    # the limit is read at call time, and a per-call limit works too
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 399)
    with pytest.raises(ImageError, match=r"20x20 = 400 pixels, over the limit of 399 pixels"):
        load_image(tmp_path / "small.png")
    assert load_image(tmp_path / "small.png", max_pixels=400).shape == (20, 20, 3)


# ------------------------------------------------------------------------------------- image sets, CLI
def test_image_set_reports_every_unreadable_file_at_once(tmp_path):
    good = np.full((8, 8, 3), 40, np.uint8)
    Image.fromarray(good).save(tmp_path / "a_good.png")
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1028).save(tmp_path / "b_deep.png")
    (tmp_path / "c_text.png").write_text("not a picture")
    (tmp_path / "d_empty.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    with pytest.raises(ImageSetError) as info:
        load_image_set(str(tmp_path))
    err = info.value
    assert isinstance(err, ImageError) and isinstance(err, ValueError)
    assert [e.path for e in err.errors] == [str(tmp_path / "c_text.png"), str(tmp_path / "d_empty.jpg")]
    msg = str(err)
    assert "\n" not in msg and msg.startswith(f"images.source {str(tmp_path)!r}: 2 unreadable files: ")
    assert f"{tmp_path / 'c_text.png'} (not an image file Pillow can read" in msg
    assert f"{tmp_path / 'd_empty.jpg'} (empty file (0 bytes))" in msg
    assert "a_good" not in msg and "b_deep" not in msg
    # limit selects names before reading: the unreadable files sort after the two kept
    images = load_image_set(str(tmp_path), limit=2)
    assert list(images) == ["a_good", "b_deep"]
    assert images["b_deep"][0, :3, 0].tolist() == [0, 4, 8]  # 16-bit scaled: round(1028 k / 257) = 4 k
    assert _read(tmp_path / "b_deep.png").tolist() == images["b_deep"].tolist()


def test_cli_names_the_unreadable_image(tmp_path):
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    (tmp_path / "text.png").write_text("hello")
    res = CliRunner().invoke(
        app, ["encode", "--codec", "jpeg", str(tmp_path / "text.png"), str(tmp_path / "x.bin")]
    )
    assert res.exit_code == 2
    assert f"IMAGE {tmp_path / 'text.png'}: not an image file Pillow can read" in res.output
    assert "Traceback" not in res.output
