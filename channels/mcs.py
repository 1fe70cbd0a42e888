"""MCS tables, slot geometry and budget arithmetic (no Sionna blocks are built here, only configs).

Definitions (docs/phy.md):
- channel use = one complex resource element (RE) of the allocation, DMRS pilots included;
  one slot spends ``num_prbs * 12 * num_ofdm_symbols`` channel uses.
- payload bits per slot = transport-block size K (TB CRC excluded), TS 38.214 5.1.3.2.
- SNR = Es/N0 per data RE (unit-energy constellation); Eb/N0 = energy spent per payload bit / N0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # channels.config imports this module; at runtime this one needs nothing from it
    from channels.config import PhyConfig

# Highest valid MCS index per 38.214 table (PUSCH, no transform precoding; above: retransmissions only).
MAX_MCS_INDEX = {1: 28, 2: 27}
MODULATION_ORDERS = (2, 4, 6, 8)
# Sionna's 5G LDPC encoder has no repetition coding: lower code rates cannot be built.
MIN_CODE_RATE = 1 / 5


@lru_cache(maxsize=64)
def mcs_from_index(mcs_index: int, mcs_table: int) -> tuple[int, float]:
    """(modulation order Qm, target code rate R) of a TS 38.214 PUSCH MCS index (Sionna's tables).

    Example::

        >>> qm, rate = mcs_from_index(14, 1)  # table 1 (64QAM), MCS 14: 16QAM at R x 1024 = 553
        >>> qm, rate * 1024
        (4, 553.0)
        >>> mcs_from_index(27, 2)  # table 2 (256QAM), MCS 27: 256QAM at 948/1024
        (8, 0.92578125)
    """
    from sionna.phy.nr.utils import decode_mcs_index

    qm, rate = decode_mcs_index(mcs_index, mcs_table, is_pusch=True, device="cpu")
    return int(qm), float(rate)


@dataclass(frozen=True)
class SlotGeometry:
    """What one slot of a configuration carries and costs.

    channel_uses: all REs of the allocation (data + DMRS + REs left empty in the DMRS symbols).
    data_res: REs carrying coded data bits. coded_bits = data_res * Qm.
    energy: total transmitted energy per slot in units of Es (data REs + DMRS pilot energy).
    tb_size: payload bits K per slot (TB CRC excluded). tb_crc_bits / cb_crc_bits / num_cbs: TB layout.
    """

    channel_uses: int
    data_res: int
    modulation_order: int
    target_rate: float
    coded_bits: int
    energy: float
    tb_size: int
    num_cbs: int
    tb_crc_bits: int
    cb_crc_bits: int

    @property
    def effective_rate(self) -> float:
        """Payload bits per coded bit (CRC and TB-size quantization included)."""
        return self.tb_size / self.coded_bits

    @property
    def pilot_energy_ratio(self) -> float:
        """Total slot energy / data energy (>= 1): the pilot overhead in Eb/N0."""
        return self.energy / self.data_res


def pusch_config(cfg: PhyConfig):
    """Sionna ``PUSCHConfig`` holding the numerology, allocation and DMRS layout of ``cfg``.

    Example::

        >>> from channels import PhyConfig
        >>> pc = pusch_config(PhyConfig())  # 24 PRBs, 14 symbols, 2 DMRS symbols (additional position 1)
        >>> pc.carrier.n_size_grid, pc.num_res_per_prb  # data REs per PRB: 12 x 14 - 2 x 12
        (24, 144)
    """
    from sionna.phy.nr import PUSCHConfig

    pc = PUSCHConfig()
    pc.carrier.subcarrier_spacing = cfg.subcarrier_spacing_khz
    pc.carrier.n_size_grid = cfg.num_prbs
    pc.symbol_allocation = [0, cfg.num_ofdm_symbols]
    pc.dmrs.additional_position = cfg.dmrs_additional_position
    pc.dmrs.length = cfg.dmrs_length
    if cfg.mcs_index is not None:
        pc.tb.mcs_table = cfg.mcs_table
        pc.tb.mcs_index = cfg.mcs_index
    return pc


@lru_cache(maxsize=64)
def slot_geometry(cfg: PhyConfig) -> SlotGeometry:
    """Slot geometry of ``cfg`` following TS 38.214 5.1.3.2 (TB size) as Sionna implements it.

    Example (the default: MCS 14 of table 1 = 16QAM at R = 553/1024, 24 PRBs, 14 symbols)::

        >>> from channels import PhyConfig
        >>> geo = slot_geometry(PhyConfig())
        >>> geo.channel_uses, geo.data_res, geo.coded_bits  # 24 x 12 x 14, 24 x 144, 4 x 3456
        (4032, 3456, 13824)
        >>> geo.tb_size, geo.num_cbs  # N_info = R 3456 x 4 = 7465.5 -> 128 x round(7441.5 / 128) = 7424
        (7424, 1)
        >>> round(geo.effective_rate, 4), round(geo.pilot_energy_ratio, 4)  # 7424 / 13824, 4032 / 3456
        (0.537, 1.1667)
    """
    import numpy as np
    from sionna.phy.nr.utils import calculate_tb_size

    pc = pusch_config(cfg)
    qm, rate = cfg.qm_and_rate
    data_res = int(pc.num_res_per_prb) * cfg.num_prbs
    coded_bits = data_res * qm
    # 38.214: N_RE capped at 156 per PRB before the TB size formula.
    target = int(rate * min(156, int(pc.num_res_per_prb)) * cfg.num_prbs * qm)
    tb_size, _, num_cbs, tb_crc, cb_crc, _ = calculate_tb_size(
        modulation_order=qm,
        target_coderate=rate,
        target_tb_size=target,
        num_coded_bits=coded_bits,
        device="cpu",
    )
    pilot_energy = float(np.sum(np.abs(pc.dmrs_grid[0, :, : cfg.num_ofdm_symbols]) ** 2))
    return SlotGeometry(
        channel_uses=cfg.num_prbs * 12 * cfg.num_ofdm_symbols,
        data_res=data_res,
        modulation_order=qm,
        target_rate=rate,
        coded_bits=coded_bits,
        energy=data_res + pilot_energy,
        tb_size=int(tb_size),
        num_cbs=int(num_cbs),
        tb_crc_bits=int(tb_crc),
        cb_crc_bits=int(cb_crc),
    )


def slots_for_bits(cfg: PhyConfig, bits: int) -> int:
    """Slots (transport blocks) needed to carry ``bits`` payload bits; 0 bits need 0 slots.

    Example (one default slot carries 7424 payload bits)::

        >>> from channels import PhyConfig
        >>> cfg = PhyConfig()
        >>> slots_for_bits(cfg, 0), slots_for_bits(cfg, 7424), slots_for_bits(cfg, 7425)
        (0, 1, 2)
    """
    if bits < 0:
        raise ValueError(f"bits must be >= 0, got {bits}")
    return -(-bits // slot_geometry(cfg).tb_size)


def channel_uses_for_bits(cfg: PhyConfig, bits: int) -> int:
    """Channel uses (REs, pilots included) that :meth:`Link.transmit` spends to carry ``bits`` payload bits.

    Whole slots are spent: the last transport block is padded.

    Example::

        >>> from channels import PhyConfig
        >>> channel_uses_for_bits(PhyConfig(), 8 * 1000)  # 8000 bits -> 2 slots of 4032 REs
        8064
    """
    return slots_for_bits(cfg, bits) * slot_geometry(cfg).channel_uses


def bits_for_channel_uses(cfg: PhyConfig, uses: int) -> int:
    """Payload bits that fit in ``uses`` channel uses: only whole slots count (a partial slot carries 0).

    Example (a default slot: 4032 channel uses, 7424 payload bits)::

        >>> from channels import PhyConfig
        >>> cfg = PhyConfig()
        >>> bits_for_channel_uses(cfg, 10_000), bits_for_channel_uses(cfg, 4031)  # 2 x 7424; no whole slot
        (14848, 0)
    """
    if uses < 0:
        raise ValueError(f"uses must be >= 0, got {uses}")
    geo = slot_geometry(cfg)
    return (uses // geo.channel_uses) * geo.tb_size


def bits_for_allocation(cfg: PhyConfig, num_slots: int) -> int:
    """Payload bits carried by ``num_slots`` slots of ``cfg.num_prbs`` PRBs.

    Example::

        >>> from channels import PhyConfig
        >>> bits_for_allocation(PhyConfig(), 3), bits_for_allocation(PhyConfig(num_prbs=48), 1)  # 3 x 7424
        (22272, 14856)
    """
    return num_slots * slot_geometry(cfg).tb_size


def shannon_capacity_bits(uses: int | float, snr_db: float) -> float:
    """Shannon capacity of ``uses`` complex AWGN channel uses at ``snr_db`` (Es/N0): uses * log2(1 + SNR).

    Example::

        >>> shannon_capacity_bits(1, 0.0)  # log2(1 + 1)
        1.0
        >>> round(shannon_capacity_bits(4032, 10.0), 1)  # one default slot at 10 dB: 4032 log2(11)
        13948.4
    """
    return float(uses) * math.log2(1.0 + 10.0 ** (snr_db / 10.0))


def ebno_from_snr(
    snr_db: float, modulation_order: int, code_rate: float, pilot_energy_ratio: float = 1.0
) -> float:
    """Eb/N0 in dB from SNR = Es/N0 per data RE.

    Eb/N0 = SNR * pilot_energy_ratio / (Qm * R), with R the payload bits per coded bit and
    pilot_energy_ratio = slot energy / data energy (pilots cost energy too). In dB:
    Eb/N0 = SNR - 10 log10(Qm R) + 10 log10(pilot_energy_ratio).

    Example::

        >>> ebno_from_snr(10.0, 2, 0.5)  # QPSK at R = 1/2 carries one bit per RE: Eb/N0 = Es/N0
        10.0
        >>> round(ebno_from_snr(10.0, 4, 0.5), 4)  # two bits per RE: 10 - 10 log10(2)
        6.9897
        >>> round(ebno_from_snr(10.0, 2, 0.5, pilot_energy_ratio=7 / 6), 4)  # + 10 log10(7/6) for DMRS
        10.6695
    """
    if modulation_order <= 0 or not 0 < code_rate <= 1 or pilot_energy_ratio < 1:
        raise ValueError("need modulation_order > 0, 0 < code_rate <= 1, pilot_energy_ratio >= 1")
    return snr_db - 10.0 * math.log10(modulation_order * code_rate) + 10.0 * math.log10(pilot_energy_ratio)


def snr_from_ebno(
    ebno_db: float, modulation_order: int, code_rate: float, pilot_energy_ratio: float = 1.0
) -> float:
    """Inverse of :func:`ebno_from_snr`.

    Example::

        >>> round(snr_from_ebno(0.0, 4, 0.5), 4)  # 0 dB Eb/N0 at two bits per RE needs 10 log10(2) dB
        3.0103
        >>> round(snr_from_ebno(ebno_from_snr(3.0, 6, 0.75), 6, 0.75), 10)
        3.0
    """
    return ebno_db - (ebno_from_snr(0.0, modulation_order, code_rate, pilot_energy_ratio))


def link_ebno_from_snr(cfg: PhyConfig, snr_db: float) -> float:
    """Eb/N0 (dB) of the NR chain of ``cfg``: effective rate K/(Qm N_data) and its DMRS energy.

    Example (default: 10 - 10 log10(4 x 7424 / 13824) + 10 log10(4032 / 3456))::

        >>> from channels import PhyConfig
        >>> round(link_ebno_from_snr(PhyConfig(), 10.0), 4)
        7.3488
    """
    geo = slot_geometry(cfg)
    return ebno_from_snr(snr_db, geo.modulation_order, geo.effective_rate, geo.pilot_energy_ratio)


def link_snr_from_ebno(cfg: PhyConfig, ebno_db: float) -> float:
    """Inverse of :func:`link_ebno_from_snr`: the SNR (dB) per data RE that gives ``ebno_db`` on ``cfg``.

    Example::

        >>> from channels import PhyConfig
        >>> round(link_snr_from_ebno(PhyConfig(), 7.3488), 4)
        10.0
    """
    geo = slot_geometry(cfg)
    return snr_from_ebno(ebno_db, geo.modulation_order, geo.effective_rate, geo.pilot_energy_ratio)
