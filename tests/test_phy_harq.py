"""HARQ on the NR chain: HARQ off is today's chain bit for bit, accounting of retransmissions, the physics of
chase combining (+3.01 dB) and incremental redundancy, capacity_bits, the CLI option."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import sionna.phy as sp
import torch
from scipy.special import exp1
from typer.testing import CliRunner

from channels import ChannelConfig, Link, PhyConfig
from channels.link import harq_redundancy_versions, harq_round_seed
from channels.sim import NRChain, monte_carlo
from mtgc_link.cli import app


def small(model="awgn", csi="perfect", profile="A", **kw) -> PhyConfig:
    """4 PRBs, QPSK MCS 9 (768 payload bits, 576 data REs per slot), as in test_phy_link."""
    ch = ChannelConfig(model=model, profile=profile, delay_spread_ns=100, speed_mps=3.0)
    return PhyConfig(channel=ch, num_prbs=4, mcs_index=9, csi=csi, **kw)


def payload(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def wilson(k: int, n: int, z: float = 3.0) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (z = 3: ~99.7 %)."""
    p, z2 = k / n, z * z
    mid, half = (
        (p + z2 / (2 * n)) / (1 + z2 / n),
        z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n),
    )
    return mid - half, mid + half


# Outputs of Link.transmit recorded on 2026-11-26 BEFORE HARQ existed (commit d4c311b): model, csi, profile,
# extra config, payload bytes (payload(n, seed)), SNR, seed -> sha256[:16] of the received payload, TB CRCs,
# bit errors, block errors, slots, channel uses. The CDL case runs in 3 batches (max_batch_slots=2).
RECORDED = [
    ("awgn", "perfect", "A", {}, 576, 3.6, 3, "d9808b42844801c0", "111011", 38, 1, 6, 4032),
    ("tdl", "ls", "A", {}, 497, 6.0, 1, "d59a883560e0a070", "111011", 50, 1, 6, 4032),
    ("rayleigh", "lmmse", "A", {}, 768, 8.0, 2, "d9bb7daa8e7fd104", "01111101", 279, 2, 8, 5376),
    (
        "cdl",
        "perfect",
        "C",
        {"max_batch_slots": 2},
        483,
        5.0,
        4,
        "7d09119399584870",
        "001100",
        383,
        4,
        6,
        4032,
    ),
]


@pytest.mark.parametrize("case", RECORDED, ids=[c[0] for c in RECORDED])
def test_harq_off_is_todays_chain_bit_for_bit(case):
    model, csi, profile, kw, n, snr, seed, sha, crcs, bit_errors, block_errors, slots, uses = case
    link = Link(small(model, csi, profile, **kw))
    data = payload(n, seed)
    for rx in (link.transmit(data, snr, seed), link.transmit(data, snr, seed, harq_max_tx=1)):
        assert hashlib.sha256(rx.payload).hexdigest()[:16] == sha
        assert "".join("1" if c else "0" for c in rx.tb_crc_ok) == crcs
        assert (rx.bit_errors, rx.block_errors, rx.slots, rx.channel_uses) == (
            bit_errors,
            block_errors,
            slots,
            uses,
        )
        assert (
            rx.transmissions.tolist() == [1] * slots and rx.mean_transmissions == 1.0 and rx.harq_max_tx == 1
        )
        assert rx.capacity_bits > 0 and math.isfinite(rx.capacity_bits)
    # HARQ on: the first round is the same stream, so a block that passed at once is the same block, and
    # exactly the blocks that failed their CRC were sent again
    rx1, rx4 = link.transmit(data, snr, seed), link.transmit(data, snr, seed, harq_max_tx=4)
    k = link.payload_bits_per_slot
    got1, got4 = (np.unpackbits(np.frombuffer(r.payload, np.uint8)) for r in (rx1, rx4))
    once = rx4.transmissions == 1
    assert np.array_equal(once, rx1.tb_crc_ok)
    for i in np.flatnonzero(once):
        assert np.array_equal(got1[i * k : (i + 1) * k], got4[i * k : (i + 1) * k])
    assert rx4.capacity_bits == rx1.capacity_bits  # first round's allocation only
    assert rx4.block_errors <= rx1.block_errors and rx4.slots > rx1.slots


