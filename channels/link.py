"""The NR link: any payload of bytes through TB CRC + LDPC + rate matching, QAM, OFDM with DMRS, a channel,
channel estimation, LMMSE equalization, demapping, LDPC decoding and the TB CRC check (Sionna 2.x, PyTorch).

    link = Link(PhyConfig(...))
    rx = link.transmit(b"...", snr_db=10.0, seed=0)   # -> Reception

A payload of B bits spans ceil(B / K) slots (K = ``payload_bits_per_slot``, one transport block per slot);
the last block is zero-padded and the padding removed on reception. All slots of a payload are processed as
one batch (in chunks of ``Link.batch_slots`` slots to bound memory).

HARQ (``transmit(..., harq_max_tx=N)``): transport blocks whose TB CRC failed are sent again, each time in a
new slot, up to N transmissions in all, with incremental redundancy (RV 0, 2, 3, 1, ...) or chase combining;
the receiver combines the LLRs of all transmissions of a block before LDPC decoding (docs/phy.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from channels.config import PhyConfig, check_snr_db
from channels.mcs import SlotGeometry, link_ebno_from_snr, pusch_config, slot_geometry
from channels.models import cir_model, ofdm_channel

# Fixed seed of the channel realizations drawn once to estimate covariances for LMMSE channel estimation.
_COVARIANCE_SEED = 20_240_601
_COVARIANCE_SAMPLES = 256

# HARQ: redundancy version of transmission i (0-based) is HARQ_RV_ORDER[i % 4] (incremental redundancy);
# chase combining sends RV 0 every time.
HARQ_RV_ORDER = (0, 2, 3, 1)
HARQ_COMBINING = ("ir", "chase")


def harq_redundancy_versions(num_tx: int, combining: str = "ir") -> list[int]:
    """Redundancy versions of the first ``num_tx`` transmissions of a transport block.

    >>> harq_redundancy_versions(5), harq_redundancy_versions(3, "chase")
    ([0, 2, 3, 1, 0], [0, 0, 0])
    """
    if combining not in HARQ_COMBINING:
        raise ValueError(f"harq_combining must be one of {HARQ_COMBINING}, got {combining!r}")
    return [HARQ_RV_ORDER[i % 4] if combining == "ir" else 0 for i in range(num_tx)]


def harq_round_seed(seed: int, round_index: int) -> int:
    """Seed of HARQ round ``round_index`` (2 = first retransmission) of a ``transmit`` with ``seed``: derived
    from both (numpy SeedSequence), so round 1 keeps the stream of ``seed`` itself and rounds never share
    one."""
    return int(np.random.SeedSequence([int(seed), int(round_index)]).generate_state(1, np.uint64)[0])


class ErrorRates:
    """Rates derived from the counts of a reception (``channels.Reception``, and the per-image sum of its
    groups in ``mtgc_link.transport``): fields ``bits``, ``bit_errors``, ``blocks``, ``block_errors``,
    ``tb_crc_ok`` and ``transmissions`` (per block, or their total)."""

    @property
    def ber(self) -> float:
        """bit_errors / bits; NaN when the bit errors are unknown (abstraction mode: erasures)."""
        if self.bit_errors is None:
            return math.nan
        return self.bit_errors / self.bits if self.bits else 0.0

    @property
    def bler(self) -> float:
        return self.block_errors / self.blocks if self.blocks else 0.0

    @property
    def mean_transmissions(self) -> float:
        """Mean transmissions per transport block (1.0 without HARQ; 0.0 for an empty payload)."""
        return float(np.sum(self.transmissions)) / self.blocks if self.blocks else 0.0

    @property
    def ok(self) -> bool:
        """True when every transport block passed its CRC (an empty payload is trivially ok)."""
        return bool(np.all(self.tb_crc_ok))


@dataclass
class Reception(ErrorRates):
    """Result of one :meth:`Link.transmit`.

    payload: received bytes, same length as sent (wrong where a block failed; check ``tb_crc_ok``).
    tb_crc_ok: [blocks] bool, TB CRC status per transport block (True = CRC passed), after the last
        transmission of that block (residual).
    bits / bit_errors: payload bits sent (padding excluded) and how many differ (residual); bit_errors is
        None where they are unknown (``channels.abstraction``: failed blocks are erasures).
    blocks / block_errors: transport blocks sent and how many failed (CRC failed or any bit wrong) after their
        last transmission (residual).
    slots: slots spent, every transmission counted (= sum(transmissions); = blocks without HARQ).
    channel_uses: REs spent, pilots included, every transmission counted (= slots * channel uses per slot).
    transmissions: [blocks] int, transmissions each transport block took (1 .. harq_max_tx; all 1 without
        HARQ). A block is sent again only while its TB CRC fails; a block whose CRC fails at the last
        allowed transmission has ``harq_max_tx``.
    harq_max_tx: the transmission limit this reception ran with (1 = HARQ off).
    capacity_bits: Shannon bound of the first round's allocation for this realisation: the sum over the data
        REs of all blocks' first transmissions (DMRS excluded) of log2(1 + |h|^2 SNR), h the true channel
        coefficient of the RE (perfect CSI, unit average power; AWGN: n_data_RE * log2(1 + SNR)).
        0 for an empty payload (and for a Reception built by hand without it).

    Retransmissions are spent beyond the first round and recorded here (``slots``, ``channel_uses``,
    ``transmissions``); ``transmit`` enforces no budget: the caller decides what it allows.
    """

    payload: bytes
    tb_crc_ok: np.ndarray
    bits: int
    bit_errors: int | None
    blocks: int
    block_errors: int
    slots: int
    channel_uses: int
    snr_db: float = math.nan
    ebno_db: float = math.nan
    extra: dict = field(default_factory=dict)
    transmissions: np.ndarray | None = None  # None -> all ones (one transmission per block)
    harq_max_tx: int = 1
    capacity_bits: float = 0.0

    def __post_init__(self) -> None:
        if self.transmissions is None:
            self.transmissions = np.ones(len(self.tb_crc_ok), dtype=np.int64)


class Link:
    """Reusable NR link for one :class:`PhyConfig`; Sionna blocks are built on the first transmission."""

    def __init__(self, cfg: PhyConfig, device: str = "cpu") -> None:
        if not isinstance(cfg, PhyConfig):
            raise TypeError(f"cfg must be a PhyConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.device = "cuda:0" if device == "cuda" else device  # Sionna wants an indexed CUDA device
        self._built = False

    # -- geometry (no Sionna blocks needed) ------------------------------------------------------------
    @property
    def geometry(self) -> SlotGeometry:
        return slot_geometry(self.cfg)

    @property
    def payload_bits_per_slot(self) -> int:
        """Transport-block payload bits K per slot (TB CRC excluded)."""
        return self.geometry.tb_size

    @property
    def channel_uses_per_slot(self) -> int:
        """All REs of the allocation in one slot (data + DMRS): the bandwidth-time cost of a slot."""
        return self.geometry.channel_uses

    @property
    def batch_slots(self) -> int:
        """Slots per batch: ``cfg.max_batch_slots``, fewer where a batch would exceed
        ``cfg.max_batch_coded_bits`` (memory of the demapper and LDPC decoder grows with coded bits)."""
        return max(
            1, min(self.cfg.max_batch_slots, self.cfg.max_batch_coded_bits // self.geometry.coded_bits)
        )

    def ebno_db(self, snr_db: float) -> float:
        """Eb/N0 (dB) matching ``snr_db`` for this link (docs/phy.md)."""
        return link_ebno_from_snr(self.cfg, snr_db)

    # -- blocks -----------------------------------------------------------------------------------------
    def build(self, harq: bool = False) -> None:
        """Build the Sionna blocks now (idempotent); ``harq=True`` also the HARQ blocks (per-RV encoding,
        combining decoder). ``transmit`` builds before seeding, so the fixed-seed draw of LMMSE covariances
        never shifts the random stream of a transmission."""
        if not self._built:
            self._build()
        if harq:
            self._build_harq()

    def _build(self) -> None:
        from sionna.phy.mapping import Mapper
        from sionna.phy.mimo import StreamManagement
        from sionna.phy.nr import (
            LayerDemapper,
            LayerMapper,
            PUSCHLMMSEChannelEstimator,
            PUSCHLSChannelEstimator,
            PUSCHPilotPattern,
            TBDecoder,
            TBEncoder,
        )
        from sionna.phy.nr.pusch_config import check_pusch_configs
        from sionna.phy.ofdm import LinearDetector, ResourceGrid, ResourceGridMapper

        cfg, geo, dev = self.cfg, self.geometry, self.device
        pc = pusch_config(cfg)
        p = check_pusch_configs([pc])
        self._encoder = TBEncoder(
            target_tb_size=geo.tb_size,
            num_coded_bits=geo.coded_bits,
            target_coderate=geo.target_rate,
            num_bits_per_symbol=geo.modulation_order,
            num_layers=1,
            n_rnti=p["n_rnti"],
            n_id=p["n_id"],
            channel_type="PUSCH",
            device=dev,
        )
        if self._encoder.k != geo.tb_size:  # our budget arithmetic must match what the encoder carries
            raise RuntimeError(f"TB size mismatch: encoder k={self._encoder.k}, geometry {geo.tb_size}")
        self._mapper = Mapper("qam", geo.modulation_order, device=dev)
        self._layer_mapper = LayerMapper(num_layers=1, device=dev)
        self._rg = ResourceGrid(
            num_ofdm_symbols=p["num_ofdm_symbols"],
            fft_size=p["num_subcarriers"],
            subcarrier_spacing=p["subcarrier_spacing"],
            num_tx=1,
            num_streams_per_tx=1,
            cyclic_prefix_length=p["cyclic_prefix_length"],
            pilot_pattern=PUSCHPilotPattern([pc], device=dev),
            device=dev,
        )
        self._rg_mapper = ResourceGridMapper(self._rg, device=dev)
        self._data_re = self._rg.build_type_grid()[0, 0] == 0  # [T, F] data REs (not DMRS) for capacity_bits
        if int(self._data_re.sum()) != geo.data_res:
            raise RuntimeError(f"data REs: resource grid {int(self._data_re.sum())}, geometry {geo.data_res}")
        self._channel = ofdm_channel(cfg.channel, self._rg, dev)
        dmrs = (p["dmrs_length"], p["dmrs_additional_position"], p["num_cdm_groups_without_data"])
        if cfg.csi == "ls":
            self._estimator = PUSCHLSChannelEstimator(self._rg, *dmrs, interpolation_type="lin", device=dev)
        elif cfg.csi == "lmmse":
            cov_t, cov_f = self._channel_covariances()
            self._estimator = PUSCHLMMSEChannelEstimator(
                self._rg, *dmrs, cov_t, cov_f, order="t-f", device=dev
            )
        else:
            self._estimator = None
        self._detector = LinearDetector(
            "lmmse",
            "bit",
            "maxlog",
            self._rg,
            StreamManagement(np.ones([1, 1], bool), 1),
            "qam",
            geo.modulation_order,
            device=dev,
        )
        self._layer_demapper = LayerDemapper(
            self._layer_mapper, num_bits_per_symbol=geo.modulation_order, device=dev
        )
        self._decoder = TBDecoder(
            self._encoder, num_bp_iter=cfg.ldpc_iterations, cn_update=cfg.ldpc_cn_update, device=dev
        )
        self._harq_decoder = None  # HARQ blocks: built by _build_harq on the first use
        self._built = True

    def _channel_covariances(self):
        """Time [T, T] and frequency [F, F] channel covariances, sampled from the configured model with a
        fixed seed (empirical, like Sionna's LMMSE tutorial). AWGN: all-ones (a constant channel)."""
        import sionna.phy as sp
        import torch

        t, f = self._rg.num_ofdm_symbols, self._rg.fft_size
        model = cir_model(self.cfg.channel, self.device)
        if model is None:
            ones = dict(dtype=torch.complex64, device=self.device)
            return torch.ones(t, t, **ones), torch.ones(f, f, **ones)
        from sionna.phy.channel import GenerateOFDMChannel

        sp.config.seed = _COVARIANCE_SEED
        h = GenerateOFDMChannel(model, self._rg, normalize_channel=False, device=self.device)(
            _COVARIANCE_SAMPLES
        )
        h = h.reshape(_COVARIANCE_SAMPLES, t, f)
        cov_f = torch.einsum("ntf,ntg->fg", h, h.conj()) / (_COVARIANCE_SAMPLES * t)
        cov_t = torch.einsum("ntf,nsf->ts", h, h.conj()) / (_COVARIANCE_SAMPLES * f)
        return cov_t, cov_f

    def _rx_llr(self, c, no):
        """Coded bits [batch, 1, n] of one slot each -> (LLRs [batch, 1, n], true channel [batch, T, F]):
        QAM, resource grid, channel + noise (Sionna's global generators), estimation, LMMSE, demapping."""
        import torch

        x = self._rg_mapper(self._layer_mapper(self._mapper(c)))
        no_t = torch.tensor(no, dtype=torch.float32, device=self.device)
        if self._channel is None:
            from sionna.phy.channel import AWGN

            y = AWGN(device=self.device)(x, no_t)
            h = torch.ones(x.shape[0], 1, 1, 1, 1, *x.shape[-2:], dtype=x.dtype, device=self.device)
        else:
            y, h = self._channel(x, no_t)
        if self._estimator is None:
            h_hat, err_var = h, torch.zeros(1, device=self.device)
        else:
            h_hat, err_var = self._estimator(y, no_t)
        llr = self._layer_demapper(self._detector(y, h_hat, err_var, no_t))
        return llr, h.reshape(x.shape[0], *x.shape[-2:])

    def run_slots(self, b, no):
        """Run a batch of transport blocks through the chain (one transmission each, no HARQ).

        b: [batch, 1, K] float {0,1} payload bits; no: noise variance N0 per RE (float).
        Returns (b_hat [batch, 1, K] float, tb_crc_ok [batch, 1] bool).
        """
        import torch

        self.build()
        with torch.no_grad():
            llr, _ = self._rx_llr(self._encoder(b), no)
            return self._decoder(llr)

    def run_slots_harq(self, b, no, harq_max_tx: int, harq_combining: str = "ir"):
        """``run_slots`` with HARQ: blocks whose TB CRC failed are sent again (new slots, drawn from Sionna's
        global generators as they stand) up to ``harq_max_tx`` transmissions in all.

        Returns (b_hat [batch, 1, K], tb_crc_ok [batch, 1], transmissions [batch] int64 tensor). The first
        transmission is exactly ``run_slots``; with ``harq_max_tx=1`` the results equal it.
        """
        import torch

        check_harq(harq_max_tx, harq_combining)
        self.build(harq=True)
        with torch.no_grad():
            llr, _ = self._rx_llr(self._encoder(b), no)
            b_hat, crc = self._decoder(llr)
            return self._retransmit(b, no, b_hat, crc, llr, harq_max_tx, harq_combining)

    def run_slots_combined(self, b, no, rvs: list[int]):
        """Every block sent ``len(rvs)`` times, transmission i with redundancy version ``rvs[i]`` in its own
        slot (drawn from Sionna's global generators), all combined before one decoding (no CRC feedback):
        ``[0, 0]`` is chase combining of two identical transmissions, ``[0, 2]`` incremental redundancy.

        Returns (b_hat [batch, 1, K], tb_crc_ok [batch, 1]). For the physics checks of the combining.
        """
        import torch

        if not rvs or any(isinstance(r, bool) or r not in (0, 1, 2, 3) for r in rvs):
            raise ValueError(f"rvs must be a non-empty list of redundancy versions 0..3, got {rvs!r}")
        self.build(harq=True)
        with torch.no_grad():
            llrs = [self._rx_llr(self._encode_rv(b, rv), no)[0] for rv in rvs]
            return self._decode_combined(torch.cat(llrs, dim=1), list(rvs))

    # -- HARQ -------------------------------------------------------------------------------------------
    def _build_harq(self) -> None:
        """The per-RV encoding and combining decoder: the TB chain's own sub-blocks (TB CRC, segmentation,
        CB CRC, LDPC encoder, interleaver, scrambler) with an LDPC decoder in HARQ mode (idempotent)."""
        if self._harq_decoder is not None:
            return
        import torch
        from sionna.phy.fec.crc import CRCDecoder
        from sionna.phy.fec.ldpc import LDPC5GDecoder
        from sionna.phy.fec.scrambling import Descrambler

        enc, dev = self._encoder, self.device
        ldpc = enc.ldpc_encoder
        if enc.cw_lengths_max > ldpc.n_cb_comp:  # Sionna's HARQ combining assumes no repetition
            raise ValueError(
                f"HARQ needs codewords ({enc.cw_lengths_max}) <= circular buffer ({ldpc.n_cb_comp})"
            )
        self._harq_perm = torch.argsort(enc.output_perm_inv).to(dev)  # TBEncoder's output interleaver
        self._harq_descrambler = (
            None if enc.scrambler is None else Descrambler(enc.scrambler, binary=False, device=dev)
        )
        self._harq_tb_crc = CRCDecoder(enc.tb_crc_encoder, device=dev)
        self._harq_cb_crc = None if enc.cb_crc_encoder is None else CRCDecoder(enc.cb_crc_encoder, device=dev)
        self._harq_decoder = LDPC5GDecoder(
            ldpc,
            cn_update=self.cfg.ldpc_cn_update,
            num_iter=self.cfg.ldpc_iterations,
            hard_out=True,
            return_infobits=True,
            harq_mode=True,
            device=dev,
        )

    def _encode_rv(self, b, rv: int):
        """TBEncoder's chain for redundancy version ``rv``: b [batch, 1, K] -> coded bits [batch, 1, n].
        RV 0 gives exactly ``TBEncoder(b)`` (tested)."""
        import torch

        enc = self._encoder
        u = b.float()
        if enc.k_padding > 0:
            u = torch.cat([u, torch.zeros(*u.shape[:-1], enc.k_padding, dtype=u.dtype, device=u.device)], -1)
        elif enc.k_padding < 0:
            u = u[..., : enc.tb_size]
        u = enc.tb_crc_encoder(u)
        cb_crc = 0 if enc.cb_crc_encoder is None else enc.cb_crc_encoder.crc_length
        u = u.reshape(-1, enc.num_tx, enc.num_cbs, enc.ldpc_encoder.k - cb_crc)
        if enc.cb_crc_encoder is not None:
            u = enc.cb_crc_encoder(u)
        c = enc.ldpc_encoder(u, rv=[int(rv)])  # [batch, 1, num_cbs, 1, cw_max]
        c = c.reshape(-1, enc.num_tx, enc.num_cbs * enc.cw_lengths_max)
        c = torch.index_select(c, -1, self._harq_perm)[..., : enc.cw_lengths_sum]
        if enc.scrambler is not None:
            c = enc.scrambler(c)
        return c.to(b.dtype).reshape(*b.shape[:-1], enc.n)

    def _decode_combined(self, llrs, rvs: list[int]):
        """Decode the LLRs of several transmissions of the same blocks, combined before BP.

        llrs: [batch, R, n] (transmission r with RV rvs[r]) -> (b_hat [batch, 1, K], tb_crc_ok [batch, 1]).
        All RVs 0 (chase): the same codeword every time, so the LLRs are summed and decoded by the TBDecoder
        itself (what Sionna's HARQ-mode decoder does for equal RVs, without its unpruned graph, measured up
        to ~27x slower at high code rates). Otherwise incremental redundancy: ``_decode_ir``."""
        if all(int(r) == 0 for r in rvs):
            return self._decoder(llrs.sum(dim=1, keepdim=True))
        return self._decode_ir(llrs, rvs)

    def _decode_ir(self, llrs, rvs: list[int]):
        """TBDecoder's chain on the LLRs of several transmissions, combined in the LDPC circular buffer by
        Sionna's HARQ-mode LDPC5GDecoder (``rv=``) before BP. Shapes as ``_decode_combined``. Like TBDecoder,
        the TB CRC decides (CB CRCs are removed, not used)."""
        import torch

        enc = self._encoder
        batch, rounds, n = llrs.shape
        ldpc = enc.ldpc_encoder
        x = llrs.float().reshape(batch * rounds, enc.num_tx, n)
        if self._harq_descrambler is not None:
            x = self._harq_descrambler(x)
        fillers = torch.zeros(
            *x.shape[:-1], ldpc.n * enc.num_cbs - enc.cw_lengths_sum, dtype=x.dtype, device=x.device
        )
        x = torch.index_select(torch.cat([x, fillers], -1), -1, enc.output_perm_inv)
        x = x.reshape(batch, rounds, enc.num_tx, enc.num_cbs, ldpc.n).permute(0, 2, 3, 1, 4)
        u_cb = self._harq_decoder(x.contiguous(), rv=[int(r) for r in rvs])  # [batch, 1, num_cbs, k_cb]
        if self._harq_cb_crc is not None:
            u_cb, _ = self._harq_cb_crc(u_cb)
        u, crc_ok = self._harq_tb_crc(u_cb.reshape(batch, enc.num_tx, -1))
        if enc.k_padding > 0:
            u = u[..., : -enc.k_padding]
        elif enc.k_padding < 0:
            u = torch.cat([u, torch.zeros(*u.shape[:-1], -enc.k_padding, dtype=u.dtype, device=u.device)], -1)
        return u.reshape(batch, 1, enc.k).to(llrs.dtype), crc_ok.reshape(batch, 1).bool()

    def _retransmit(self, b, no, b_hat, crc, llr, max_tx, combining, seed=None):
        """HARQ rounds 2..max_tx after a first round (b_hat, crc, llr of every block of b). Only blocks whose
        TB CRC failed in every earlier round go again, as one new slot each (chunked like the first round).
        ``seed``: reseed Sionna for round r with ``harq_round_seed(seed, r)``; None: keep the global stream.
        Returns (b_hat, crc, transmissions [blocks] int64)."""
        import sionna.phy as sp
        import torch

        b_hat, crc = b_hat.clone(), crc.clone()
        tx = torch.ones(b.shape[0], dtype=torch.int64, device=b.device)
        rvs = harq_redundancy_versions(max_tx, combining)
        pending = torch.nonzero(~crc[:, 0]).reshape(-1)
        history = llr[pending].reshape(len(pending), 1, llr.shape[-1])  # [pending, rounds so far, n]
        chunk = self.batch_slots
        for rnd in range(2, max_tx + 1):
            if len(pending) == 0:
                break
            if seed is not None:
                sp.config.seed = harq_round_seed(seed, rnd)
            fresh = []
            for start in range(0, len(pending), chunk):
                c = self._encode_rv(b[pending[start : start + chunk]], rvs[rnd - 1])
                fresh.append(self._rx_llr(c, no)[0])
            history = torch.cat([history, torch.cat(fresh).reshape(len(pending), 1, llr.shape[-1])], dim=1)
            hats, crcs = [], []
            for start in range(0, len(pending), chunk):
                h, ok = self._decode_combined(history[start : start + chunk], rvs[:rnd])
                hats.append(h)
                crcs.append(ok)
            hat_r, crc_r = torch.cat(hats), torch.cat(crcs)
            b_hat[pending], crc[pending], tx[pending] = hat_r, crc_r, rnd
            still = ~crc_r[:, 0]
            pending, history = pending[still], history[still]
        return b_hat, crc, tx

    def _capacity_bits(self, h, snr: float) -> float:
        """Sum over the data REs of all slots of h ([slots, T, F], true channel) of log2(1 + |h|^2 SNR)."""
        gains = None if self._channel is None else h.abs().square()[:, self._data_re]  # AWGN: h = 1 exactly
        return capacity_bits(gains, h.shape[0] * self.geometry.data_res, snr)

    # -- the public entry point -------------------------------------------------------------------------
    def transmit(
        self, payload: bytes, snr_db: float, seed: int, harq_max_tx: int = 1, harq_combining: str = "ir"
    ) -> Reception:
        """Send ``payload`` over the link at ``snr_db`` (Es/N0 per data RE, dB) with RNG ``seed``.

        Deterministic: the same (payload, snr_db, seed, HARQ arguments) gives the same Reception. Reseeds
        Sionna's global generators (``sionna.phy.config.seed``). An empty payload spends nothing and is ok.

        HARQ: ``harq_max_tx`` transmissions at most per transport block (1 = off, today's chain exactly).
        After the first round (all blocks, the random stream of ``seed`` as without HARQ), the blocks whose
        TB CRC failed are sent again, each in a new slot (new channel realisation and noise), round r drawn
        from ``harq_round_seed(seed, r)``; ``harq_combining`` "ir": redundancy versions 0, 2, 3, 1, ...
        (TS 38.212 5.4.2.1), "chase": RV 0 every time. The receiver combines all transmissions of a block
        before decoding. ``slots``/``channel_uses``/``transmissions`` count every transmission; the error
        counts and ``tb_crc_ok`` are residual (after the last one). No budget is enforced here.
        """
        import sionna.phy as sp
        import torch

        payload, snr_db, seed, harq_max_tx = check_transmit_args(
            payload, snr_db, seed, harq_max_tx, harq_combining
        )
        self.build(harq=harq_max_tx > 1)
        k = self.payload_bits_per_slot
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        slots = -(-bits.size // k)
        common = dict(snr_db=float(snr_db), ebno_db=self.ebno_db(float(snr_db)), harq_max_tx=harq_max_tx)
        if slots == 0:
            return Reception(b"", np.ones(0, bool), 0, 0, 0, 0, 0, 0, **common)
        padded = np.zeros(slots * k, dtype=np.float32)
        padded[: bits.size] = bits
        b = torch.from_numpy(padded).reshape(slots, 1, k).to(self.device)
        sp.config.seed = int(seed)
        no = 10.0 ** (-float(snr_db) / 10.0)
        snr = 10.0 ** (float(snr_db) / 10.0)
        hats, crcs, llrs = [], [], []
        capacity = 0.0
        chunk = self.batch_slots
        with torch.no_grad():
            for start in range(0, slots, chunk):  # round 1: exactly run_slots, chunk by chunk
                llr, h = self._rx_llr(self._encoder(b[start : start + chunk]), no)
                capacity += self._capacity_bits(h, snr)
                b_hat, crc = self._decoder(llr)
                hats.append(b_hat)
                crcs.append(crc)
                if harq_max_tx > 1:
                    llrs.append(llr)
            b_hat, crc = torch.cat(hats), torch.cat(crcs)
            if harq_max_tx > 1:
                b_hat, crc, tx = self._retransmit(
                    b, no, b_hat, crc, torch.cat(llrs), harq_max_tx, harq_combining, seed=int(seed)
                )
                transmissions = tx.cpu().numpy().astype(np.int64)
            else:
                transmissions = np.ones(slots, dtype=np.int64)
        b_hat = b_hat.reshape(slots, k).cpu().numpy() > 0.5
        crc_ok = crc.reshape(slots).cpu().numpy().astype(bool)
        sent = padded.reshape(slots, k) > 0.5
        wrong_block = (b_hat != sent).any(axis=1)
        rx_bits = b_hat.reshape(-1)[: bits.size]
        spent = int(transmissions.sum())
        return Reception(
            payload=np.packbits(rx_bits).tobytes(),
            tb_crc_ok=crc_ok,
            bits=int(bits.size),
            bit_errors=int(np.count_nonzero(rx_bits != bits.astype(bool))),
            blocks=slots,
            block_errors=int(np.count_nonzero(wrong_block | ~crc_ok)),
            slots=spent,
            channel_uses=spent * self.channel_uses_per_slot,
            transmissions=transmissions,
            capacity_bits=capacity,
            **common,
        )


def check_transmit_args(payload, snr_db, seed, harq_max_tx, harq_combining) -> tuple[bytes, float, int, int]:
    """The arguments of a ``transmit`` (``Link`` and ``channels.abstraction.AbstractLink`` alike), checked
    and normalised: (payload bytes, SNR in dB, seed, harq_max_tx). TypeError / ValueError name the bad one."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.floating, np.integer)):
        raise ValueError(f"snr_db must be a number, got {snr_db!r}")
    snr_db = check_snr_db(snr_db, "snr_db")  # finite, in channels.config.SNR_DB_RANGE
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    check_harq(harq_max_tx, harq_combining)
    return bytes(payload), snr_db, int(seed), int(harq_max_tx)


def capacity_bits(gains, data_res: int, snr: float) -> float:
    """Shannon bound over data REs: sum of log2(1 + |h|^2 SNR) over ``gains`` (|h|^2 [slots, data REs],
    any array or tensor), or ``data_res * log2(1 + SNR)`` when ``gains`` is None (AWGN: h = 1 exactly)."""
    if gains is None:
        return float(data_res) * math.log2(1.0 + snr)
    if hasattr(gains, "cpu"):
        gains = gains.cpu().numpy()
    return float(np.log2(1.0 + np.asarray(gains, dtype=np.float64) * snr).sum())


def check_harq(harq_max_tx, harq_combining) -> None:
    if isinstance(harq_max_tx, bool) or not isinstance(harq_max_tx, (int, np.integer)) or harq_max_tx < 1:
        raise ValueError(f"harq_max_tx must be an int >= 1, got {harq_max_tx!r}")
    if harq_combining not in HARQ_COMBINING:
        raise ValueError(f"harq_combining must be one of {HARQ_COMBINING}, got {harq_combining!r}")
