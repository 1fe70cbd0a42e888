"""`mtgc-link encode | decode | rd`: outputs and exit codes (0 / 3 / 4), never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mtgc_link.cli import app
from mtgc_link.codecs import get_codec
from mtgc_link.metrics import psnr


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def small_png(tmp_path, kodak_images):
    img = np.ascontiguousarray(kodak_images["kodim23"][:192, :256])
    path = tmp_path / "in.png"
    Image.fromarray(img).save(path)
    return path, img


def test_encode_decode_round_trip(runner, tmp_path, small_png):
    src, img = small_png
    bin_path, out = tmp_path / "x.bin", tmp_path / "out.png"
    res = runner.invoke(
        app,
        ["encode", "--codec", "bpg", "--quality", "30", "--set", "preset=ultrafast", str(src), str(bin_path)],
    )
    assert res.exit_code == 0, res.output
    assert f"{bin_path.stat().st_size} bytes" in res.stdout and "libx265-pyav" in res.stdout
    res = runner.invoke(app, ["decode", "--codec", "bpg", str(bin_path), str(out)])
    assert res.exit_code == 0, res.output
    decoded = np.asarray(Image.open(out).convert("RGB"))
    expected = get_codec("bpg").decode(bin_path.read_bytes()).image
    np.testing.assert_array_equal(decoded, expected)
    assert psnr(img, decoded) > 30


def test_rate_controlled_encode_and_no_fit(runner, tmp_path, small_png):
    src, img = small_png
    bin_path = tmp_path / "x.bin"
    res = runner.invoke(app, ["encode", "--codec", "jpeg", "--max-bits", "20000", str(src), str(bin_path)])
    assert res.exit_code == 0, res.output
    assert 8 * bin_path.stat().st_size <= 20000
    res = runner.invoke(app, ["encode", "--codec", "jpeg", "--max-bits", "50", str(src), str(bin_path)])
    assert res.exit_code == 4
    assert "max_bits=50" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(
        app, ["encode", "--codec", "jpeg", "--max-bits", "5000", "--quality", "5", str(src), str(bin_path)]
    )
    assert res.exit_code == 2 and "not both" in res.stderr


@pytest.mark.parametrize("name", ["jpeg", "bpg", "webp", "jpeg2000", "avif"])
def test_decode_corrupted_exits_3_with_one_line(runner, tmp_path, small_png, name):
    src, _ = small_png
    bin_path, out = tmp_path / "x.bin", tmp_path / "out.png"
    settings = {"bpg": "preset=ultrafast", "avif": "speed=10", "webp": "method=4"}
    args = ["--set", settings[name]] if name in settings else []
    assert runner.invoke(app, ["encode", "--codec", name, *args, str(src), str(bin_path)]).exit_code == 0
    data = bin_path.read_bytes()
    for bad in (b"", data[: len(data) // 3], b"\x00" * 64):
        bin_path.write_bytes(bad)
        res = runner.invoke(app, ["decode", "--codec", name, str(bin_path), str(out)])
        assert res.exit_code == 3, (name, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cannot decode") and "Traceback" not in res.output
        assert not out.exists()


def test_bad_arguments_exit_2(runner, tmp_path, small_png):
    src, _ = small_png
    res = runner.invoke(app, ["encode", "--codec", "nope", str(src), str(tmp_path / "x.bin")])
    assert res.exit_code == 2 and "known" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(
        app, ["encode", "--codec", "bpg", "--set", "chroma=422", str(src), str(tmp_path / "x.bin")]
    )
    assert res.exit_code == 2 and "chroma" in res.stderr
    res = runner.invoke(
        app, ["decode", "--codec", "jpeg", str(tmp_path / "missing.bin"), str(tmp_path / "o.png")]
    )
    assert res.exit_code == 2 and "missing.bin" in res.stderr
    res = runner.invoke(app, ["encode", "--codec", "jpeg", str(src), str(tmp_path / "no" / "dir" / "x.bin")])
    assert res.exit_code == 2 and "cannot write" in res.stderr and "Traceback" not in res.output


def test_rd_json(runner, tmp_path, kodak_images):
    folder = tmp_path / "imgs"
    folder.mkdir()
    crops = {stem: np.ascontiguousarray(kodak_images[stem][:200, :240]) for stem in ("kodim01", "kodim04")}
    for stem, img in crops.items():  # crops keep MS-SSIM cheap (it needs > 160 px per side)
        Image.fromarray(img).save(folder / f"{stem}.png")
    res = runner.invoke(
        app, ["rd", "--codec", "jpeg", "--images", str(folder), "--quality", "20", "80", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["codec"] == "jpeg" and doc["backend"] == "pillow-libjpeg"
    assert [m["quality"] for m in doc["mean"]] == [20, 80] and len(doc["results"]) == 4
    codec = get_codec("jpeg")
    for row in doc["results"]:
        img = crops[row["image"].split(".")[0]]
        enc = codec.encode(img, quality=row["quality"])
        assert row["bytes"] == len(enc.data)
        assert row["bpp"] == pytest.approx(8 * len(enc.data) / (img.shape[0] * img.shape[1]))
        assert row["psnr"] == pytest.approx(psnr(img, codec.decode(enc.data).image))
        assert 0.5 < row["ms_ssim"] <= 1.0
    lo, hi = doc["mean"]
    assert hi["bpp"] > lo["bpp"] and hi["psnr"] > lo["psnr"] and hi["ms_ssim"] > lo["ms_ssim"]
    assert lo["psnr"] == pytest.approx(np.mean([r["psnr"] for r in doc["results"] if r["quality"] == 20]))
    table = runner.invoke(app, ["rd", "--codec", "jpeg", "--images", str(folder), "-q", "50"])
    assert table.exit_code == 0 and "mean over 2 images" in table.stdout