def test_nr_chain_harq_off_is_todays_monte_carlo_point():
    """monte_carlo on the NR chain (TDL-A, LS, 5 dB, seed 11, 48 blocks in batches of 16), recorded before
    HARQ existed; HARQ on keeps the block count and lowers the residual BLER."""
    ch = ChannelConfig(model="tdl", profile="A", delay_spread_ns=100, speed_mps=3.0)
    cfg = PhyConfig(channel=ch, num_prbs=4, mcs_index=9, csi="ls")
    args = dict(seed=11, max_blocks=48, min_errors=10**9, count="block", batch=16)
    off = monte_carlo(NRChain(cfg), 5.0, **args)
    assert (off.bits, off.bit_errors, off.blocks, off.block_errors, off.mean_tx) == (36864, 4966, 48, 29, 1.0)
    on = monte_carlo(NRChain(cfg, harq_max_tx=3), 5.0, **args)
    assert on.blocks == 48 and on.block_errors < off.block_errors and 1.0 < on.mean_tx <= 3.0


def test_retransmissions_are_counted_and_lower_the_residual_bler():
    link = Link(small("tdl", "ls", max_batch_slots=5))  # several batches in every round
    data = payload(16 * link.payload_bits_per_slot // 8, seed=7)
    rx1 = link.transmit(data, 4.0, seed=3)
    rx4 = link.transmit(data, 4.0, seed=3, harq_max_tx=4)
    again = link.transmit(data, 4.0, seed=3, harq_max_tx=4)
    assert rx1.block_errors >= 4  # the first round fails often enough to test something
    assert rx4.harq_max_tx == 4 and rx4.blocks == rx1.blocks == 16
    tx = rx4.transmissions
    assert tx.dtype.kind == "i" and tx.shape == (16,) and tx.min() >= 1 and tx.max() <= 4
    assert np.array_equal(tx == 1, rx1.tb_crc_ok)  # passed the first time -> 1
    assert (tx[~rx4.tb_crc_ok] == 4).all()  # still failing -> every allowed transmission was spent
    assert rx4.slots == int(tx.sum()) and rx4.channel_uses == rx4.slots * link.channel_uses_per_slot
    assert rx4.mean_transmissions == pytest.approx(tx.mean())
    assert rx4.block_errors <= rx1.block_errors and rx4.bit_errors <= rx1.bit_errors
    assert rx4.block_errors == int((~rx4.tb_crc_ok).sum())  # residual errors are what the CRCs report
    assert again.payload == rx4.payload and np.array_equal(again.transmissions, tx)  # deterministic
    assert rx4.ok == (rx4.block_errors == 0)
    chase = link.transmit(data, 4.0, seed=3, harq_max_tx=4, harq_combining="chase")
    assert np.array_equal(chase.transmissions == 1, rx1.tb_crc_ok)
    empty = link.transmit(b"", 4.0, seed=3, harq_max_tx=4)
    assert (empty.slots, empty.channel_uses, empty.capacity_bits, empty.mean_transmissions) == (
        0,
        0,
        0.0,
        0.0,
    )
    assert empty.ok and empty.transmissions.shape == (0,) and empty.harq_max_tx == 4


def test_harq_arguments_rvs_and_round_seeds():
    assert harq_redundancy_versions(6) == [0, 2, 3, 1, 0, 2]
    assert harq_redundancy_versions(3, "chase") == [0, 0, 0]
    seeds = {harq_round_seed(s, r) for s in (0, 1) for r in (2, 3, 4)}
    assert len(seeds) == 6 and harq_round_seed(5, 2) == harq_round_seed(5, 2)
    link = Link(small())
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="harq_max_tx"):
            link.transmit(b"x", 5.0, 0, harq_max_tx=bad)
    with pytest.raises(ValueError, match="harq_combining"):
        link.transmit(b"x", 5.0, 0, harq_max_tx=2, harq_combining="soft")
    with pytest.raises(ValueError, match="harq_max_tx"):
        NRChain(small(), harq_max_tx=0)


