"""Figures from a real (tiny) sweep: every kind is written as PNG and PDF, and none is blank."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtgc_link.plots import mean_ci, plot_bits_per_modality, plot_results, wilson
from mtgc_link.sweep.config import parse_config
from mtgc_link.sweep.runner import run_sweep

CFG = {
    "name": "plots",
    "images": {"source": "demo", "resize": 48, "limit": 2},
    "codecs": [{"name": "jpeg"}, {"name": "webp"}],
    "channels": [{"model": "awgn"}],
    "phy": {"num_prbs": 4, "csi": "perfect"},
    "snr_db": [-6.0, 2.5, 20.0],
    "budgets": [{"cbr": 0.5}, {"cbr": 1.0}],
    "mcs": {"fixed": 9},
    "trials": 2,
    "metrics": ["psnr"],
    "save_images": {"max_images": 2},
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep without figures, then `mtgc-link plot` on its folder (one plotting pass for all tests)."""
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    res = run_sweep(parse_config(CFG), tmp_path_factory.mktemp("plots"), plots=False, progress=False)
    assert not (res.out_dir / "figures").exists()
    out = CliRunner().invoke(app, ["plot", str(res.out_dir)])
    assert out.exit_code == 0, out.output
    res.figures = sorted((res.out_dir / "figures").iterdir())
    assert f"{len(res.figures)} files" in out.output
    return res


def _not_blank(png) -> None:
    arr = np.asarray(Image.open(png).convert("L"), dtype=np.float64)
    assert arr.shape[0] > 100 and arr.shape[1] > 100
    # a drawn figure has many non-white pixels and real contrast
    assert (arr < 200).mean() > 0.01 and arr.std() > 20, png


def test_every_figure_written_and_not_blank(sweep):
    names = {p.name for p in sweep.figures}
    expected = [
        "psnr_vs_snr__cbr_0.5",
        "psnr_vs_snr__cbr_1",
        "psnr_vs_budget",
        "ber_bler_vs_snr",
        "decode_failure_vs_snr",
        "image_grid__AWGN__cbr_0.5",
        "image_grid__AWGN__cbr_1",
    ]
    for stem in expected:
        for ext in ("png", "pdf"):
            assert f"{stem}.{ext}" in names, (stem, sorted(names))
    for p in sweep.figures:
        assert p.is_file() and p.stat().st_size > 5_000, p
        if p.suffix == ".pdf":
            assert p.read_bytes()[:5] == b"%PDF-"
        else:
            _not_blank(p)


def test_bits_per_modality(tmp_path):
    df = pd.DataFrame(
        {
            "codec": ["mtgc"] * 2,
            "budget": ["cbr=0.01"] * 2,
            "segment_bits": [
                json.dumps({"caption": 200, "latent": 800}),
                json.dumps({"caption": 100, "latent": 900}),
            ],
        }
    )
    files = plot_bits_per_modality(df, tmp_path)
    assert [f.suffix for f in files] == [".png", ".pdf"]
    _not_blank(files[0])
    assert plot_bits_per_modality(df.assign(segment_bits=""), tmp_path) == []


def test_interval_estimates():
    m, half, n = mean_ci([1.0, 2.0, 3.0, float("inf"), float("nan")])  # non-finite values left out
    assert (m, n) == (2.0, 3)
    assert half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)  # t_{0.975, 2} = 4.3027
    p, lo, hi = wilson(0, 10)
    assert p == 0 and lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)  # Wilson upper bound for 0/10
    assert np.isnan(mean_ci([])[0])


def test_plot_missing_folder(tmp_path):
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    with pytest.raises(FileNotFoundError, match="no results"):
        plot_results(tmp_path)
    res = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "no results" in res.output
