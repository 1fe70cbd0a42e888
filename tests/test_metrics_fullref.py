"""Weight-free perceptual metrics (HaarPSI, GMSD, VIF): identity values, monotone in distortion, ranges,
direction flags, size limits, and an honest 'unavailable' when piq is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mtgc_link.metrics import compute_metrics, fullref, get_metric


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(("name", "ideal"), [("haarpsi", 1.0), ("gmsd", 0.0), ("vif", 1.0)])
def test_identical_images_score_ideal(astronaut, name, ideal):
    assert get_metric(name)(astronaut, astronaut) == pytest.approx(ideal, abs=1e-5)


@pytest.mark.parametrize("name", ["haarpsi", "gmsd", "vif"])
def test_more_noise_scores_worse_in_the_metric_direction(astronaut, name):
    m = get_metric(name)
    scores = [m(astronaut, _noisy(astronaut, s)) for s in (4, 12, 36)]
    order = scores if not m.higher_is_better else [-s for s in scores]
    assert order[0] < order[1] < order[2], scores
    if name == "haarpsi":
        assert all(0 <= s <= 1 for s in scores)


def test_blur_is_punished_by_gradient_metrics_more_than_by_a_small_shift_in_brightness(astronaut):
    from PIL import Image, ImageFilter

    blurred = np.asarray(Image.fromarray(astronaut).filter(ImageFilter.GaussianBlur(3)))
    brighter = np.clip(astronaut.astype(int) + 6, 0, 255).astype(np.uint8)
    assert fullref.gmsd(astronaut, blurred) > 5 * fullref.gmsd(astronaut, brighter)
    assert fullref.haarpsi(astronaut, blurred) < fullref.haarpsi(astronaut, brighter)


def test_vif_matches_torchmetrics_module_class(astronaut):
    import torch
    from torchmetrics.image import VisualInformationFidelity

    noisy = _noisy(astronaut, 20)
    t = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float()  # noqa: E731
    expected = float(VisualInformationFidelity()(t(noisy), t(astronaut)))
    assert fullref.vif(astronaut, noisy) == pytest.approx(expected, rel=1e-5)


def test_small_images_are_not_applicable_and_reported(astronaut):
    small = np.ascontiguousarray(astronaut[:20, :20])
    values, unavailable = compute_metrics(small, small, ["haarpsi", "vif", "gmsd"])
    assert values["haarpsi"] is None and "32 px" in unavailable["haarpsi"]
    assert values["vif"] is None and "41 px" in unavailable["vif"]
    assert values["gmsd"] == pytest.approx(0.0)


def test_missing_piq_reports_unavailable_with_the_install_line(monkeypatch, astronaut):
    fullref._piq_module.cache_clear()
    monkeypatch.delitem(sys.modules, "piq", raising=False)
    monkeypatch.setattr(fullref.importlib.util, "find_spec", lambda name: None)
    try:
        ok, reason = fullref.HaarPSI().availability()
        assert not ok and "piq" in reason and "--no-deps" in reason
        values, unavailable = compute_metrics(astronaut, astronaut, ["gmsd", "psnr"])
        assert values["gmsd"] is None and "piq" in unavailable["gmsd"] and values["psnr"] == float("inf")
    finally:
        fullref._piq_module.cache_clear()


def test_piq_loads_without_torchvision():
    fullref.haarpsi(np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8))
    assert "torchvision" not in sys.modules
