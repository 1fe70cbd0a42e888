"""MTGC (tiny profile) through the whole link from a sweep config: real bits per modality cross the PHY,
error-free trials reproduce the sent guidance, lost headers fall back to the failure policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.runner import run_sweep

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "mtgc_tiny.yaml"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    data = yaml.safe_load(CONFIG.read_text())
    data["images"]["limit"] = 1
    out = tmp_path_factory.mktemp("mtgc_sweep")
    res = run_sweep(parse_config(data, str(CONFIG)), out, workers=1, plots=True, progress=False)
    return res, out


def test_mtgc_rows_are_labelled_untrained_and_bits_are_real(sweep):
    res, _ = sweep
    df = res.table
    mt = df[df["codec_name"] == "mtgc"]
    assert len(mt) == 3 and set(mt["snr_db"]) == {-4.0, 2.0, 12.0}
    assert (mt["codec_trained"] == "no").all() and mt["codec_backend"].str.contains("untrained").all()
    for _, row in mt.iterrows():
        segments = json.loads(row["segment_bits"])
        assert set(segments) == {"header", "caption", "hci", "spw"}
        assert sum(segments.values()) == row["stream_bits"] <= row["budget_bits"]
        assert row["bpp"] == pytest.approx(row["stream_bits"] / (row["height"] * row["width"]))
        assert row["bpp"] < 0.05


def test_error_free_trial_decodes_and_lost_header_falls_back_to_policy(sweep):
    res, _ = sweep
    df = res.table
    mt = df[df["codec_name"] == "mtgc"].set_index("snr_db")
    clean = mt.loc[12.0]
    assert clean["bler"] == 0.0 and bool(clean["received_identical"]) and clean["decode_status"] == "ok"
    lost = mt.loc[-4.0]
    assert lost["bler"] == 1.0 and lost["decode_status"] != "ok" and bool(lost["policy_applied"])
    # Both codecs fell back to the same gray image of the same original: identical PSNR.
    bpg_lost = df[(df["codec_name"] == "bpg") & (df["snr_db"] == -4.0)].iloc[0]
    assert bpg_lost["decode_status"] != "ok"
    assert np.isclose(lost["psnr"], bpg_lost["psnr"])


def test_bits_per_modality_figure_is_drawn(sweep):
    _, out = sweep
    png = out / "figures" / "bits_per_modality.png"
    assert png.is_file() and png.stat().st_size > 5_000


def test_image_grid_shows_the_relabelled_untrained_codec(sweep, tmp_path):
    """The figures call the codec "mtgc (untrained)"; the grid still finds its pictures through the row's
    ``image_file`` (the bug was a blank cell, keyed by the display label, with no warning)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from mtgc_link.plots import plot_image_grids

    res, out = sweep
    df = res.table.copy()
    mt = df[(df["codec_name"] == "mtgc") & df["image_file"].notna()]
    assert len(mt) == 3 and all((out / f).is_file() for f in mt["image_file"])
    df.loc[df["codec_name"] == "mtgc", "codec"] = "mtgc (untrained)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a saved picture that cannot be found would warn
        files = plot_image_grids(df, out, tmp_path)
    assert any(f.suffix == ".png" for f in files)
    (out / mt["image_file"].iloc[0]).unlink()
    with pytest.warns(UserWarning, match="saved images are missing"):
        plot_image_grids(df, out, tmp_path)
