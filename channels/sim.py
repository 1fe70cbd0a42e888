"""BER/BLER simulation: uncoded QAM, plain 5G LDPC, and the full NR chain, with a Monte-Carlo runner.

Chains expose ``run(batch, snr_db) -> Counts``, ``ebno_db(snr_db)`` and ``snr_db_from_ebno(ebno_db)``.
``monte_carlo`` repeats batches until ``min_errors`` errors are seen (bit errors for BER, block errors for
BLER) or ``max_bits`` / ``max_blocks`` are spent. SNR is Es/N0 per QAM symbol (unit-energy constellation).

Fading in the uncoded and plain-LDPC modes ("rayleigh") is i.i.d. CN(0,1) per symbol with perfect CSI
(ideally interleaved flat fading), which has a closed-form BER; the NR chain uses one gain per slot instead.

The NR chain can run HARQ (``NRChain(cfg, harq_max_tx=N)``): a block is then a transport block with up to N
transmissions, its errors are residual (after the last one) and ``Point.mean_tx`` is the mean number of
transmissions per block (1 for every other chain).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from channels.mcs import link_snr_from_ebno

if TYPE_CHECKING:
    import numpy as np

    from channels.config import PhyConfig

# Channels of the uncoded and plain-LDPC modes (simulated here, i.i.d. per symbol; the NR chain uses the
# channel-model registry of channels.models instead). numpy, torch, Sionna and channels.link are imported
# where they are used, so that the CLI can read this list without loading them.
SIM_CHANNELS = ("awgn", "rayleigh")


@dataclass
class Counts:
    bits: int = 0
    bit_errors: int = 0
    blocks: int = 0
    block_errors: int = 0
    transmissions: int = 0  # transmissions of all blocks (= blocks without HARQ)

    def __iadd__(self, o: Counts) -> Counts:
        self.bits += o.bits
        self.bit_errors += o.bit_errors
        self.blocks += o.blocks
        self.block_errors += o.block_errors
        self.transmissions += o.transmissions
        return self


@dataclass
class Point:
    """One point of a BER/BLER curve. ber/bler are Monte-Carlo estimates (errors / trials); with HARQ they
    are residual (after the last transmission) and mean_tx is the mean transmissions per block."""

    snr_db: float
    ebno_db: float
    ber: float
    bler: float
    bits: int
    bit_errors: int
    blocks: int
    block_errors: int
    mode: str = ""
    mean_tx: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def _count(sent, received, block_ok=None, transmissions=None) -> Counts:
    """sent/received: [blocks, bits] {0,1} tensors; block_ok: optional [blocks] bool CRC status;
    transmissions: optional [blocks] transmissions per block (default one each)."""
    wrong = sent != received
    bad = wrong.any(dim=1)
    if block_ok is not None:
        bad = bad | ~block_ok
    tx = sent.shape[0] if transmissions is None else int(transmissions.sum())
    return Counts(sent.numel(), int(wrong.sum()), sent.shape[0], int(bad.sum()), tx)


class _QamOverChannel:
    """Mapper -> AWGN or i.i.d. flat Rayleigh (perfect CSI, zero-forcing) -> APP demapper (LLR ln P1/P0)."""

    def __init__(self, modulation_order: int, channel: str, device: str = "cpu") -> None:
        from sionna.phy.mapping import Demapper, Mapper

        if channel not in SIM_CHANNELS:
            raise ValueError(f"channel must be one of {SIM_CHANNELS} in this mode, got {channel!r}")
        if modulation_order not in (2, 4, 6, 8, 10):
            raise ValueError(f"modulation must be 2, 4, 6, 8 or 10 bits per symbol, got {modulation_order}")
        self.qm, self.channel, self.device = modulation_order, channel, device
        self._mapper = Mapper("qam", modulation_order, device=device)
        self._demapper = Demapper("app", "qam", modulation_order, device=device)

    def llr(self, c, no: float):
        """c: [..., n] coded bits -> LLRs [..., n] with Sionna's sign: ln P(b=1|y) / P(b=0|y)."""
        import sionna.phy as sp
        import torch
        from sionna.phy.channel import AWGN
        from sionna.phy.utils import complex_normal

        x = self._mapper(c)
        no_t = torch.tensor(no, dtype=torch.float32, device=self.device)
        if self.channel == "awgn":
            return self._demapper(AWGN(device=self.device)(x, no_t), no_t)
        h = complex_normal(x.shape, device=self.device, generator=sp.config.torch_rng(self.device))
        y = AWGN(device=self.device)(h * x, no_t)
        gain = h.abs().square().clamp_min(1e-12)
        return self._demapper(y / h, no_t / gain)


