"""FID / KID: closed forms with a linear feature extractor, estimator sign properties, and the FID
Inception loading path with random weights the test writes under pytorch-fid's file name (random
weights: only properties that hold for any weights are asserted)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mtgc_link.metrics import FID, KID, MetricUnavailable, fid_inception_availability
from mtgc_link.metrics.fid import default_extractor
from mtgc_link.metrics.inception import FID_INCEPTION_FILE, FIDInceptionV3


class MeanColour(nn.Module):
    """Features = per-channel mean of the [0, 1] image: linear, so a pixel offset d shifts them by d/255."""

    num_features = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _set(seed: int, n: int = 24, high: int = 200, shape=(16, 20, 3)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Per-image random brightness so the feature covariance is full rank.
    return [(rng.integers(0, high, size=shape) * rng.uniform(0.3, 1.0)).astype(np.uint8) for _ in range(n)]


def _fid(real, fake, extractor=None) -> float:
    fid = FID(feature_extractor=extractor or MeanColour())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return fid.compute()


def test_fid_of_constant_feature_shift_is_squared_distance():
    real = _set(0)
    d = 30  # no clipping: values < 200
    fake = [(img.astype(np.int64) + d).astype(np.uint8) for img in real]
    assert _fid(real, fake) == pytest.approx(3 * (d / 255) ** 2, rel=1e-4)


class RandomProjection(nn.Module):
    """64 fixed random linear features of an 8x8 downsampled image (more dimensions than images)."""

    num_features = 64

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("proj", torch.randn(3 * 8 * 8, 64, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1) @ self.proj


@pytest.mark.parametrize("extractor", [MeanColour, RandomProjection])  # n > D (eigh) and n < D (nuclear norm)
def test_fid_equals_torchmetrics(extractor):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _set(6), _set(7, high=150)
    reference = FrechetInceptionDistance(feature=extractor(), normalize=True)  # float64 statistics inside
    for images, is_real in ((real, True), (fake, False)):
        reference.update(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255, real=is_real)
    assert _fid(real, fake, extractor()) == pytest.approx(float(reference.compute()), rel=1e-6)


def test_fid_of_a_set_against_itself_is_zero_and_fid_is_symmetric():
    x, y = _set(1), _set(2, high=120)
    fid_xy, fid_yx = _fid(x, y), _fid(y, x)
    assert abs(_fid(x, x)) < 1e-6 * fid_xy
    assert fid_xy > 0 and fid_yx == pytest.approx(fid_xy, rel=1e-5)


def _kid(real, fake, **kw):
    kid = KID(feature_extractor=MeanColour(), subsets=10, **kw)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    return kid, kid.compute()


def test_kid_unbiased_estimator_signs():
    x = _set(3)
    kid, (same, _) = _kid(x, x)
    # Unbiased MMD^2 of a set with itself: within-set terms skip the diagonal, the cross term keeps it,
    # so for distinct points it is strictly negative (an unbiased estimator can go below 0).
    assert same < 0
    assert kid.subset_size_used == len(x)  # subset_size 1000 > 24 images: uses all of them
    _, (other_draw, _) = _kid(x, _set(4))  # same distribution, independent draw: near 0
    shifted = [(img.astype(np.int64) + 40).astype(np.uint8) for img in x]
    _, (far, _) = _kid(x, shifted)
    assert far > 0 and abs(other_draw) < 0.1 * far
    assert _kid(x, shifted, seed=0)[1] == _kid(x, shifted, seed=0)[1]


def test_set_metrics_validate_input():
    fid = FID(feature_extractor=MeanColour())
    with pytest.raises(TypeError, match=r"images\[1\] must have dtype uint8"):
        fid.update([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)], real=True)
    with pytest.raises(ValueError, match="got one image"):
        fid.update(np.zeros((8, 8, 3), np.uint8), real=True)
    fid.update([np.zeros((8, 8, 3), np.uint8)] * 3, real=True)
    with pytest.raises(ValueError, match="at least 2 fake images, got 0"):
        fid.compute()


def test_missing_inception_weights_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    ok, reason = fid_inception_availability()
    assert not ok and FID_INCEPTION_FILE in reason and "pytorch-fid/releases" in reason
    with pytest.raises(MetricUnavailable, match=FID_INCEPTION_FILE):
        FID()
    with pytest.raises(MetricUnavailable, match=FID_INCEPTION_FILE):
        KID()


class _Cached(nn.Module):
    """Reuses features of images already seen, so the slow random Inception runs once per image."""

    num_features = 2048

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.cache = net, {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = x.numpy().tobytes()
        if key not in self.cache:
            self.cache[key] = self.net(x)
        return self.cache[key]


def test_fid_inception_loads_from_weights_folder_end_to_end(tmp_path):
    torch.manual_seed(0)
    net = FIDInceptionV3()
    for m in net.modules():  # variance-preserving init, so random features are not vanishingly small
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    state = net.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)  # as in the real file
    torch.save(state, tmp_path / FID_INCEPTION_FILE)

    assert fid_inception_availability(tmp_path) == (True, None)
    loaded = default_extractor(tmp_path)
    images = _set(5, n=2, shape=(40, 56, 3))
    cached = _Cached(loaded)
    with torch.no_grad():
        feats = cached(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255.0))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and feats.std(0).mean() > 0
    assert len(cached.cache) == 1

    fid = FID(feature_extractor=cached)
    fid.update(images, real=True)
    fid.update(images, real=False)
    spread = float(feats.var(0).sum())
    assert abs(fid.compute()) < 1e-4 * spread
    kid = KID(feature_extractor=cached, subsets=1)
    kid.update(images, real=True)
    kid.update(images, real=False)
    assert kid.compute()[0] < 0
    assert len(cached.cache) == 1  # every update reused the one forward pass
