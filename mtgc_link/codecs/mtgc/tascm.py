"""TASCM: the Task-Aware Semantic Compression Module that makes K Semantic Pseudo-Words (SPWs).

Frozen vision-encoder tokens + K learnable query tokens go through multi-head self-attention layers; the K
query outputs are the pseudo-words. They leave the encoder as a narrow code (``spw_dim`` wide, quantized and
entropy-coded by ``entropy.SPWEntropyModel``) and are lifted at the decoder to the text encoder's embedding
width, where they join the caption tokens in the cross-attention context of the diffusion decoder.
Trained by the denoising loss of the decoder plus lambda x rate, so attention keeps what helps generation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# CLIP image normalisation (same constants for the OpenAI and tiny towers).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def vision_pixels(images: torch.Tensor, side: int) -> torch.Tensor:
    """Resize and normalise images for a CLIP vision tower.

    Input: ``images`` [B, 3, H, W] float in [0, 1]. Output: [B, 3, side, side], CLIP-normalised.
    The whole image is squeezed to a square (no centre crop): SPWs must describe all of it.
    """
    x = F.interpolate(images, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
    mean = torch.tensor(CLIP_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x.clamp(0, 1) - mean) / std


class TASCM(ModelMixin, ConfigMixin):
    """Queries + self-attention over [queries; image tokens] -> K coded pseudo-words; ``lift`` at the decoder.

    Args:
        vision_dim: width of the frozen vision encoder's tokens.
        max_spws: number of learnable queries (K <= max_spws at run time; the first K are used).
        dim, layers, heads: width, depth and heads of the self-attention stack.
        spw_dim: coded width of one pseudo-word (the bottleneck that is quantized).
        text_embed_dim: width of the cross-attention context the lifted pseudo-words live in.
    """

    @register_to_config
    def __init__(
        self,
        vision_dim: int,
        max_spws: int,
        dim: int,
        layers: int,
        heads: int,
        spw_dim: int,
        text_embed_dim: int,
    ) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(max_spws, dim) * 0.02)
        self.in_proj = nn.Sequential(nn.LayerNorm(vision_dim), nn.Linear(vision_dim, dim))
        # Type embeddings tell queries from image tokens (image tokens carry CLIP positions already).
        self.type_embed = nn.Parameter(torch.zeros(2, dim))
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=4 * dim,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.attention = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(dim)
        self.to_code = nn.Linear(dim, spw_dim)
        self.lift = nn.Sequential(
            nn.Linear(spw_dim, text_embed_dim), nn.GELU(), nn.Linear(text_embed_dim, text_embed_dim)
        )

    def forward(self, vision_tokens: torch.Tensor, k: int) -> torch.Tensor:
        """Continuous codes of K pseudo-words.

        Input: ``vision_tokens`` [B, N, vision_dim]. Output: [B, k, spw_dim] (unquantized).
        """
        if not 1 <= k <= self.config.max_spws:
            raise ValueError(f"k={k} must be in 1..max_spws={self.config.max_spws}")
        b = vision_tokens.shape[0]
        q = (self.queries[:k] + self.type_embed[0]).unsqueeze(0).expand(b, -1, -1)
        img = self.in_proj(vision_tokens) + self.type_embed[1]
        out = self.attention(torch.cat([q, img], dim=1))[:, :k]
        return self.to_code(self.out_norm(out))

    def lift_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Decoder side: [..., spw_dim] (dequantized symbols) -> [..., text_embed_dim] pseudo-word tokens."""
        return self.lift(codes)
