"""A sweep over a folder with unreadable images (issue 11): they are named up front, before the first row, in
one warning line; every point of theirs gets a typed ``image_error`` row (metrics null, the file named in the
reason) and the rest runs, table and figures written, a codec refusing one image's shape giving
``encode_error`` rows in the same run; ``images.on_error: refuse`` stops before any work, naming them; the
mean colour ignores them; a resumed run keeps their rows, and a folder whose image became readable is
refused."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtgc_link.codecs import CODECS
from mtgc_link.codecs.jpeg import JpegCodec
from mtgc_link.demo_images import ImageSetError, image_files, load_image_set
from mtgc_link.images import ImageError
from mtgc_link.link import mean_colour
from mtgc_link.sweep import grid, store, task
from mtgc_link.sweep.config import ConfigError, parse_config
from mtgc_link.sweep.rows import DECODE_STATUSES, ERROR_STATUSES
from mtgc_link.sweep.runner import check_extension, dry_run, prepare_sweep, run_sweep


def _picture(h: int, w: int, level: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 5 % 256, y * 7 % 256, np.full_like(x, level)], axis=-1).astype(np.uint8)


@pytest.fixture
def folder(tmp_path) -> Path:
    """a: 32 x 48 (the `narrow` codec refuses its 48 px side), b: 32 x 32, bad.png: text, trunc.png: a PNG
    cut in half."""
    d = tmp_path / "images"
    d.mkdir()
    Image.fromarray(_picture(32, 48, 60)).save(d / "a.png")
    Image.fromarray(_picture(32, 32, 180)).save(d / "b.png")
    (d / "bad.png").write_text("not a picture")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 48, 3), np.uint8)).save(buf, "PNG")
    (d / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return d


class NarrowJpeg(JpegCodec):
    """JPEG that takes at most 40 px a side (``SourceCodec.check_shape``: an ``ImageShapeError``)."""

    name = "narrow"
    max_side = 40


@pytest.fixture
def narrow():
    CODECS.register("narrow")(NarrowJpeg)
    try:
        yield "narrow"
    finally:
        CODECS._items.pop("narrow", None)
        task._codec.cache_clear()


def _cfg(folder: Path, **over) -> dict:
    base = {
        "name": "bad",
        "images": {"source": str(folder)},
        "codecs": [{"name": "jpeg"}],
        "channels": [{"model": "awgn"}],
        "phy": {"num_prbs": 4, "csi": "perfect"},
        "snr_db": [20.0],
        "budgets": [{"cbr": 1.0}],
        "mcs": {"fixed": 9},
        "seed": 3,
        "failure_policy": "gray",
        "metrics": ["psnr"],
        "save_images": {"max_images": 0},
        "references": False,
    }
    base.update(over)
    return base


class _Events:
    """Records, in order, what is written to stderr and each stored row."""

    def __init__(self, monkeypatch) -> None:
        self.log: list[tuple[str, str]] = []
        events = self

        class Err(io.StringIO):
            def write(self, text: str) -> int:
                events.log.append(("stderr", text))
                return len(text)

        real = store.RowWriter.append

        def append(writer, row):
            events.log.append(("row", row["key"]))
            return real(writer, row)

        monkeypatch.setattr(sys, "stderr", Err())
        monkeypatch.setattr(store.RowWriter, "append", append)

    def stderr(self) -> str:
        return "".join(t for kind, t in self.log if kind == "stderr")


# ------------------------------------------------------------------------------------------- the sweep
def test_unreadable_images_become_image_error_rows_and_the_sweep_goes_on(
    folder, narrow, tmp_path, monkeypatch
):
    cfg = parse_config(_cfg(folder, codecs=[{"name": "jpeg"}, {"name": "narrow"}], references=True))
    out = tmp_path / "out"
    events = _Events(monkeypatch)
    res = run_sweep(cfg, out, plots=True, progress=False)

    # named up front: one warning line, both files, before the first row was stored
    warning = [line for line in events.stderr().splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert warning[0].startswith(f"warning: images.source {str(folder)!r}: 2 unreadable files: ")
    assert f"{folder / 'bad.png'} (not an image file Pillow can read" in warning[0]
    assert f"{folder / 'trunc.png'} (truncated" in warning[0]
    assert "image_error" in warning[0] and "on_error: refuse" in warning[0]
    first_row = next(i for i, (kind, _) in enumerate(events.log) if kind == "row")
    first_warning = next(i for i, (kind, t) in enumerate(events.log) if kind == "stderr" and "warning:" in t)
    assert first_warning < first_row

    # every point has its row: 4 images x 2 codecs
    df = res.table.set_index("key")
    assert res.points == res.ran == len(df) == 8 and res.skipped == 0
    assert set(res.unreadable) == {"bad", "trunc"}
    assert res.unreadable["bad"].startswith(f"image file {folder / 'bad.png'}: not an image file Pillow")
    assert res.errors == {"encode_error": 1, "image_error": 4}
    status = df["decode_status"].to_dict()
    assert status == {
        "jpeg|AWGN|20dB|cbr=1|fixed9|a|t0": "ok",
        "jpeg|AWGN|20dB|cbr=1|fixed9|b|t0": "ok",
        "jpeg|AWGN|20dB|cbr=1|fixed9|bad|t0": "image_error",
        "jpeg|AWGN|20dB|cbr=1|fixed9|trunc|t0": "image_error",
        "narrow|AWGN|20dB|cbr=1|fixed9|a|t0": "encode_error",
        "narrow|AWGN|20dB|cbr=1|fixed9|b|t0": "ok",
        "narrow|AWGN|20dB|cbr=1|fixed9|bad|t0": "image_error",
        "narrow|AWGN|20dB|cbr=1|fixed9|trunc|t0": "image_error",
    }
    assert set(df["decode_status"]) <= set(DECODE_STATUSES) and "image_error" in ERROR_STATUSES
    ok = df[df["decode_status"] == "ok"]
    assert np.isfinite(ok["psnr"].astype(float)).all() and (ok["psnr"].astype(float) > 25).all()
    assert ok["height"].tolist() == [32, 32, 32] and ok["width"].tolist() == [48, 32, 32]

    # a shape the codec refuses: encode_error, in the same run
    enc = df.loc["narrow|AWGN|20dB|cbr=1|fixed9|a|t0"]
    assert enc["decode_reason"] == (
        "encode (narrow): ImageShapeError: narrow: cannot code an image of 32x48 (HxW); it takes 1..40 px a "
        "side and at most max_pixels=64000000 pixels"
    )
    assert pd.isna(enc["psnr"]) and enc["psnr_reason"] == "not computed (encode_error)"

    # the unreadable images: typed rows, the file and why in the reason, metrics and references null
    for name, why in (("bad", "not an image file Pillow can read"), ("trunc", "truncated")):
        for codec in ("jpeg", "narrow"):
            row = df.loc[f"{codec}|AWGN|20dB|cbr=1|fixed9|{name}|t0"]
            assert row["decode_reason"].startswith(f"image file {folder / (name + '.png')}: {why}")
            assert "\n" not in row["decode_reason"] and "0x" not in row["decode_reason"]
            assert not row["decode_ok"] and not row["policy_applied"]
            assert pd.isna(row["psnr"]) and row["psnr_reason"] == "not computed (image_error)"
            # what needs the image's size is null; what does not is kept (cbr=1 grants 3 H W uses)
            assert pd.isna(row["height"]) and pd.isna(row["width"])
            assert pd.isna(row["budget_uses"]) and pd.isna(row["budget_bits"])
            assert row["budget_cbr"] == 1.0 and (ok["budget_cbr"] == 1.0).all()
            assert row["bpp"] == row["cbr"] == row["stream_bits"] == 0  # nothing sent, whatever the size
            assert row["blocks"] == 0 and row["channel_uses"] == 0 and row["codec"] == codec
            assert row["image"] == name and row["snr_db"] == 20.0 and row["budget"] == "cbr=1"
            assert row["ref_error_free_status"] == "image_error" and pd.isna(row["ref_error_free_psnr"])
            assert row["ref_capacity_status"] == "image_error" and pd.isna(row["ref_capacity_psnr"])
            assert pd.isna(row["ref_floor_psnr"])
    # their seeds are those of the grid (the channel-side coordinates), as for any image of that name
    assert df.loc["jpeg|AWGN|20dB|cbr=1|fixed9|bad|t0", "seed"] == _grid_seed(cfg, "bad")
    # every row has the same columns in the same order (an image_error row too)
    shards = store.read_rows(out)
    assert len({tuple(r) for r in shards}) == 1

    # the table and the figures are written
    assert (out / "results.parquet").is_file() and (out / "results.csv").is_file()
    assert res.figures and all(Path(f).is_file() for f in res.figures)

    # resumed: nothing runs again, the unreadable images are named again, their rows kept
    again = run_sweep(cfg, out, plots=False, progress=False)
    assert again.ran == 0 and again.skipped == 8 and set(again.unreadable) == {"bad", "trunc"}
    assert again.errors == {"encode_error": 1, "image_error": 4}

    # on_error changes no row: the folder accepts it; refuse then stops before any work, naming both files
    codecs = [{"name": "jpeg"}, {"name": "narrow"}]
    images = {"source": str(folder), "on_error": "refuse"}
    refusing = parse_config(_cfg(folder, codecs=codecs, references=True, images=images))
    check_extension(store.read_manifest(out), refusing, out)
    before = sorted(p.name for p in (out / "rows").iterdir())
    with pytest.raises(ImageSetError) as info:
        run_sweep(refusing, out, plots=False, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"images.source {str(folder)!r}: 2 unreadable files: ")
    assert str(folder / "bad.png") in msg and str(folder / "trunc.png") in msg
    assert sorted(p.name for p in (out / "rows").iterdir()) == before

    # an image that became readable: its image_error rows would stay: refused, naming it
    Image.fromarray(_picture(32, 32, 90)).save(folder / "bad.png")
    with pytest.raises(ValueError, match=r"holds image_error rows of image 'bad', which can be read now"):
        run_sweep(cfg, out, plots=False, progress=False)
    assert sorted(p.name for p in (out / "rows").iterdir()) == before


def _grid_seed(cfg, image: str) -> int:
    """The seed the grid gives the (only) point of ``image`` (shape-free: any shape gives the same)."""
    shapes = {n: (32, 32, 3) for n in ("a", "b", "bad", "trunc")}
    points, _ = grid.expand(cfg, shapes, lambda ch, snr: 9, lambda b, m, h, w: 1000)
    return next(p.seed for p in points if p.image == image)


def test_on_error_refuse_stops_before_any_work(folder, tmp_path):
    cfg = parse_config(_cfg(folder, images={"source": str(folder), "on_error": "refuse"}))
    out = tmp_path / "out"
    with pytest.raises(ImageSetError) as info:
        run_sweep(cfg, out, plots=False, progress=False)
    assert [Path(e.path).name for e in info.value.errors] == ["bad.png", "trunc.png"]
    assert info.value.names == ["bad", "trunc"]
    assert not (out / "rows").exists() and not (out / "manifest.json").exists()
    with pytest.raises(ImageSetError):
        dry_run(cfg, out, calibrate=False)
    # the value is checked on load, naming the field
    with pytest.raises(ConfigError, match=r"images\.on_error: Input should be 'rows' or 'refuse'"):
        parse_config(_cfg(folder, images={"source": str(folder), "on_error": "skip"}))
    # the default is not dumped (config hashes of existing sweeps hold); refuse is
    assert "on_error" not in parse_config(_cfg(folder)).model_dump()["images"]
    assert cfg.model_dump()["images"]["on_error"] == "refuse"
    assert parse_config(_cfg(folder)).config_hash() != cfg.config_hash()
    # a set without any readable image is refused under rows too
    only_bad = parse_config(_cfg(folder, images={"source": str(folder / "*[dc].png")}))
    with pytest.raises(ImageSetError, match="2 unreadable files"):
        run_sweep(only_bad, tmp_path / "out2", plots=False, progress=False)


def test_mean_colour_grid_and_dry_run_ignore_the_unreadable_images(folder, tmp_path, capsys):
    cfg = parse_config(_cfg(folder, failure_policy="mean", trials=2))
    prep = prepare_sweep(cfg, tmp_path / "out")
    good = load_image_set(str(folder / "[ab].png"))
    assert list(good) == ["a", "b"]
    assert prep.ctx.mean_rgb == mean_colour(good.values()).tolist()
    assert prep.names == ["a", "b", "bad", "trunc"] and list(prep.unreadable) == ["bad", "trunc"]
    assert all(isinstance(e, ImageError) for e in prep.unreadable.values())
    # 4 images x 2 trials = 8 points; the unreadable images' points are in no task
    assert (
        len(prep.points) == 8
        and sorted(p.image for t in prep.tasks for p in t.points) == ["a"] * 2 + ["b"] * 2
    )
    # the workers read the readable files, by name: exactly those checked here
    spec = prep.ctx.config.images
    assert [n for n, _ in spec.source] == ["a", "b"] and spec.limit is None
    assert task.images_of(spec).keys() == good.keys()
    assert all(np.array_equal(task.images_of(spec)[n], good[n]) for n in good)
    assert "warning: images.source" in capsys.readouterr().err

    plan = dry_run(cfg, tmp_path / "out", calibrate=False)
    assert plan.rows == plan.todo_rows == 8 and plan.encodes == 2 and plan.axes["image"] == 4
    assert plan.unreadable == ["bad", "trunc"] and plan.unreadable_rows == 4
    assert "unreadable images (bad, trunc): 4 of those rows get decode_status image_error" in plan.describe()
    assert not (tmp_path / "out").exists()


def test_grid_gives_unreadable_images_points_without_tasks(folder):
    cfg = parse_config(_cfg(folder, snr_db=[0.0, 10.0]))
    shapes = {"a": (32, 48, 3), "bad": None, "b": (32, 32, 3)}
    points, tasks = grid.expand(cfg, shapes, lambda ch, snr: 9, lambda b, m, h, w: 8 * h * w)
    full, _ = grid.expand(cfg, {**shapes, "bad": (8, 8, 3)}, lambda ch, snr: 9, lambda b, m, h, w: 8 * h * w)
    assert [(p.index, p.key, p.seed) for p in points] == [(p.index, p.key, p.seed) for p in full]
    assert len(points) == 6 and {t.image for t in tasks} == {"a", "b"}
    assert sum(len(t.points) for t in tasks) == 4


def test_load_image_set_collects_the_unreadable_files(folder):
    images, bad = load_image_set(str(folder), resize=16, errors="collect")
    assert list(images) == ["a", "b"] and images["a"].shape == (10, 16, 3)
    assert list(bad) == ["bad", "trunc"] and all(isinstance(e, ImageError) for e in bad.values())
    assert bad["bad"].path == str(folder / "bad.png") and bad["trunc"].reason.startswith("truncated")
    # limit selects names before reading: the unreadable files count
    images, bad = load_image_set(str(folder), limit=3, errors="collect")
    assert list(images) == ["a", "b"] and list(bad) == ["bad"]
    assert load_image_set("demo", 32, 1, errors="collect")[1] == {}
    with pytest.raises(ImageSetError) as info:
        load_image_set(str(folder))
    assert info.value.unreadable.keys() == bad.keys() | {"trunc"}
    with pytest.raises(ValueError, match=r"errors must be one of raise, collect, got 'skip'"):
        load_image_set(str(folder), errors="skip")
    assert list(image_files(str(folder), limit=2).values()) == [folder / "a.png", folder / "b.png"]
    assert list(load_image_set((("x", str(folder / "b.png")),))) == ["x"]
