"""Reference values of a row (mtgc_link.sweep.reference), with real codecs and numbers computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channels.mcs import shannon_capacity_bits
from mtgc_link.codecs import get_codec
from mtgc_link.demo_images import load_image_set
from mtgc_link.link import encode_for_budget
from mtgc_link.sweep import reference as ref


@pytest.fixture(scope="module")
def image():
    return load_image_set("demo", 64, 1)["astronaut"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def test_error_free_is_the_metric_of_the_codecs_own_decode(image):
    codec = get_codec("jpeg")
    src = encode_for_budget(codec, image, 6000)
    assert src.status == "ok"
    decoded = codec.decode(src.encoded.data)
    calls = []

    def decode(data):
        calls.append(data)
        return codec.decode(data)

    memo: dict = {}
    out = ref.error_free(codec, src.encoded.data, image, ["psnr"], decode=decode, memo=memo)
    assert out["ref_error_free_psnr"] == pytest.approx(_psnr(image, decoded.image), abs=1e-9)
    assert out["ref_error_free_status"] == "ok"
    assert 18 < out["ref_error_free_psnr"] < 40
    again = ref.error_free(codec, src.encoded.data, image, ["psnr"], decode=decode, memo=memo)
    assert again == out and len(calls) == 1  # memoised: one decode per task
    # nothing sent: the failure policy's picture, as over a perfect channel
    gray = ref.error_free(codec, None, image, ["psnr"], policy="gray")
    assert gray["ref_error_free_status"] == "no_fit"
    assert gray["ref_error_free_psnr"] == pytest.approx(_psnr(image, np.full_like(image, 128)))
    assert math.isnan(ref.error_free(codec, None, image, ["psnr"])["ref_error_free_psnr"])  # policy none


def test_capacity_bound_awgn_grows_with_snr_and_uses_the_shannon_bits(image):
    uses = 0.05 * 3 * 64 * 64  # cbr 0.05
    snrs = [8.0, 14.0, 20.0, 30.0]
    memo: dict = {}
    rows = [ref.capacity_bound(image, ref.shannon_bits(uses, s), ["psnr"], memo=memo) for s in snrs]
    for s, r in zip(snrs, rows, strict=True):
        assert r["ref_capacity_bound_bits"] == pytest.approx(shannon_capacity_bits(uses, s))
        assert r["ref_capacity_bound_bits"] == pytest.approx(uses * math.log2(1 + 10 ** (s / 10)))
        assert r["ref_capacity_status"] == "ok"
        assert 0 < r["ref_capacity_stream_bits"] <= r["ref_capacity_bound_bits"]
        assert r["ref_capacity_codec"].startswith("bpg (")
    psnrs = [r["ref_capacity_psnr"] for r in rows]
    assert all(b > a for a, b in zip(psnrs, psnrs[1:], strict=False)), psnrs
    # a realisation's capacity over its data REs, spread over the budget's uses: AWGN gives the same bits
    data_res = 576
    per_re = shannon_capacity_bits(data_res, 14.0)
    assert ref.capacity_bits_for(uses, 14.0, per_re, data_res) == pytest.approx(ref.shannon_bits(uses, 14.0))
    assert ref.capacity_bits_for(uses, 14.0) == pytest.approx(ref.shannon_bits(uses, 14.0))
    # a deep fade halves the bits per RE: half the bound
    assert ref.capacity_bits_for(uses, 14.0, per_re / 2, data_res) == pytest.approx(
        ref.shannon_bits(uses, 14.0) / 2
    )


def test_capacity_bound_below_bpgs_smallest_stream_is_the_floor(image):
    out = ref.capacity_bound(image, 200.0, ["psnr"], policy="gray", memo={})
    assert out["ref_capacity_status"] == "no_fit" and out["ref_capacity_stream_bits"] == 0
    assert out["ref_capacity_psnr"] == pytest.approx(_psnr(image, np.full_like(image, 128)))
    none = ref.capacity_bound(image, 200.0, ["psnr"], policy="none", memo={})
    assert math.isnan(none["ref_capacity_psnr"])
    unknown = ref.capacity_bound(image, math.nan, ["psnr"], memo={})
    assert math.isnan(unknown["ref_capacity_psnr"]) and unknown["ref_capacity_status"] is None


def test_capacity_bound_encodes_once_per_byte_count(image, monkeypatch):
    calls = []
    real = ref.encode_for_budget

    def counting(codec, img, max_bits, caption=None):
        calls.append(max_bits)
        return real(codec, img, max_bits)

    monkeypatch.setattr(ref, "encode_for_budget", counting)
    memo: dict = {}
    a = ref.capacity_bound(image, 3001.2, ["psnr"], memo=memo)
    b = ref.capacity_bound(image, 3001.2, ["psnr"], memo=memo)  # a second trial of an AWGN point
    c = ref.capacity_bound(image, 3006.9, ["psnr"], memo=memo)  # the same whole bytes: 375
    assert calls == [3000] and a["ref_capacity_psnr"] == b["ref_capacity_psnr"] == c["ref_capacity_psnr"]
    assert c["ref_capacity_bound_bits"] == 3006.9  # the bound itself is kept unquantised
    ref.capacity_bound(image, 3008.0, ["psnr"], memo=memo)  # one byte more: a new encode
    assert calls == [3000, 3008]
    # the default memo is per process and bounded
    monkeypatch.setattr(ref, "CAPACITY_MEMO_SIZE", 2)
    monkeypatch.setattr(ref, "_CAPACITY_MEMO", type(ref._CAPACITY_MEMO)())
    for bits in (2400, 2408, 2416, 2400):
        ref.capacity_bound(image, bits, ["psnr"])
    assert len(ref._CAPACITY_MEMO) == 2 and calls[2:] == [2400, 2408, 2416, 2400]


def test_failure_floor_is_the_metric_of_the_policy_picture(image):
    gray = ref.failure_floor(image, "gray", None, ["psnr"])
    assert gray["ref_floor_psnr"] == pytest.approx(_psnr(image, np.full_like(image, 128)), abs=1e-9)
    rgb = np.asarray([120.4, 90.6, 80.0])
    mean = ref.failure_floor(image, "mean", rgb, ["psnr"], memo={})
    expected = np.empty_like(image)
    expected[...] = [120, 91, 80]
    assert mean["ref_floor_psnr"] == pytest.approx(_psnr(image, expected), abs=1e-9)
    assert math.isnan(ref.failure_floor(image, "none", None, ["psnr"])["ref_floor_psnr"])


def test_reference_columns_name_what_the_functions_return(image):
    codec = get_codec("jpeg")
    src = encode_for_budget(codec, image, 6000)
    got = {
        **ref.error_free(codec, src.encoded.data, image, ["psnr"]),
        **ref.capacity_bound(image, 4000.0, ["psnr"], memo={}),
        **ref.failure_floor(image, "gray", None, ["psnr"]),
    }
    assert sorted(got) == sorted(ref.reference_columns(["psnr"]))
