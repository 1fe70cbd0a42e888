"""PSNR / SSIM / MS-SSIM against closed forms and scikit-image on synthetic images."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from mtgc_link.metrics import (
    MetricNotApplicable,
    compute_metrics,
    mean_psnr,
    ms_ssim,
    psnr,
    psnr_of_mean_mse,
    ssim,
)


def _add(img: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.int64) + delta, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("d", [1, 3, 10, 40])
def test_psnr_constant_offset_closed_form(d):
    rng = np.random.default_rng(d)
    ref = rng.integers(0, 256 - d, size=(48, 64, 3), dtype=np.uint8)  # no clipping after + d
    img = ref + np.uint8(d)
    assert psnr(ref, img) == pytest.approx(10 * math.log10(255**2 / d**2), abs=1e-9)
    assert psnr(img, ref) == pytest.approx(psnr(ref, img), abs=1e-12)


@pytest.mark.parametrize("k", [2, 8, 25])
def test_psnr_uniform_noise_of_known_variance(k):
    # Integer noise uniform on {-k..k} has variance k(k+1)/3; mid-grey avoids clipping.
    rng = np.random.default_rng(k)
    ref = np.full((256, 256, 3), 128, dtype=np.uint8)
    img = _add(ref, rng.integers(-k, k + 1, size=ref.shape))
    expected = 10 * math.log10(255**2 / (k * (k + 1) / 3))
    assert psnr(ref, img) == pytest.approx(expected, abs=0.05)


def test_identical_images_give_inf_and_one(astronaut):
    img = astronaut[:176, 100:300]
    assert psnr(img, img.copy()) == math.inf
    assert ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)


def test_mean_psnr_versus_psnr_of_mean_mse():
    # MSEs 1 and 100: the mean of per-image PSNRs and the PSNR of the mean MSE differ (Jensen).
    p1, p100 = 10 * math.log10(255**2 / 1), 10 * math.log10(255**2 / 100)
    assert mean_psnr([p1, p100]) == pytest.approx((p1 + p100) / 2, abs=1e-12)
    assert psnr_of_mean_mse([1.0, 100.0]) == pytest.approx(10 * math.log10(255**2 / 50.5), abs=1e-12)
    assert mean_psnr([p1, p100]) > psnr_of_mean_mse([1.0, 100.0])
    with pytest.raises(ValueError, match="values is empty"):
        mean_psnr([])


@pytest.mark.parametrize(
    "kind",
    ["noise", "offset", "blur", "random_pair"],
)
def test_ssim_matches_scikit_image(astronaut, kind):
    rng = np.random.default_rng(1)
    ref = astronaut[100:300, 150:400]
    if kind == "noise":
        img = _add(ref, np.round(rng.normal(0, 12, ref.shape)).astype(np.int64))
    elif kind == "offset":
        img = _add(ref, np.full(ref.shape, 17))
    elif kind == "blur":
        img = ((ref[:-2].astype(np.uint16) + ref[1:-1] + ref[2:]) // 3).astype(np.uint8)
        ref = ref[1:-1]
    else:
        ref = rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
        img = rng.integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    expected = structural_similarity(
        ref,
        img,
        channel_axis=-1,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(ref, img) == pytest.approx(expected, abs=5e-5)


def test_ms_ssim_decreases_with_noise_level(astronaut):
    rng = np.random.default_rng(2)
    ref = astronaut[100:276, 100:276]
    noise = rng.normal(0, 1, ref.shape)
    values = [ms_ssim(ref, _add(ref, np.round(s * noise).astype(np.int64))) for s in (1, 5, 20, 60)]
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True)), values
    assert 0.0 < values[-1] < values[0] < 1.0


def test_ms_ssim_small_image_is_explicit():
    img = np.zeros((160, 400, 3), dtype=np.uint8)
    with pytest.raises(MetricNotApplicable, match="160 px.*160x400"):
        ms_ssim(img, img)
    values, unavailable = compute_metrics(img, img, ["psnr", "ms-ssim", "ssim"])
    assert values["psnr"] == math.inf and values["ssim"] == pytest.approx(1.0)
    assert values["ms-ssim"] is None and "160 px" in unavailable["ms-ssim"]
    assert set(unavailable) == {"ms-ssim"}


def test_input_validation_names_the_problem():
    a = np.zeros((32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"shapes differ: reference \(32, 32, 3\), image \(32, 16, 3\)"):
        psnr(a, a[:, :16])
    with pytest.raises(TypeError, match="image must have dtype uint8.*float32"):
        ssim(a, a.astype(np.float32))
    with pytest.raises(TypeError, match="reference must have dtype uint8.*int64"):
        psnr(a.astype(np.int64), a)
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\).*\(32, 32\)"):
        psnr(a, a[..., 0])
    with pytest.raises(TypeError, match="reference must be a numpy array.*list"):
        psnr([[0]], a)
    with pytest.raises(KeyError, match="unknown metric 'lpips-squeezy'.*known: .*psnr"):
        compute_metrics(a, a, ["psnr", "lpips-squeezy"])