@pytest.mark.filterwarnings("ignore:Effective coderate")
@pytest.mark.parametrize("prbs,mcs,iterations", [(4, 9, 20), (44, 27, 2)])  # 1 CB; 5 CBs of unequal length
def test_harq_path_reproduces_the_tb_chain(prbs, mcs, iterations):
    """The per-RV encoder at RV 0 is TBEncoder bit for bit, and the IR decoder (Sionna's HARQ-mode LDPC
    decoder, unpruned graph) on one transmission decodes like TBDecoder (same bits, same CRCs), failing
    blocks included. 44 PRBs of MCS 27: 2 BP iterations, as the unpruned high-rate graph is slow on CPU."""
    link = Link(PhyConfig(num_prbs=prbs, mcs_index=mcs, csi="perfect", ldpc_iterations=iterations))
    link.build(harq=True)
    if prbs == 44:
        assert link._encoder.num_cbs == 5 and len(set(link._encoder.cw_lengths.tolist())) == 2
    batch = 6 if prbs == 4 else 2
    bits = np.random.default_rng(0).integers(0, 2, (batch, 1, link.payload_bits_per_slot))
    b = torch.from_numpy(bits).float()
    c = link._encode_rv(b, 0)
    assert torch.equal(c, link._encoder(b))
    noise = torch.from_numpy(np.random.default_rng(1).standard_normal(c.shape).astype(np.float32))
    statuses = []
    for sigma in (0.5, 0.6, 0.7) if prbs == 4 else (0.45,):  # LLR 2y/sigma^2 of BPSK +-1
        llr = 2 * ((2 * c - 1) + sigma * noise) / sigma**2
        ref_bits, ref_ok = link._decoder(llr)
        got_bits, ok = link._decode_ir(llr.reshape(batch, 1, -1), [0])
        assert torch.equal(got_bits, ref_bits) and torch.equal(ok, ref_ok), sigma
        assert torch.equal(link._decode_combined(torch.stack([llr, llr], 1).reshape(batch, 2, -1), [0, 0])[0],
                           link._decoder(2 * llr)[0])  # chase: the LLRs summed  # fmt: skip
        statuses += ok.flatten().tolist()
    if prbs == 4:
        assert any(statuses) and not all(statuses)  # passing and failing blocks were compared
    # noiseless RVs 0, 2, 3, 1 combined
    llr = torch.cat([20.0 * (2 * link._encode_rv(b, rv) - 1) for rv in (0, 2, 3, 1)], dim=1)
    got_bits, ok = link._decode_combined(llr, [0, 2, 3, 1])
    assert torch.equal(got_bits, b) and bool(ok.all())


