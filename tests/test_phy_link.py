"""The NR chain end to end: bit-exact delivery, waterfall, CRC reporting, determinism, sizes, budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from channels import ChannelConfig, Link, PhyConfig
from channels.mcs import (
    bits_for_channel_uses,
    channel_uses_for_bits,
    ebno_from_snr,
    link_ebno_from_snr,
    shannon_capacity_bits,
    snr_from_ebno,
)
from channels.sim import NRChain, monte_carlo, sweep


def small(model="awgn", csi="ls", **kw) -> PhyConfig:
    """4 PRBs, QPSK MCS 9 (768 payload bits per slot): the full chain at a small cost."""
    ch = ChannelConfig(model=model, profile=kw.pop("profile", "A"), delay_spread_ns=100, speed_mps=3.0)
    return PhyConfig(channel=ch, num_prbs=4, mcs_index=9, csi=csi, **kw)


def payload(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    "model,profile,csi",
    [("awgn", "A", "perfect"), ("tdl", "A", "ls"), ("cdl", "C", "lmmse"), ("tdl", "E", "lmmse")],
)
def test_high_snr_payload_is_bit_exact(model, profile, csi):
    link = Link(small(model, csi, profile=profile))
    data = payload(3 * link.payload_bits_per_slot // 8 + 17, seed=1)
    rx = link.transmit(data, snr_db=30.0, seed=5)
    assert rx.payload == data
    assert rx.ok and rx.tb_crc_ok.shape == (4,) and rx.tb_crc_ok.all()
    assert rx.bit_errors == 0 and rx.block_errors == 0 and rx.ber == 0.0 and rx.bler == 0.0
    assert rx.bits == 8 * len(data) and rx.blocks == rx.slots == 4


def test_bler_falls_monotonically_across_the_waterfall():
    points = sweep(NRChain(small()), [3.0, 3.5, 4.0, 4.5, 5.5], seed=11, max_blocks=64, min_errors=10**9,
                   count="block", batch=64)  # fmt: skip
    blers = [p.bler for p in points]
    assert blers[0] >= 0.9 and blers[-1] == 0.0, blers
    assert all(a > b for a, b in zip(blers[:-1], blers[1:], strict=True) if a > 0), blers
    assert sum(0.0 < b < 1.0 for b in blers) >= 2, blers  # a real waterfall, not a step
    assert all(p.blocks == 64 for p in points)


def test_crc_failures_are_reported_never_hidden():
    link = Link(small("tdl"))
    data = payload(20 * link.payload_bits_per_slot // 8, seed=2)
    rx = link.transmit(data, snr_db=2.0, seed=3)
    assert not rx.ok and rx.payload != data and len(rx.payload) == len(data)
    assert rx.block_errors == int((~rx.tb_crc_ok).sum()) > 0
    k = link.payload_bits_per_slot
    sent = np.unpackbits(np.frombuffer(data, np.uint8)).reshape(-1, k)
    got = np.unpackbits(np.frombuffer(rx.payload, np.uint8)).reshape(-1, k)
    wrong = (sent != got).any(axis=1)
    assert not (wrong & rx.tb_crc_ok).any()  # no block with wrong bits carries a passing CRC
    assert rx.bit_errors == int((sent != got).sum()) > 0


def test_same_seed_same_reception_other_seed_differs():
    link = Link(small("tdl", "lmmse"))
    data = payload(8 * link.payload_bits_per_slot // 8, seed=4)
    # first call on a fresh Link (it builds blocks, draws LMMSE covariances), a later call, another Link
    a, a2 = link.transmit(data, 3.5, seed=9), link.transmit(data, 3.5, seed=9)
    b = Link(small("tdl", "lmmse")).transmit(data, 3.5, seed=9)
    c = link.transmit(data, 3.5, seed=10)
    for other in (a2, b):
        assert a.payload == other.payload and np.array_equal(a.tb_crc_ok, other.tb_crc_ok)
        assert a.bit_errors == other.bit_errors
    assert a.bit_errors > 0  # mid-waterfall, so the comparison is not trivially between perfect receptions
    assert (a.payload, a.bit_errors) != (c.payload, c.bit_errors)


def test_payload_sizes_round_trip_and_spend_whole_slots():
    link = Link(small("awgn"))
    slot_bytes = link.payload_bits_per_slot // 8
    assert link.payload_bits_per_slot % 8 == 0  # 38.214 TB sizes are byte aligned
    for n, slots in [(0, 0), (1, 1), (slot_bytes, 1), (slot_bytes + 1, 2)]:
        data = payload(n, seed=n)
        rx = link.transmit(data, snr_db=20.0, seed=1)
        assert rx.payload == data and rx.ok, n
        assert rx.slots == rx.blocks == len(rx.tb_crc_ok) == slots, n
        assert rx.channel_uses == slots * link.channel_uses_per_slot == channel_uses_for_bits(link.cfg, 8 * n)


@pytest.mark.filterwarnings("ignore:Effective coderate")  # Sionna: last code blocks above 948/1024
def test_megabytes_round_trip_at_high_snr():
    # 2 MB over 273 PRBs of 64QAM at R = 0.93: 78 slots in batches of ~6; 2 min-sum iterations do at 40 dB.
    cfg = PhyConfig(num_prbs=273, mcs_index=28, csi="perfect", ldpc_iterations=2, ldpc_cn_update="minsum")
    link = Link(cfg)
    data = payload(2 * 1024 * 1024, seed=6)
    rx = link.transmit(data, snr_db=40.0, seed=0)
    assert rx.ok and rx.payload == data
    assert rx.slots == math.ceil(8 * len(data) / link.payload_bits_per_slot) and link.batch_slots < rx.slots


def test_slot_geometry_matches_a_hand_computation():
    """24 PRBs, 30 kHz, 14 symbols, 2 DMRS symbols (type 1, CDM groups without data = 2), MCS 14 of table 1
    (16QAM, R = 553/1024). TS 38.214 5.1.3.2 by hand: N_RE = 24*12*12 = 3456, N_info = 3456*4*553/1024
    = 7465.5, n = floor(log2(7441.5)) - 5 = 7, N'_info = 128*round(7441.5/128) = 7424,
    TBS = 8*ceil((7424+24)/8) - 24 = 7424. Slot energy = 3456 data REs + 2 symbols * 144 pilots * 2 = 4032."""
    link = Link(PhyConfig(num_prbs=24, subcarrier_spacing_khz=30, mcs_index=14, mcs_table=1))
    assert link.payload_bits_per_slot == 7424
    assert link.channel_uses_per_slot == 24 * 12 * 14 == 4032
    geo = link.geometry
    assert (geo.data_res, geo.modulation_order, geo.energy) == (3456, 4, 4032.0)
    # Eb/N0 = Es/N0 * (slot energy / payload bits): 10 dB + 10 log10(4032 / 7424) = 7.3488 dB
    assert link.ebno_db(10.0) == pytest.approx(7.348826, abs=1e-5)
    assert link_ebno_from_snr(link.cfg, 10.0) == pytest.approx(7.348826, abs=1e-5)


def test_ebno_conversion_by_hand():
    # 16QAM, R = 1/2, no pilots: Eb/N0 = Es/N0 / 2 -> -3.0103 dB; pilots doubling the energy add +3.0103 dB.
    assert ebno_from_snr(10.0, 4, 0.5) == pytest.approx(10.0 - 10 * math.log10(2))
    assert ebno_from_snr(10.0, 4, 0.5, pilot_energy_ratio=2.0) == pytest.approx(10.0)
    assert snr_from_ebno(ebno_from_snr(3.3, 6, 0.7, 1.2), 6, 0.7, 1.2) == pytest.approx(3.3)
    with pytest.raises(ValueError, match="code_rate"):
        ebno_from_snr(1.0, 2, 1.5)


def test_budget_functions_agree_with_transmit():
    cfg = small("awgn")
    link = Link(cfg)
    k, u = link.payload_bits_per_slot, link.channel_uses_per_slot
    assert bits_for_channel_uses(cfg, 3 * u) == 3 * k
    assert bits_for_channel_uses(cfg, 3 * u - 1) == 2 * k  # only whole slots carry bits
    assert channel_uses_for_bits(cfg, 2 * k + 1) == 3 * u
    data = payload((2 * k + 8) // 8, seed=8)
    rx = link.transmit(data, 25.0, seed=2)
    assert rx.channel_uses == channel_uses_for_bits(cfg, 8 * len(data)) == 3 * u
    assert bits_for_channel_uses(cfg, rx.channel_uses) >= 8 * len(data)
    assert shannon_capacity_bits(1000, 10.0) == pytest.approx(1000 * math.log2(11.0))
    # the chain stays below capacity of the same allocation at the SNR where it is error-free
    assert bits_for_channel_uses(cfg, rx.channel_uses) < shannon_capacity_bits(rx.channel_uses, 5.5)


def test_transmit_rejects_bad_arguments():
    link = Link(small())
    with pytest.raises(TypeError, match="payload"):
        link.transmit("text", 10.0, 0)
    with pytest.raises(ValueError, match="snr_db"):
        link.transmit(b"x", float("nan"), 0)
    with pytest.raises(ValueError, match="seed"):
        link.transmit(b"x", 10.0, -1)
    with pytest.raises(TypeError, match="PhyConfig"):
        Link({"num_prbs": 4})


def test_channel_estimation_ranks_perfect_lmmse_ls():
    """TDL-C, 300 ns, 30 m/s: estimated CSI costs BLER, LMMSE (channel statistics) less than LS. Same seed for
    all three, so they see the same channels and noise and the comparison is paired."""
    blers = {}
    for csi in ("perfect", "lmmse", "ls"):
        ch = ChannelConfig(model="tdl", profile="C", delay_spread_ns=300, speed_mps=30.0)
        chain = NRChain(PhyConfig(channel=ch, num_prbs=8, mcs_index=9, csi=csi))
        point = monte_carlo(chain, 8.0, seed=7, max_blocks=128, min_errors=10**9, count="block", batch=64)
        blers[csi] = point.bler
    assert blers["perfect"] <= blers["lmmse"] < blers["ls"], blers
    assert blers["ls"] - blers["perfect"] > 0.05, blers
