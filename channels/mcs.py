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

from channels.config import PhyConfig


@lru_cache(maxsize=64)
def mcs_from_index(mcs_index: int, mcs_table: int) -> tuple[int, float]:
    """(modulation order Qm, target code rate R) of a TS 38.214 PUSCH MCS index (Sionna's tables)."""
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
    """Sionna ``PUSCHConfig`` holding the numerology, allocation and DMRS layout of ``cfg``."""
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
    """Slot geometry of ``cfg`` following TS 38.214 5.1.3.2 (TB size) as Sionna implements it."""
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
    """Slots (transport blocks) needed to carry ``bits`` payload bits; 0 bits need 0 slots."""
    if bits < 0:
        raise ValueError(f"bits must be >= 0, got {bits}")
    return -(-bits // slot_geometry(cfg).tb_size)


def channel_uses_for_bits(cfg: PhyConfig, bits: int) -> int:
    """Channel uses (REs, pilots included) that :meth:`Link.transmit` spends to carry ``bits`` payload bits.

    Whole slots are spent: the last transport block is padded.
    """
    return slots_for_bits(cfg, bits) * slot_geometry(cfg).channel_uses


def bits_for_channel_uses(cfg: PhyConfig, uses: int) -> int:
    """Payload bits that fit in ``uses`` channel uses: only whole slots count (a partial slot carries 0)."""
    if uses < 0:
        raise ValueError(f"uses must be >= 0, got {uses}")
    geo = slot_geometry(cfg)
    return (uses // geo.channel_uses) * geo.tb_size


def bits_for_allocation(cfg: PhyConfig, num_slots: int) -> int:
    """Payload bits carried by ``num_slots`` slots of ``cfg.num_prbs`` PRBs."""
    return num_slots * slot_geometry(cfg).tb_size


def shannon_capacity_bits(uses: int | float, snr_db: float) -> float:
    """Shannon capacity of ``uses`` complex AWGN channel uses at ``snr_db`` (Es/N0): uses * log2(1 + SNR)."""
    return float(uses) * math.log2(1.0 + 10.0 ** (snr_db / 10.0))


def ebno_from_snr(
    snr_db: float, modulation_order: int, code_rate: float, pilot_energy_ratio: float = 1.0
) -> float:
    """Eb/N0 in dB from SNR = Es/N0 per data RE.

    Eb/N0 = SNR * pilot_energy_ratio / (Qm * R), with R the payload bits per coded bit and
    pilot_energy_ratio = slot energy / data energy (pilots cost energy too). In dB:
    Eb/N0 = SNR - 10 log10(Qm R) + 10 log10(pilot_energy_ratio).
    """
    if modulation_order <= 0 or not 0 < code_rate <= 1 or pilot_energy_ratio < 1:
        raise ValueError("need modulation_order > 0, 0 < code_rate <= 1, pilot_energy_ratio >= 1")
    return snr_db - 10.0 * math.log10(modulation_order * code_rate) + 10.0 * math.log10(pilot_energy_ratio)


def snr_from_ebno(
    ebno_db: float, modulation_order: int, code_rate: float, pilot_energy_ratio: float = 1.0
) -> float:
    """Inverse of :func:`ebno_from_snr`."""
    return ebno_db - (ebno_from_snr(0.0, modulation_order, code_rate, pilot_energy_ratio))


def link_ebno_from_snr(cfg: PhyConfig, snr_db: float) -> float:
    """Eb/N0 (dB) of the NR chain of ``cfg``: effective rate K/(Qm N_data) and its DMRS energy."""
    geo = slot_geometry(cfg)
    return ebno_from_snr(snr_db, geo.modulation_order, geo.effective_rate, geo.pilot_energy_ratio)


def link_snr_from_ebno(cfg: PhyConfig, ebno_db: float) -> float:
    geo = slot_geometry(cfg)
    return snr_from_ebno(ebno_db, geo.modulation_order, geo.effective_rate, geo.pilot_energy_ratio)
