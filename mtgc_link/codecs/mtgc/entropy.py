"""SPW quantization and entropy coding: scalar quantization + a learned factorized Laplace prior.

Each coded SPW value y (one of K x spw_dim) is rounded to an integer symbol, clipped to ±``bound``, and coded
with constriction's range coder under a zero-mean Laplace prior whose scale is learned per (query index,
dimension). The step size is 1: the TASCM output projection in front of it learns any scale, so a separate
learned step would be redundant. Training uses additive uniform noise for a differentiable rate (Ballé et al.)
and a straight-through rounding for the decoder path; the rate is the same discretized Laplace that the coder
uses, so training bits and real bytes agree closely (the real bytes are what count).
"""

from __future__ import annotations

import math

import constriction
import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

MIN_SCALE = 0.11  # below this, a symbol other than 0 costs > 12 bits; keeps the coder's model well-behaved


class SPWDecodeError(ValueError):
    """The SPW segment cannot be decoded (corrupted or truncated bytes, or a k that does not fit)."""


class SPWEntropyModel(ModelMixin, ConfigMixin):
    """Factorized Laplace prior over quantized SPW symbols, coded with constriction.

    Args:
        max_spws, spw_dim: shape of the symbol grid per image.
        bound: symbols are clipped to [-bound, bound] (the coder's alphabet).
    """

    @register_to_config
    def __init__(self, max_spws: int, spw_dim: int, bound: int = 31) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((max_spws, spw_dim), math.log(2.0)))

    def scales(self, k: int) -> torch.Tensor:
        """Laplace scales of the first k pseudo-words: [k, spw_dim], >= MIN_SCALE."""
        return self.log_scale[:k].exp().clamp_min(MIN_SCALE)

    # ------------------------------------------------------------------ training
    def quantize(self, y: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize codes and measure their rate.

        Input: ``y`` [B, k, spw_dim] continuous. Output: (y_hat [B, k, spw_dim], bits [B]).
        training=True: y_hat = round(y) with straight-through gradients; rate from y + U(-0.5, 0.5).
        training=False: y_hat = round(y) clipped; rate = exact -log2 of the discretized prior.
        """
        bound = self.config.bound
        k = y.shape[1]
        scale = self.scales(k).to(y.dtype)
        y = y.clamp(-bound, bound)
        if training:
            y_rate = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_hat = y + (torch.round(y) - y).detach()
        else:
            y_hat = y_rate = torch.round(y)
        bits = self._bits(y_rate, scale).flatten(1).sum(1)
        return y_hat, bits

    @staticmethod
    def _bits(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """-log2 P(v) under Laplace(0, scale) integrated over [v - 0.5, v + 0.5]."""
        upper, lower = _laplace_cdf(v + 0.5, scale), _laplace_cdf(v - 0.5, scale)
        return -torch.log2((upper - lower).clamp_min(1e-9))

    # ------------------------------------------------------------------ coding
    def _model(self) -> constriction.stream.model.QuantizedLaplace:
        bound = self.config.bound
        return constriction.stream.model.QuantizedLaplace(-bound, bound)

    def _scales_np(self, k: int) -> np.ndarray:
        return self.scales(k).detach().to("cpu", torch.float64).numpy().reshape(-1)

    @torch.no_grad()
    def encode(self, symbols: torch.Tensor) -> bytes:
        """Range-code integer symbols [k, spw_dim] (already in ±bound) to bytes."""
        k = symbols.shape[0]
        if k == 0:
            return b""
        sym = symbols.detach().to("cpu", torch.int64).numpy().reshape(-1)
        if np.abs(sym).max(initial=0) > self.config.bound:
            raise ValueError(f"symbols exceed ±bound={self.config.bound}")
        scales = self._scales_np(k)
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(sym.astype(np.int32), self._model(), np.zeros_like(scales), scales)
        # Trailing zero bytes carry nothing: the decoder pads with zeros to whole 32-bit words again.
        return enc.get_compressed().astype("<u4").tobytes().rstrip(b"\0")

    @torch.no_grad()
    def decode(self, data: bytes, k: int) -> torch.Tensor:
        """Bytes -> integer symbols [k, spw_dim] (int64). Raises SPWDecodeError on data that cannot be valid.

        Every loop is bounded by k x spw_dim symbols; a range decoder reading random bytes still returns
        symbols in range, so corruption shows up as garbage values or as leftover data (detected).
        """
        if not 0 <= k <= self.config.max_spws:
            raise SPWDecodeError(f"k={k} is outside 0..max_spws={self.config.max_spws}")
        dim = self.config.spw_dim
        if k == 0:
            if data:
                raise SPWDecodeError(f"k=0 but the SPW segment holds {len(data)} bytes")
            return torch.zeros(0, dim, dtype=torch.int64)
        if not data:
            raise SPWDecodeError("empty SPW segment")
        if data.endswith(b"\0"):
            raise SPWDecodeError("SPW segment ends with a zero byte (the encoder strips those)")
        padded = data + b"\0" * (-len(data) % 4)
        words = np.frombuffer(padded, dtype="<u4").astype(np.uint32)
        scales = self._scales_np(k)
        try:
            dec = constriction.stream.queue.RangeDecoder(words)
            sym = dec.decode(self._model(), np.zeros_like(scales), scales)
            exhausted = dec.maybe_exhausted()
        except Exception as exc:  # constriction raises several types on invalid streams
            raise SPWDecodeError(f"range decoder rejected the SPW segment: {exc}") from exc
        if not exhausted:
            raise SPWDecodeError("SPW segment has data left after k pseudo-words (corrupted or wrong k)")
        sym = np.asarray(sym, dtype=np.int64)
        if sym.shape != (k * dim,) or np.abs(sym).max(initial=0) > self.config.bound:
            raise SPWDecodeError("decoded SPW symbols are out of range")
        return torch.from_numpy(sym.reshape(k, dim))


def _laplace_cdf(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / scale))