class UncodedChain:
    """Uncoded Gray-mapped QAM; a block is ``block_bits`` consecutive bits (for an uncoded BLER)."""

    mode = "uncoded"

    def __init__(self, modulation_order: int, channel: str = "awgn", block_bits: int = 1200, device="cpu"):
        if block_bits % modulation_order:
            raise ValueError(f"block_bits ({block_bits}) must be a multiple of modulation_order")
        self._qam = _QamOverChannel(modulation_order, channel, device)
        self.block_bits, self.device = block_bits, device
        self.bits_per_block = block_bits
        self.default_batch = max(1, 1_200_000 // block_bits)

    def ebno_db(self, snr_db: float) -> float:
        return snr_db - 10 * math.log10(self._qam.qm)

    def snr_db_from_ebno(self, ebno_db: float) -> float:
        return ebno_db + 10 * math.log10(self._qam.qm)

    def run(self, batch: int, snr_db: float) -> Counts:
        import torch
        from sionna.phy.mapping import BinarySource

        with torch.no_grad():
            b = BinarySource(device=self.device)([batch, self.block_bits])
            llr = self._qam.llr(b, 10 ** (-snr_db / 10))
            return _count(b, (llr > 0).float())  # LLR = ln P(1)/P(0): positive means bit 1


class LDPCChain:
    """5G LDPC (k info -> n coded bits, rate-matched) + QAM over AWGN or i.i.d. Rayleigh; block = codeword."""

    mode = "ldpc"

    def __init__(self, k: int, n: int, modulation_order: int, channel="awgn", iterations=20, device="cpu"):
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

        if not 0 < k < n:
            raise ValueError(f"need 0 < ldpc_k < ldpc_n, got k={k}, n={n}")
        if n % modulation_order:
            raise ValueError(f"ldpc_n ({n}) must be a multiple of the modulation order ({modulation_order})")
        self.k, self.n, self.device = k, n, device
        self.bits_per_block = k
        self._qam = _QamOverChannel(modulation_order, channel, device)
        self._encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=modulation_order, device=device)
        self._decoder = LDPC5GDecoder(self._encoder, num_iter=iterations, hard_out=True, device=device)
        self.default_batch = max(1, 200_000 // n)

    def ebno_db(self, snr_db: float) -> float:
        return snr_db - 10 * math.log10(self._qam.qm * self.k / self.n)

    def snr_db_from_ebno(self, ebno_db: float) -> float:
        return ebno_db + 10 * math.log10(self._qam.qm * self.k / self.n)

    def run(self, batch: int, snr_db: float) -> Counts:
        import torch
        from sionna.phy.mapping import BinarySource

        with torch.no_grad():
            b = BinarySource(device=self.device)([batch, self.k])
            llr = self._qam.llr(self._encoder(b), 10 ** (-snr_db / 10))
            return _count(b, self._decoder(llr))  # the decoder takes Sionna's LLR sign as is


class NRChain:
    """The full NR chain of :class:`channels.Link` on random transport blocks; block = transport block.

    harq_max_tx > 1: HARQ (``Link.run_slots_harq``) with ``harq_combining`` "ir" or "chase"; retransmissions
    draw from the same global random stream as the first transmissions (seeded once by ``monte_carlo``)."""

    mode = "nr"

    def __init__(self, cfg: PhyConfig, device="cpu", harq_max_tx: int = 1, harq_combining: str = "ir"):
        from channels.abstraction import make_link  # not a cycle: keeps numpy out of ``import channels.sim``
        from channels.link import check_harq

        check_harq(harq_max_tx, harq_combining)
        self.harq_max_tx, self.harq_combining = int(harq_max_tx), harq_combining
        self.link = make_link(cfg, device=device)
        self.phy_mode = cfg.mode
        self.bits_known = cfg.mode == "bit_true"  # the abstraction knows block outcomes, not bit errors
        # before monte_carlo seeds: building draws LMMSE covariances from its own seed
        self.link.build(harq=self.harq_max_tx > 1)
        self.device = device
        self.default_batch = 32
        self.bits_per_block = self.link.payload_bits_per_slot

    def ebno_db(self, snr_db: float) -> float:
        return self.link.ebno_db(snr_db)

    def snr_db_from_ebno(self, ebno_db: float) -> float:
        return link_snr_from_ebno(self.link.cfg, ebno_db)

    def run(self, batch: int, snr_db: float) -> Counts:
        import sionna.phy as sp
        from sionna.phy.mapping import BinarySource

        if not self.bits_known:  # abstraction: random blocks through transmit, seeded from the global stream
            import torch

            k = self.link.payload_bits_per_slot
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=sp.config.torch_rng(self.device)))
            rx = self.link.transmit(
                bytes(-(-batch * k // 8)), snr_db, seed, self.harq_max_tx, self.harq_combining
            )
            return Counts(rx.bits, 0, rx.blocks, rx.block_errors, int(rx.transmissions.sum()))
        b = BinarySource(device=self.device)([batch, 1, self.link.payload_bits_per_slot])
        no = 10 ** (-snr_db / 10)
        if self.harq_max_tx == 1:
            b_hat, crc_ok = self.link.run_slots(b, no)
            return _count(b[:, 0], b_hat[:, 0], crc_ok[:, 0])
        b_hat, crc_ok, tx = self.link.run_slots_harq(b, no, self.harq_max_tx, self.harq_combining)
        return _count(b[:, 0], b_hat[:, 0], crc_ok[:, 0], tx)


def monte_carlo(
    chain,
    snr_db: float,
    seed: int = 0,
    min_errors: int = 100,
    max_bits: int = 10_000_000,
    max_blocks: int = 100_000,
    count: str = "bit",
    batch: int | None = None,
) -> Point:
    """Simulate ``chain`` at ``snr_db`` until ``min_errors`` errors (``count``: "bit" or "block") are seen or
    ``max_bits`` / ``max_blocks`` are reached (batches are trimmed so neither is overshot by more than one
    block). With HARQ, errors are residual and blocks are transport blocks (retransmissions are not blocks;
    they are counted in ``Point.mean_tx``)."""
    import sionna.phy as sp

    if count not in ("bit", "block"):
        raise ValueError(f"count must be 'bit' or 'block', got {count!r}")
    bits_known = getattr(chain, "bits_known", True)
    if count == "bit" and not bits_known:
        raise ValueError(
            "the abstraction PHY mode knows which blocks fail, not bit errors: count blocks (BLER)"
        )
    if min_errors < 1 or max_bits < 1 or max_blocks < 1:
        raise ValueError("min_errors, max_bits and max_blocks must be >= 1")
    sp.config.seed = int(seed)
    total = Counts()
    batch = batch or chain.default_batch
    while True:
        errors = total.bit_errors if count == "bit" else total.block_errors
        if errors >= min_errors or total.bits >= max_bits or total.blocks >= max_blocks:
            break
        left_blocks = min(max_blocks - total.blocks, -(-(max_bits - total.bits) // chain.bits_per_block))
        total += chain.run(max(1, min(batch, left_blocks)), snr_db)
    return Point(
        snr_db=float(snr_db),
        ebno_db=float(chain.ebno_db(snr_db)),
        ber=total.bit_errors / total.bits if bits_known else math.nan,
        bler=total.block_errors / total.blocks,
        bits=total.bits,
        bit_errors=total.bit_errors,
        blocks=total.blocks,
        block_errors=total.block_errors,
        mode=chain.mode,
        mean_tx=total.transmissions / total.blocks,
    )


def sweep(chain, snrs_db, seed: int = 0, **kwargs) -> list[Point]:
    """``monte_carlo`` at each SNR; point i uses seed ``seed + i`` (independent, reproducible)."""
    return [monte_carlo(chain, float(s), seed=seed + i, **kwargs) for i, s in enumerate(snrs_db)]


def qam_ber_awgn(modulation_order: int, snr_db) -> np.ndarray:
    """Exact BER of Gray-mapped square QAM (or BPSK for Qm=1) over AWGN at Es/N0 = ``snr_db``
    (Cho & Yoon, IEEE Trans. Commun. 2002). For reference curves in plots."""
    import numpy as np
    from scipy.special import erfc

    snr = 10 ** (np.asarray(snr_db, dtype=float) / 10)
    if modulation_order == 1:
        return 0.5 * erfc(np.sqrt(snr))
    m = 2**modulation_order
    sq = int(round(math.sqrt(m)))
    total = np.zeros_like(snr)
    for k in range(1, int(math.log2(sq)) + 1):
        pk = np.zeros_like(snr)
        for i in range(int((1 - 2.0**-k) * sq)):
            w = (-1) ** math.floor(i * 2 ** (k - 1) / sq) * (
                2 ** (k - 1) - math.floor(i * 2 ** (k - 1) / sq + 0.5)
            )
            pk += w * erfc((2 * i + 1) * np.sqrt(3 * snr / (2 * (m - 1))))
        total += pk / sq
    return total / math.log2(sq)
