"""Uncoded QAM over AWGN and flat Rayleigh against closed forms derived here independently of channels/."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erfc

from channels.sim import LDPCChain, UncodedChain, monte_carlo


def _q(x):
    return 0.5 * erfc(np.asarray(x) / math.sqrt(2))


def gray_qam_ber_awgn(qm: int, snr_db: float) -> float:
    """Exact BER of square QAM, Gray-labelled per dimension (as TS 38.211), at Es/N0 = snr_db: sum over PAM
    levels j and decision regions i of P(region i | level j) * Hamming(label i, label j)."""
    levels = 2 ** (qm // 2)
    d = math.sqrt(3 / (2 * (levels**2 - 1)))  # unit average QAM energy
    amp = (2 * np.arange(levels) - (levels - 1)) * d
    sigma = math.sqrt(10 ** (-snr_db / 10) / 2)  # noise std per real dimension
    edges = np.concatenate([[-np.inf], (amp[:-1] + amp[1:]) / 2, [np.inf]])
    gray = np.arange(levels) ^ (np.arange(levels) >> 1)
    errors = 0.0
    for j in range(levels):
        p_region = _q((edges[:-1] - amp[j]) / sigma) - _q((edges[1:] - amp[j]) / sigma)
        errors += sum(p * bin(int(gray[i] ^ gray[j])).count("1") for i, p in enumerate(p_region))
    return errors / (levels * (qm // 2))


def _within_3_sigma(point, expected: float, qm: int) -> None:
    # Bits of one symbol share its noise (and fading): count independent trials as symbols, not bits.
    trials = point.bits / qm
    sigma = math.sqrt(expected * (1 - expected) / trials)
    assert abs(point.ber - expected) <= 3 * sigma, (point.snr_db, point.ber, expected, sigma)


@pytest.mark.parametrize("qm,snrs", [(2, [2.0, 6.0, 9.0]), (4, [6.0, 10.0, 14.0]), (6, [10.0, 14.0, 18.0])])
def test_uncoded_qam_awgn_matches_gray_closed_form(qm, snrs):
    chain = UncodedChain(qm, "awgn")
    for i, snr in enumerate(snrs):
        point = monte_carlo(chain, snr, seed=100 + i, min_errors=2000, max_bits=2_400_000)
        _within_3_sigma(point, gray_qam_ber_awgn(qm, snr), qm)


def test_closed_form_sanity():
    # The QPSK case of the closed form above is the textbook Q(sqrt(Es/N0)).
    for snr in (0.0, 5.0, 10.0):
        assert gray_qam_ber_awgn(2, snr) == pytest.approx(float(_q(math.sqrt(10 ** (snr / 10)))), rel=1e-12)


def test_uncoded_qpsk_flat_rayleigh_matches_closed_form():
    chain = UncodedChain(2, "rayleigh")
    for i, snr in enumerate([0.0, 10.0, 20.0]):
        point = monte_carlo(chain, snr, seed=200 + i, min_errors=2000, max_bits=2_400_000)
        gb = 10 ** (snr / 10) / 2  # Eb/N0 of QPSK
        _within_3_sigma(point, 0.5 * (1 - math.sqrt(gb / (1 + gb))), 2)


def test_uncoded_ebno_is_snr_minus_bits_per_symbol():
    assert UncodedChain(4).ebno_db(10.0) == pytest.approx(10.0 - 10 * math.log10(4))


def test_plain_ldpc_beats_uncoded_and_falls_with_ebno():
    """Rate-1/2 5G LDPC + QPSK over AWGN: near error-free at Eb/N0 = 3 dB where uncoded QPSK has BER 2.3%."""
    chain = LDPCChain(k=256, n=512, modulation_order=2, iterations=20)
    points = [
        monte_carlo(
            chain, chain.snr_db_from_ebno(e), seed=300 + i, max_blocks=300, min_errors=10**9, count="block"
        )
        for i, e in enumerate([0.0, 1.5, 3.0])
    ]
    blers = [p.bler for p in points]
    assert blers[0] > 0.5 and blers[0] > blers[1] > blers[2]
    assert points[2].ber < 1e-3 < gray_qam_ber_awgn(2, 3.0 + 10 * math.log10(2))
    assert points[0].ebno_db == pytest.approx(0.0)
