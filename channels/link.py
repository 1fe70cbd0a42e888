"""The NR link: any payload of bytes through TB CRC + LDPC + rate matching, QAM, OFDM with DMRS, a channel,
channel estimation, LMMSE equalization, demapping, LDPC decoding and the TB CRC check (Sionna 2.x, PyTorch).

    link = Link(PhyConfig(...))
    rx = link.transmit(b"...", snr_db=10.0, seed=0)   # -> Reception

A payload of B bits spans ceil(B / K) slots (K = ``payload_bits_per_slot``, one transport block per slot);
the last block is zero-padded and the padding removed on reception. All slots of a payload are processed as
one batch (in chunks of ``Link.batch_slots`` slots to bound memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from channels.config import PhyConfig
from channels.mcs import SlotGeometry, link_ebno_from_snr, pusch_config, slot_geometry
from channels.models import cir_model, ofdm_channel

# Fixed seed of the channel realizations drawn once to estimate covariances for LMMSE channel estimation.
_COVARIANCE_SEED = 20_240_601
_COVARIANCE_SAMPLES = 256


@dataclass
class Reception:
    """Result of one :meth:`Link.transmit`.

    payload: received bytes, same length as sent (wrong where a block failed; check ``tb_crc_ok``).
    tb_crc_ok: [slots] bool, TB CRC status per transport block (True = CRC passed).
    bits / bit_errors: payload bits sent (padding excluded) and how many differ.
    blocks / block_errors: transport blocks sent and how many failed (CRC failed or any bit wrong).
    slots: slots spent (= blocks). channel_uses: REs spent, pilots included.
    """

    payload: bytes
    tb_crc_ok: np.ndarray
    bits: int
    bit_errors: int
    blocks: int
    block_errors: int
    slots: int
    channel_uses: int
    snr_db: float = math.nan
    ebno_db: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def ber(self) -> float:
        return self.bit_errors / self.bits if self.bits else 0.0

    @property
    def bler(self) -> float:
        return self.block_errors / self.blocks if self.blocks else 0.0

    @property
    def ok(self) -> bool:
        """True when every transport block passed its CRC (an empty payload is trivially ok)."""
        return bool(np.all(self.tb_crc_ok))


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
    def build(self) -> None:
        """Build the Sionna blocks now (idempotent). ``transmit`` builds before seeding, so the fixed-seed
        draw of LMMSE covariances never shifts the random stream of a transmission."""
        if not self._built:
            self._build()

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

    def run_slots(self, b, no):
        """Run a batch of transport blocks through the chain.

        b: [batch, 1, K] float {0,1} payload bits; no: noise variance N0 per RE (float).
        Returns (b_hat [batch, 1, K] float, tb_crc_ok [batch, 1] bool).
        """
        import torch

        self.build()
        with torch.no_grad():
            x = self._rg_mapper(self._layer_mapper(self._mapper(self._encoder(b))))
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
            return self._decoder(llr)

    # -- the public entry point -------------------------------------------------------------------------
    def transmit(self, payload: bytes, snr_db: float, seed: int) -> Reception:
        """Send ``payload`` over the link at ``snr_db`` (Es/N0 per data RE, dB) with RNG ``seed``.

        Deterministic: the same (payload, snr_db, seed) gives the same Reception. Reseeds Sionna's global
        generators (``sionna.phy.config.seed``). An empty payload spends nothing and returns ok.
        """
        import sionna.phy as sp
        import torch

        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
        if not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be a finite number, got {snr_db!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        payload = bytes(payload)
        self.build()
        k = self.payload_bits_per_slot
        bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
        slots = -(-bits.size // k)
        common = dict(snr_db=float(snr_db), ebno_db=self.ebno_db(float(snr_db)))
        if slots == 0:
            return Reception(b"", np.ones(0, bool), 0, 0, 0, 0, 0, 0, **common)
        padded = np.zeros(slots * k, dtype=np.float32)
        padded[: bits.size] = bits
        b = torch.from_numpy(padded).reshape(slots, 1, k).to(self.device)
        sp.config.seed = int(seed)
        no = 10.0 ** (-float(snr_db) / 10.0)
        hats, crcs = [], []
        chunk = self.batch_slots
        for start in range(0, slots, chunk):
            b_hat, crc = self.run_slots(b[start : start + chunk], no)
            hats.append(b_hat)
            crcs.append(crc)
        b_hat = torch.cat(hats).reshape(slots, k).cpu().numpy() > 0.5
        crc_ok = torch.cat(crcs).reshape(slots).cpu().numpy().astype(bool)
        sent = padded.reshape(slots, k) > 0.5
        wrong_block = (b_hat != sent).any(axis=1)
        rx_bits = b_hat.reshape(-1)[: bits.size]
        return Reception(
            payload=np.packbits(rx_bits).tobytes(),
            tb_crc_ok=crc_ok,
            bits=int(bits.size),
            bit_errors=int(np.count_nonzero(rx_bits != bits.astype(bool))),
            blocks=slots,
            block_errors=int(np.count_nonzero(wrong_block | ~crc_ok)),
            slots=slots,
            channel_uses=slots * self.channel_uses_per_slot,
            **common,
        )
