"""The demo with MTGC-compact: its rows are marked trained, carry the demo captions, decode at high SNR to
pictures of the photo (not noise), and the image grid shows MTGC cells even though the codec's label in the
figures changes. A reduced grid of the real demo config (one photo, AWGN, two SNRs, one budget, one trial)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from PIL import Image

from mtgc_link.codecs.mtgc.profiles import COMPACT_DIR
from mtgc_link.metrics import psnr
from mtgc_link.sweep import demo
from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    if not (COMPACT_DIR / "mtgc_config.json").is_file():
        pytest.fail(f"the compact weights are missing from {COMPACT_DIR}")
    profile, why = demo.mtgc_status()
    assert profile == "compact", why
    data = copy.deepcopy(demo.DEMO)
    data["codecs"].append({"name": "mtgc", "settings": {"profile": profile}})
    data.update(channels=[{"model": "awgn"}], snr_db=[0.0, 16.0], budgets=[{"cbr": 0.18}], trials=1)
    data["images"]["limit"] = 1  # astronaut
    out = tmp_path_factory.mktemp("demo_mtgc")
    res = run_sweep(parse_config(data, "demo"), out, workers=1, plots=True, progress=False)
    return res.table, out


def test_mtgc_rows_are_trained_compact_and_sent_the_caption(sweep):
    df, _ = sweep
    mt = df[df["codec_name"] == "mtgc"]
    assert len(mt) == 2
    assert (mt["codec_trained"] == "yes").all() and (mt["codec_backend"] == "mtgc-compact").all()
    for _, row in mt.iterrows():
        segments = json.loads(row["segment_bits"])
        assert segments["caption"] > 0 and segments["hci"] > 0 and segments["spw"] > 0


def test_clean_mtgc_decode_is_a_picture_of_the_photo(sweep):
    df, out = sweep
    row = df[(df["codec_name"] == "mtgc") & (df["snr_db"] == 16.0)].iloc[0]
    assert row["decode_status"] == "ok" and bool(row["received_identical"])
    original = np.asarray(Image.open(out / "images" / "original" / "astronaut.png"))
    decoded = np.asarray(Image.open(out / row["image_file"]))
    flat = np.broadcast_to(original.reshape(-1, 3).mean(0).round().astype(np.uint8), original.shape)
    # well above the image's own mean colour (what a broken or random decoder lands near)
    assert psnr(original, decoded) > psnr(original, flat) + 4.0
    assert np.isfinite(row["haarpsi"]) and np.isfinite(row["gmsd"])


def test_image_grid_has_mtgc_cells(sweep):
    df, out = sweep
    mt = df[df["codec_name"] == "mtgc"]
    assert mt["image_file"].notna().all() and all((out / f).is_file() for f in mt["image_file"])
    grids = list((out / "figures").glob("image_grid__*.png"))
    assert grids and all(g.stat().st_size > 10_000 for g in grids)