def test_capacity_bits_on_awgn_is_data_res_times_log2_1_plus_snr():
    link = Link(small("awgn", "ls"))
    n_data_re = 4 * 12 * (14 - 2)  # 4 PRBs x 12 subcarriers x (14 symbols - 2 DMRS symbols without data)
    assert link.geometry.data_res == n_data_re == 576
    data = payload(3 * link.payload_bits_per_slot // 8 + 1, seed=2)  # 4 slots
    for snr_db, harq in [(4.0, 1), (-2.0, 1), (3.0, 3)]:
        rx = link.transmit(data, snr_db, seed=1, harq_max_tx=harq)
        assert rx.capacity_bits == pytest.approx(
            4 * n_data_re * math.log2(1 + 10 ** (snr_db / 10)), rel=1e-12
        )
    assert link.transmit(b"", 4.0, seed=1).capacity_bits == 0.0


def test_capacity_bits_on_rayleigh_averages_to_the_ergodic_capacity():
    """Flat block fading, one CN(0,1) gain g per slot: capacity_bits of a one-slot payload is
    576 log2(1 + |g|^2 SNR), whose mean over seeds is 576 E[log2(1 + X SNR)], X ~ Exp(1), =
    576 log2(e) e^(1/SNR) E1(1/SNR) (ergodic)."""
    link = Link(small("rayleigh", "perfect"))
    snr = 10.0
    data = payload(link.payload_bits_per_slot // 8, seed=3)
    per_re = np.array([link.transmit(data, 10.0, seed=s).capacity_bits / 576 for s in range(64)])
    ergodic = math.log2(math.e) * math.exp(1 / snr) * exp1(1 / snr)  # 2.9119 bit/RE at 10 dB
    se = per_re.std(ddof=1) / math.sqrt(len(per_re))
    assert abs(per_re.mean() - ergodic) < max(4 * se, 0.02 * ergodic), (per_re.mean(), ergodic, se)
    assert abs(per_re.mean() - ergodic) < 0.1 * ergodic
    gains = (2**per_re - 1) / snr  # |g|^2 per slot, back from the capacity: Exp(1)
    assert gains.min() > 0 and abs(gains.mean() - 1) < 0.35 and len(set(per_re.round(9))) == 64


# -- physics: chase combining = +3.01 dB, IR >= chase ----------------------------------------------------
# AWGN, perfect CSI, QPSK: max-log LLRs are exact and linear in y, so the sum of the LLRs of two independent
# transmissions at SNR s is distributed like the LLRs of one transmission at 2s (+3.0103 dB). The operating
# point puts single-transmission BLER at s + 3.01 dB mid-waterfall, where BLER moves ~1.2 per dB.
N_BLOCKS = 192
S0 = 0.35  # dB: chase-combined SNR point; single-transmission references at S0 + 2.61, + 3.0103, + 3.41, + 0


def _block_errors(link: Link, snr_db: float, seed: int, rvs: list[int] | None) -> int:
    sp.config.seed = seed
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, 2, (N_BLOCKS, 1, link.payload_bits_per_slot), generator=g).float()
    no = 10 ** (-snr_db / 10)
    b_hat, ok = link.run_slots(b, no) if rvs is None else link.run_slots_combined(b, no, rvs)
    return int(((b_hat != b).any(dim=-1) | ~ok).sum())


@pytest.mark.slow
def test_chase_combining_gains_3db_and_ir_does_at_least_as_well():
    link = Link(small("awgn", "perfect"))
    single = {d: _block_errors(link, S0 + d, 10 + i, None) for i, d in enumerate((2.61, 3.0103, 3.41, 0.0))}
    chase = _block_errors(link, S0, 20, [0, 0])
    ir = _block_errors(link, S0, 21, [0, 2])
    p = {d: k / N_BLOCKS for d, k in single.items()}
    pc, pi = chase / N_BLOCKS, ir / N_BLOCKS
    lo, hi = wilson(chase, N_BLOCKS)
    report = dict(single=p, chase=pc, ir=pi, chase_interval=(lo, hi))
    assert 0.05 < pc < 0.95, report  # on the waterfall, so the comparison can fail
    pooled = (chase + single[3.0103]) / (2 * N_BLOCKS)
    sigma = math.sqrt(pooled * (1 - pooled) * 2 / N_BLOCKS)  # two-sample standard error
    assert abs(pc - p[3.0103]) < 3 * sigma, report  # chase at s == single at s + 3.01 dB
    assert p[0.0] > hi, report  # no combining gain at all is far outside
    # the gain is 3.01 dB within +-0.4 dB: more than 2.61 dB, less than 3.41 dB (3 sigma each)
    for d, sign in ((2.61, 1), (3.41, -1)):
        s = math.sqrt((p[d] * (1 - p[d]) + pc * (1 - pc)) / N_BLOCKS)
        assert sign * (p[d] - pc) > 3 * s, (d, report)
    assert pi <= pc + 3 * math.sqrt(pc * (1 - pc) / N_BLOCKS), report  # IR at least as good as chase


def test_cli_harq_max_tx(tmp_path):
    plot = tmp_path / "bler.png"
    base = ["phy", "bler", "--prbs", "4", "--mcs", "9", "--snr-db", "3.2", "--max-blocks", "24", "--json"]
    off = CliRunner().invoke(app, base)
    on = CliRunner().invoke(app, base + ["--harq-max-tx", "3", "--plot", str(plot)])
    assert off.exit_code == 0 and on.exit_code == 0, off.output + on.output
    (p_off,), (p_on,) = json.loads(off.output), json.loads(on.output)
    assert p_off["mean_tx"] == 1.0 and p_off["harq_max_tx"] == 1 and p_off["bler"] > 0.2
    assert p_on["harq_max_tx"] == 3 and p_on["harq_combining"] == "ir" and p_on["blocks"] == 24
    assert 1.0 < p_on["mean_tx"] <= 3.0 and p_on["bler"] < p_off["bler"]
    assert plot.stat().st_size > 10_000
    table = CliRunner().invoke(app, base[:-1] + ["--harq-max-tx", "2", "--harq-combining", "chase"])
    assert table.exit_code == 0 and "mean_tx" in table.output and "residual" in table.output, table.output
    for mode in (["--uncoded"], ["--ldpc-k", "512", "--ldpc-n", "1024"]):
        bad = CliRunner().invoke(app, ["phy", "bler", *mode, "--snr-db", "3", "--harq-max-tx", "2"])
        assert bad.exit_code != 0 and "--harq-max-tx" in bad.output, bad.output
    bad = CliRunner().invoke(app, base + ["--harq-max-tx", "2", "--harq-combining", "soft"])
    assert bad.exit_code != 0 and "--harq-combining" in bad.output


def test_link_docstring_examples():
    import doctest

    import channels.link

    failed, attempted = doctest.testmod(channels.link)
    assert attempted > 0 and failed == 0


def test_harq_with_nothing_to_retransmit():
    """Every block passes the first time: no retransmission, and nothing breaks on the empty round (a sweep
    at high SNR with harq_max_tx > 1 crashed here)."""
    link = Link(PhyConfig(num_prbs=4, mcs_index=9, csi="perfect"))
    payload = bytes(range(256)) * 2
    rx = link.transmit(payload, 25.0, 3, harq_max_tx=4)
    off = link.transmit(payload, 25.0, 3)
    assert rx.ok and rx.payload == payload == off.payload
    assert rx.transmissions.tolist() == [1] * rx.blocks and rx.slots == off.slots
    assert rx.mean_transmissions == 1.0
