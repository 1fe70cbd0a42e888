"""The end-to-end link: budget arithmetic, the cliff, failure policies, typed no-fit, the transmit CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channels import ChannelConfig, Link, PhyConfig
from mtgc_link.codecs import get_codec
from mtgc_link.demo_images import resize_longer_side
from mtgc_link.link import Budget, encode_for_budget, fallback_image, mean_colour, run_link


def _psnr_closed_form(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def image(astronaut) -> np.ndarray:
    return resize_longer_side(astronaut, 64)


@pytest.fixture(scope="module")
def phy() -> PhyConfig:
    # MCS 9: QPSK, R = 0.66; its AWGN cliff lies near 2 dB Es/N0 (docs/phy.md).
    return PhyConfig(channel=ChannelConfig(model="awgn"), num_prbs=4, mcs_index=9, csi="perfect")


def test_budget_arithmetic(phy):
    h, w = 64, 48
    uses_per_slot = 4 * 12 * 14  # PRBs x subcarriers x OFDM symbols, DMRS included
    k = Link(phy).payload_bits_per_slot
    b = Budget(cbr=0.5)
    assert b.channel_uses(h, w, phy) == 0.5 * 3 * h * w == 4608
    assert b.payload_bits(h, w, phy) == (4608 // uses_per_slot) * k
    assert Budget(uses=1000).payload_bits(h, w, phy) == (1000 // uses_per_slot) * k
    assert Budget(uses=100).payload_bits(h, w, phy) == 0  # less than one slot carries nothing
    ps = Budget(prbs=8, slots=3)
    assert ps.channel_uses(h, w, phy) == 3 * 8 * 12 * 14
    assert ps.phy_config(phy).num_prbs == 8
    assert ps.payload_bits(h, w, phy) == 3 * Link(ps.phy_config(phy)).payload_bits_per_slot
    assert (b.label, ps.label, b.kind, ps.kind) == ("cbr=0.5", "8prb x 3slot", "cbr", "prbs_slots")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "exactly one"),
        ({"uses": 10, "cbr": 0.1}, "exactly one"),
        ({"cbr": 0.0}, "budget.cbr"),
        ({"uses": 0}, "budget.uses"),
        ({"prbs": 4}, "together"),
        ({"prbs": 300, "slots": 1}, "budget.prbs"),
    ],
)
def test_budget_rejects_bad_input(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Budget(**kwargs)


@pytest.mark.parametrize("codec_name", ["jpeg", "bpg"])
def test_cliff_error_free_above_threshold_policy_below(image, phy, codec_name):
    codec = get_codec(codec_name)
    budget = Budget(cbr=0.5)
    src = encode_for_budget(codec, image, budget.payload_bits(*image.shape[:2], phy))
    assert src.status == "ok" and 0 < src.bits <= src.max_bits
    clean = codec.decode(src.encoded.data)
    assert clean.ok
    psnr_source = _psnr_closed_form(image, clean.image)

    # Above the threshold: the bytes arrive intact, so PSNR is exactly the source-coded PSNR.
    for seed in (1, 2):
        hi = run_link(image, codec, phy, budget, snr_db=12.0, seed=seed, policy="gray", metrics=("psnr",))
        assert hi.reception.payload == src.encoded.data
        assert hi.reception.bit_errors == 0 and hi.reception.block_errors == 0
        assert hi.received.status == "ok" and not hi.received.policy_applied
        assert hi.metrics["psnr"] == psnr_source
        assert hi.bits_sent == src.bits and hi.reception.channel_uses <= budget.channel_uses(64, 64, phy)

    # Well below it: every transport block fails; dropping them applies the policy (gray -> PSNR of gray).
    lo = run_link(image, codec, phy, budget, snr_db=-8.0, seed=1, policy="gray", crc_error="drop")
    assert lo.reception.block_errors == lo.reception.blocks > 0 and lo.reception.ber > 0.05
    assert lo.received.status == "dropped" and lo.received.policy_applied
    gray = np.full_like(image, 128)
    assert np.array_equal(lo.received.image, gray)
    assert lo.metrics["psnr"] == pytest.approx(_psnr_closed_form(image, gray), abs=1e-9)

    # Same, handing the corrupted bytes to the decoder: it fails (policy image) or decodes garbage.
    bad = run_link(image, codec, phy, budget, snr_db=-8.0, seed=1, policy="gray", crc_error="decode")
    assert bad.reception.payload != src.encoded.data
    if bad.received.status == "decode_failed":
        assert bad.received.reason and np.array_equal(bad.received.image, gray)
    else:
        assert bad.metrics["psnr"] < psnr_source - 3

    # Policy none: no image, the metric is recorded as a failure (NaN with a reason).
    none = run_link(image, codec, phy, budget, snr_db=-8.0, seed=1, policy="none", crc_error="drop")
    assert none.received.image is None and math.isnan(none.metrics["psnr"])
    assert "policy none" in none.metric_reasons["psnr"]


def test_no_fit_is_a_typed_outcome_and_mean_policy(image, phy):
    codec = get_codec("jpeg")
    mean = mean_colour([image])
    # Less than one slot: 0 payload bits.
    r0 = run_link(image, codec, phy, Budget(uses=100), snr_db=20.0, policy="mean")
    assert r0.source.status == "no_fit" and r0.reception is None and r0.received.status == "no_fit"
    expect = np.broadcast_to(np.round(mean).astype(np.uint8), image.shape)
    assert np.array_equal(r0.received.image, expect)
    assert r0.metrics["psnr"] == pytest.approx(_psnr_closed_form(image, expect), abs=1e-9)
    # One slot at MCS 3 (the lowest buildable) of 4 PRBs: a few dozen bytes, smaller than any JPEG -> no_fit.
    tiny = PhyConfig(channel=ChannelConfig(model="awgn"), num_prbs=4, mcs_index=3, csi="perfect")
    bits = Budget(prbs=4, slots=1).payload_bits(64, 64, tiny)
    assert 0 < bits < 8 * 200
    r1 = run_link(image, codec, tiny, Budget(prbs=4, slots=1), snr_db=20.0, policy="none")
    assert r1.source.status == "no_fit" and "max_bits" in r1.source.reason
    assert r1.received.image is None and math.isnan(r1.metrics["psnr"])


def test_fallback_images():
    assert np.all(fallback_image("gray", (4, 5, 3)) == 128)
    m = fallback_image("mean", (2, 2, 3), np.array([10.4, 200.6, 255.0]))
    assert m[0, 0].tolist() == [10, 201, 255] and m.dtype == np.uint8
    assert fallback_image("none", (2, 2, 3)) is None
    with pytest.raises(ValueError, match="failure_policy"):
        fallback_image("black", (2, 2, 3))
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((4, 1, 3), 100, np.uint8)
    assert mean_colour([a, b]).tolist() == [50.0, 50.0, 50.0]  # each image weighs the same


def test_transmit_cli(tmp_path, image):
    from PIL import Image
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    src_path, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(image).save(src_path)
    args = [
        "transmit",
        "--codec",
        "jpeg",
        "--snr-db",
        "12",
        "--channel",
        "awgn",
        "--mcs",
        "9",
        "--cbr",
        "0.5",
        "--num-prbs",
        "4",
        str(src_path),
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    line = res.output.strip().splitlines()[-1]
    for word in ("bits sent", "bpp", "BER 0.00e+00", "BLER 0.000", "decode ok", "PSNR"):
        assert word in line, line
    codec = get_codec("jpeg")
    phy = PhyConfig(channel=ChannelConfig(model="awgn"), num_prbs=4, mcs_index=9)
    enc = encode_for_budget(codec, image, Budget(cbr=0.5).payload_bits(64, 64, phy))
    assert np.array_equal(np.asarray(Image.open(out)), codec.decode(enc.encoded.data).image)
    bad = CliRunner().invoke(app, [*args[:-2], "--policy", "black", str(src_path), str(out)])
    assert bad.exit_code == 2 and "--policy" in bad.output
