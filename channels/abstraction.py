"""The abstraction PHY mode: which transport blocks arrive, from Sionna SYS's link abstraction, ~100x faster.

    link = AbstractLink(PhyConfig(mode="abstraction", ...))
    rx = link.transmit(b"...", snr_db=10.0, seed=0)   # -> channels.Reception, erasures only

Per slot it draws the channel realisation exactly as the bit-true chain does (the same Sionna channel
model, the same seed, the same random stream: pilots and noise included), estimates the channel with the
same estimator (``csi``), and instead of demapping and LDPC decoding:

1. post-equalisation SINR per data RE: perfect CSI ``|h|^2 / N0``; estimated CSI
   ``|h|^2 / (N0 + max(err_var, mean |h - h_est|^2))``: the estimation error counts as noise, the larger of
   the estimator's own error variance ``err_var`` per RE (the noise part, which the bit-true LMMSE detector
   also assumes) and the slot's mean realised error (which also holds the interpolation error of a fading
   channel); our model (docs/phy.md), validated against the bit-true chain (docs/performance.md);
2. effective SINR of the slot: Sionna SYS ``EESM`` with its per-MCS beta;
3. transport-block error probability and success draw: Sionna SYS ``PHYAbstraction`` (BLER tables per
   MCS and code-block size; TBLER = 1 - (1 - BLER)^num_cb) with its HARQ feedback (ACK/NACK).

A failed block is an erasure: its bytes are unknown. ``Reception.payload`` holds zeros there and
``bit_errors`` is None (unknown), so a caller must not hand those bytes to a decoder as if they were the
bit-true chain's corrupted bytes; ``mtgc_link`` refuses ``crc_error: decode`` in this mode.

BLER tables (``tables``): "calibrated" (default) loads Sionna's shipped PUSCH tables and replaces, for the
MCS in ``channels/bler_tables/PUSCH_table<N>_calibrated.json``, the curves by ones that add the code-block
size of the default 24-PRB allocation, simulated with this project's AWGN LDPC chain (made by
experiments/abstraction/make_bler_tables.py); "sionna" uses the shipped tables alone (simulated up to
CBS 2000: measured 0.45 dB early at MCS 14, CBS 7448).

HARQ (``harq_max_tx`` > 1): NACKed blocks are sent again in new slots (round r from
``harq_round_seed(seed, r)``, as the bit-true chain) and the per-RE SINRs of all transmissions of a block are
summed before EESM (maximum-ratio combining of identical symbols: exact for chase combining; for
incremental redundancy a conservative rule, since IR also gains coding -- docs/performance.md). Each round's
success is a fresh draw at the combined SINR.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from channels.config import PhyConfig
from channels.link import Link, Reception, capacity_bits, check_transmit_args, harq_round_seed

TABLES = ("calibrated", "sionna")
TABLE_DIR = Path(__file__).parent / "bler_tables"


def table_files(tables: str = "calibrated") -> list[str]:
    """The BLER table files ``PHYAbstraction`` loads for ``tables`` (later files replace earlier MCS)."""
    import sionna.sys

    if tables not in TABLES:
        raise ValueError(f"tables must be one of {TABLES}, got {tables!r}")
    shipped = Path(sionna.sys.__file__).parent / "bler_tables"
    files = [str(shipped / f"PUSCH_table{t}.json") for t in (1, 2)]
    if tables == "calibrated":
        files += [str(p) for p in sorted(TABLE_DIR.glob("PUSCH_table*_calibrated.json"))]
    return files


@lru_cache(maxsize=4)
def phy_abstraction(tables: str = "calibrated", device: str = "cpu"):
    """Sionna SYS ``PHYAbstraction`` with the BLER tables of ``tables`` (built once per process)."""
    import warnings

    from sionna.sys import PHYAbstraction

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PHYAbstraction(load_bler_tables_from=table_files(tables), device=device)


@lru_cache(maxsize=4)
def _eesm(device: str = "cpu"):
    from sionna.sys import EESM

    return EESM(device=device)


class AbstractLink:
    """Drop-in for :class:`channels.Link` in the abstraction mode: ``transmit`` returns a ``Reception`` whose
    failed blocks are erasures (``payload`` zero there, ``bit_errors`` None)."""

    mode = "abstraction"

    def __init__(self, cfg: PhyConfig, device: str = "cpu", tables: str = "calibrated") -> None:
        if not isinstance(cfg, PhyConfig):
            raise TypeError(f"cfg must be a PhyConfig, got {type(cfg).__name__}")
        if cfg.mode != "abstraction":  # validate what the abstraction needs (PhyConfig's own checks)
            cfg = PhyConfig(**{**cfg.model_dump(), "mode": "abstraction"})
        if tables not in TABLES:
            raise ValueError(f"tables must be one of {TABLES}, got {tables!r}")
        self.cfg, self.tables = cfg, tables
        self._link = Link(cfg, device=device)  # geometry, resource grid, channel model, estimator
        self.device = self._link.device
        self._grid = None  # the transmitted resource grid of one slot (slot_sinr)
        self._beta = None  # EESM beta of this MCS (effective_sinr)
        self._cb = None  # (code-block size, code blocks) of the transport block (decide)

    # geometry and budget arithmetic: the bit-true link's own
    geometry = property(lambda self: self._link.geometry)
    payload_bits_per_slot = property(lambda self: self._link.payload_bits_per_slot)
    channel_uses_per_slot = property(lambda self: self._link.channel_uses_per_slot)
    batch_slots = property(lambda self: self._link.batch_slots)

    def ebno_db(self, snr_db: float) -> float:
        return self._link.ebno_db(snr_db)

    def build(self, harq: bool = False) -> None:
        """Build the channel and estimator blocks and the abstraction (idempotent; HARQ needs no more)."""
        self._link.build()
        phy_abstraction(self.tables, self.device)
        _eesm(self.device)

    # -- one round ----------------------------------------------------------------------------------------
    def slot_sinr(self, slots: int, no: float):
        """Post-equalisation SINR [slots, data REs] (linear) of ``slots`` new slots and the true channel's
        power gains |h|^2 [slots, data REs] (None for AWGN: h = 1), drawn from Sionna's global generators
        exactly as ``Link`` draws them (all-zero coded bits: the data symbols do not enter the channel draw,
        the pilots, the noise or the estimate)."""
        import torch

        lk = self._link
        if self._grid is None:  # one slot's transmitted grid (all-zero data bits + DMRS), mapped once
            c = torch.zeros(1, 1, lk.geometry.coded_bits, device=self.device)
            self._grid = lk._rg_mapper(lk._layer_mapper(lk._mapper(c)))
        x = self._grid.expand(slots, *self._grid.shape[1:])
        no_t = torch.tensor(no, dtype=torch.float32, device=self.device)
        mask = lk._data_re
        if lk._channel is None:
            gains = None
            h_data = torch.ones(slots, int(mask.sum()), dtype=x.dtype, device=self.device)
            if lk._estimator is None:
                return torch.full(h_data.shape, 1.0 / no, device=self.device), gains
            from sionna.phy.channel import AWGN  # the noise only matters to the estimate

            y = AWGN(device=self.device)(x, no_t)
        else:
            y, h = lk._channel(x, no_t)
            h_data = h.reshape(slots, *x.shape[-2:])[:, mask]
            gains = h_data.abs().square()
        if lk._estimator is None:
            return gains / no, gains
        h_hat, err_var = lk._estimator(y, no_t)
        h_hat = h_hat.reshape(slots, *x.shape[-2:])[:, mask]
        realised = (h_data - h_hat).abs().square().mean(dim=1, keepdim=True)  # per slot
        stated = err_var.reshape(-1, *x.shape[-2:])[:, mask]  # per RE; the bit-true detector assumes it
        power = gains if gains is not None else torch.ones(h_data.shape, device=self.device)
        return (power / (no + torch.maximum(stated, realised))).float(), gains

    def effective_sinr(self, sinr):
        """EESM effective SINR [slots] (linear) of per-RE SINRs [slots, REs] at this link's MCS:
        ``-beta log(mean(exp(-sinr / beta)))`` with Sionna SYS ``EESM``'s beta of the MCS (the formula of
        ``sionna.sys.EESM``, computed here on the flat [slots, REs] tensor: 3x faster than its generic
        [..., T, F, UT, stream] layout; equal to it within float32 rounding, tested)."""
        import torch

        if self._beta is None:
            table = _eesm(self.device).beta_tensor
            self._beta = float(table[self.cfg.mcs_table - 1, self.cfg.mcs_index])
        beta = self._beta
        # log-mean-exp, stable for large SINRs: -beta * (logsumexp(-sinr / beta) - log n)
        n = sinr.shape[-1]
        return -beta * (torch.logsumexp(-sinr / beta, dim=-1) - math.log(n))

    def decide(self, sinr_eff):
        """(ACK [slots] bool, TBLER [slots]) from effective SINRs, as Sionna's ``PHYAbstraction`` computes
        them: BLER of the code blocks from its interpolated tables (``get_bler``), TBLER = 1 - (1 - BLER)^C,
        ACK where a uniform draw from its generator is >= TBLER. The code-block layout of this link's
        transport block (``PHYAbstraction``'s own transport-block function) is computed once instead of per
        call; the result equals ``PHYAbstraction(...)`` draw for draw (``decide_by_call``, tested)."""
        import torch

        pa = phy_abstraction(self.tables, self.device)
        if self._cb is None:
            geo = self.geometry
            qm, rate = torch.tensor(geo.modulation_order), torch.tensor(geo.target_rate)
            _, cb_size, num_cb = pa._transport_block_info(qm, rate, torch.tensor(geo.coded_bits))
            self._cb = (int(cb_size), int(num_cb))
        cb_size, num_cb = self._cb
        n = sinr_eff.shape[0]
        bler = pa.get_bler(self.cfg.mcs_index, self.cfg.mcs_table, 0, cb_size, sinr_eff.reshape(n, 1))
        tbler = torch.where(torch.isinf(bler), bler, 1.0 - torch.pow(1.0 - bler, num_cb))
        draw = torch.rand(tbler.shape, dtype=pa.dtype, device=pa.device, generator=pa.torch_rng)
        return (draw >= tbler).reshape(-1), tbler.reshape(-1)

    def decide_by_call(self, sinr_eff):
        """``decide`` through a full ``PHYAbstraction(...)`` call (its HARQ feedback): the reference."""
        import torch

        n = sinr_eff.shape[0]
        _, harq, _, tbler, _ = phy_abstraction(self.tables, self.device)(
            mcs_index=torch.full((n, 1), self.cfg.mcs_index, dtype=torch.int32),
            sinr_eff=sinr_eff.reshape(n, 1),
            num_allocated_re=torch.full((n, 1), self.geometry.data_res, dtype=torch.int32),
            mcs_table_index=self.cfg.mcs_table,
            mcs_category=0,  # PUSCH
        )
        return harq.reshape(-1) == 1, tbler.reshape(-1)

    def _round(self, slots: int, no: float, combined=None):
        """Draw ``slots`` new slots (chunked like ``Link``); returns (per-RE SINR summed onto ``combined``,
        the Shannon bound of the new slots as ``Link.transmit``'s ``capacity_bits``). The success draws
        come after all channel draws."""
        import torch

        chunk = self.batch_slots
        sinrs, capacity = [], 0.0
        for start in range(0, slots, chunk):
            n = min(chunk, slots - start)
            s, gains = self.slot_sinr(n, no)
            sinrs.append(s)
            capacity += capacity_bits(gains, n * self.geometry.data_res, 1.0 / no)
        sinr = torch.cat(sinrs)
        return (sinr if combined is None else combined + sinr), capacity

    # -- the public entry point -------------------------------------------------------------------------
    def transmit(
        self, payload: bytes, snr_db: float, seed: int, harq_max_tx: int = 1, harq_combining: str = "ir"
    ) -> Reception:
        """``Link.transmit`` in the abstraction mode (same arguments, same determinism, same counts of
        slots / channel uses / transmissions / capacity_bits); failed blocks are erasures."""
        import sionna.phy as sp
        import torch

        payload, snr_db, seed, harq_max_tx = check_transmit_args(
            payload, snr_db, seed, harq_max_tx, harq_combining
        )
        self.build()
        k = self.payload_bits_per_slot
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        slots = -(-bits.size // k)
        common = dict(snr_db=float(snr_db), ebno_db=self.ebno_db(float(snr_db)), harq_max_tx=harq_max_tx)
        if slots == 0:
            return Reception(b"", np.ones(0, bool), 0, 0, 0, 0, 0, 0, extra={"phy_mode": self.mode}, **common)
        no = 10.0 ** (-float(snr_db) / 10.0)
        sp.config.seed = int(seed)
        with torch.no_grad():
            sinr, capacity = self._round(slots, no)
            ok, tbler = self.decide(self.effective_sinr(sinr))
            tx = np.ones(slots, dtype=np.int64)
            first_tbler = tbler
            pending = torch.nonzero(~ok).reshape(-1)
            for rnd in range(2, harq_max_tx + 1):
                if len(pending) == 0:
                    break
                sp.config.seed = harq_round_seed(int(seed), rnd)
                combined, _ = self._round(len(pending), no, sinr[pending])
                ok_r, _ = self.decide(self.effective_sinr(combined))
                ok[pending] = ok_r
                tx[pending.numpy()] = rnd
                sinr[pending] = combined
                pending = pending[~ok_r]
        ok = ok.cpu().numpy().astype(bool)
        padded = np.zeros(slots * k, dtype=np.uint8)
        padded[: bits.size] = bits
        received = padded.reshape(slots, k) * ok[:, None]  # erasures: zero bits
        spent = int(tx.sum())
        return Reception(
            payload=np.packbits(received.reshape(-1)[: bits.size]).tobytes(),
            tb_crc_ok=ok,
            bits=int(bits.size),
            bit_errors=None,  # unknown: the abstraction knows which blocks failed, not their bits
            blocks=slots,
            block_errors=int(np.count_nonzero(~ok)),
            slots=spent,
            channel_uses=spent * self.channel_uses_per_slot,
            transmissions=tx,
            capacity_bits=capacity,
            extra={"phy_mode": self.mode, "tbler_first": first_tbler.cpu().numpy()},
            **common,
        )


def make_link(cfg: PhyConfig, device: str = "cpu"):
    """The link for ``cfg.mode``: :class:`channels.Link` (bit_true) or :class:`AbstractLink`."""
    return AbstractLink(cfg, device=device) if cfg.mode == "abstraction" else Link(cfg, device=device)
