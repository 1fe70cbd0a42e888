"""MTGCConfig: every size, hub id and setting of the MTGC neural models, in one validated place.

Two factory presets: ``MTGCConfig.tiny()`` (random weights, seconds on CPU, for tests) and
``MTGCConfig.reference()`` (Stable Diffusion 2.1-base family, a CLIP ViT-L/14 image tower, a BLIP captioner).
The reasons behind each value are in docs/mtgc-model.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONFIG_FILE = "mtgc_config.json"

# Stable Diffusion 2.1-base component configs (values from its published config.json files), used to build the
# reference-SIZED architecture with random weights (benchmarks) without any download.
SD21_UNET: dict[str, Any] = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    attention_head_dim=(5, 10, 20, 20),
    cross_attention_dim=1024,
    use_linear_projection=True,
    norm_num_groups=32,
)
SD21_VAE: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    sample_size=768,
    scaling_factor=0.18215,
)
# OpenCLIP ViT-H/14 text tower as shipped in SD 2.1 (penultimate layer => 23 layers).
SD21_TEXT: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=23,
    num_attention_heads=16,
    max_position_embeddings=77,
    hidden_act="gelu",
    projection_dim=512,
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=1,
)
# openai/clip-vit-large-patch14 image tower.
CLIP_L14_VISION: dict[str, Any] = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    projection_dim=768,
    hidden_act="quick_gelu",
)


class MTGCConfig(BaseModel):
    """Sizes, ids and settings of the MTGC models. Field names are part of the saved profile format."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    profile: str = Field(description="profile name: 'tiny', 'reference', or a label for a trained folder")
    # --- where the weights come from (hub ids or local folders; subfolders follow the diffusers layout) ---
    base_model_id: str | None = Field(
        None, description="SD-family repo with unet/ vae/ text_encoder/ tokenizer/ scheduler/; None = built"
    )
    vision_encoder_id: str | None = Field(None, description="CLIPVisionModel repo for TASCM; None = built")
    captioner_id: str | None = Field(
        "Salesforce/blip-image-captioning-base",
        description="BLIP/BLIP-2 repo or folder; None = no captioner (captions must be supplied)",
    )
    mtgc_weights: str | None = Field(None, description="folder/repo of fine-tuned ControlNet+TASCM+entropy")
    # --- text / caption ---
    text_max_length: int = Field(77, ge=4, description="tokens the text encoder sees (padded)")
    max_caption_tokens: int = Field(24, ge=1, description="caption length limit for the captioner/coder")
    text_embed_dim: int = Field(
        1024, ge=8, description="width of text-encoder output = cross-attention width"
    )
    # --- SPWs / TASCM ---
    max_spws: int = Field(16, ge=1, le=255)
    default_spws: int = Field(8, ge=0)
    spw_dim: int = Field(32, ge=1, description="coded (bottleneck) width of one pseudo-word before the lift")
    spw_symbol_bound: int = Field(31, ge=1, le=32767, description="quantized symbols are clipped to ±bound")
    tascm_dim: int = Field(512, ge=8)
    tascm_layers: int = Field(4, ge=1)
    tascm_heads: int = Field(8, ge=1)
    vision_image_size: int = Field(224, ge=16, description="input side of the frozen vision encoder")
    # --- image size handling ---
    max_side: int = Field(768, ge=16, description="longer side of the diffusion working resolution")
    size_multiple: int = Field(64, ge=8, description="working size is a multiple of VAE x UNet downsampling")
    # --- diffusion ---
    scheduler: Literal["ddim", "dpmsolver++"] = "dpmsolver++"
    default_steps: int = Field(20, ge=1, le=1000)
    guidance_scale: float = Field(1.0, ge=1.0, description="classifier-free guidance; 1 = off")
    controlnet_scale: float = Field(1.0, ge=0.0)
    hci_init_strength: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="where decoding starts: 1 = pure noise; s < 1 = the HCI's latent (bicubic-upsampled, "
        "VAE-encoded) noised to the level of fraction s of the schedule, then round(s x steps) steps run "
        "(diffusers' img2img convention); used only when the HCI arrived",
    )
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    save_dtype: Literal["float32", "float16"] = Field(
        "float32", description="dtype of the saved UNet/ControlNet/VAE/towers (float16 halves the folder)"
    )
    # --- random builds (tiny profile, reference-sized benchmark) ---
    init_seed: int = 0
    unet: dict[str, Any] = Field(default_factory=lambda: dict(SD21_UNET))
    vae: dict[str, Any] = Field(default_factory=lambda: dict(SD21_VAE))
    text_encoder: dict[str, Any] = Field(default_factory=lambda: dict(SD21_TEXT))
    vision_encoder: dict[str, Any] = Field(default_factory=lambda: dict(CLIP_L14_VISION))
    controlnet_cond_channels: tuple[int, ...] = (16, 32, 96, 256)
    random_zero_convs: bool = Field(
        False, description="non-zero ControlNet output convs (tiny: visible path; compact: faster learning)"
    )
    # --- training ---
    train_size: int = Field(512, ge=16, description="square training crop side")
    train_crop_scale: tuple[float, float] | None = Field(
        None,
        description="resize factor of the source photo before cropping, drawn uniformly from this range "
        "(clipped so the crop fits); None: shorter side = train_size x U(1, 1.5)",
    )
    vae_kl_weight: float = Field(1e-6, ge=0.0, description="KL weight of the autoencoder stage")
    caption_dropout: float = Field(
        0.15, ge=0.0, le=1.0, description="base UNet stage: drop the caption with this probability"
    )
    train_hci_factor: int = Field(16, ge=1, description="default HCI downscale factor used in training")
    rate_lambda: float = Field(0.5, ge=0.0, description="weight of the SPW rate (bits per pixel) in the loss")
    modality_dropout: float = Field(
        0.1, ge=0.0, le=1.0, description="drop each guidance with this probability"
    )

    @model_validator(mode="after")
    def _check(self) -> MTGCConfig:
        if self.default_spws > self.max_spws:
            raise ValueError(f"default_spws={self.default_spws} exceeds max_spws={self.max_spws}")
        if self.max_caption_tokens > self.text_max_length:
            raise ValueError(
                f"max_caption_tokens={self.max_caption_tokens} exceeds text_max_length={self.text_max_length}"
            )
        if self.tascm_dim % self.tascm_heads:
            raise ValueError(f"tascm_dim={self.tascm_dim} is not divisible by tascm_heads={self.tascm_heads}")
        if self.max_side % self.size_multiple:
            raise ValueError(
                f"max_side={self.max_side} is not a multiple of size_multiple={self.size_multiple}"
            )
        return self

    # ------------------------------------------------------------------ presets
    @classmethod
    def reference(cls, **overrides: Any) -> MTGCConfig:
        """SD 2.1-base + CLIP ViT-L/14 + BLIP. Ids can be replaced by local folders (overrides or env)."""
        values: dict[str, Any] = dict(
            profile="reference",
            base_model_id="stabilityai/stable-diffusion-2-1-base",
            vision_encoder_id="openai/clip-vit-large-patch14",
            captioner_id="Salesforce/blip-image-captioning-base",
            mtgc_weights=None,
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def tiny(cls, **overrides: Any) -> MTGCConfig:
        """The same classes with tiny sizes: a 256x256 encode+generate takes seconds on one CPU core."""
        values: dict[str, Any] = dict(
            profile="tiny",
            captioner_id=None,  # self-contained and offline: tiny never fetches a real captioner
            text_max_length=32,
            max_caption_tokens=24,
            text_embed_dim=32,
            max_spws=8,
            default_spws=4,
            spw_dim=8,
            tascm_dim=32,
            tascm_layers=2,
            tascm_heads=4,
            vision_image_size=64,
            max_side=256,
            size_multiple=16,
            scheduler="dpmsolver++",
            default_steps=4,
            unet=dict(
                sample_size=32,
                in_channels=4,
                out_channels=4,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                block_out_channels=(32, 64),
                layers_per_block=1,
                attention_head_dim=8,
                cross_attention_dim=32,
                norm_num_groups=8,
            ),
            vae=dict(
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(8, 8, 16, 16),
                layers_per_block=1,
                latent_channels=4,
                norm_num_groups=8,
                sample_size=256,
                scaling_factor=0.18215,
            ),
            text_encoder=dict(
                vocab_size=259,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=32,
                projection_dim=32,
                bos_token_id=256,
                eos_token_id=257,
                pad_token_id=258,
            ),
            vision_encoder=dict(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=64,
                patch_size=8,
                projection_dim=32,
            ),
            controlnet_cond_channels=(8, 8, 16, 16),
            random_zero_convs=True,
            train_size=64,
            train_hci_factor=8,
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def compact(cls, **overrides: Any) -> MTGCConfig:
        """Small enough to train from scratch on a 2-core CPU (docs/mtgc-compact.md gives every reason):
        f=8 autoencoder, 5.6M-parameter UNet, byte-level text encoder, 64 px vision tower."""
        text = 128
        values: dict[str, Any] = dict(
            profile="compact",
            captioner_id=None,  # no captioner can be trained here: captions come from the user or a file
            text_max_length=88,  # byte tokens + <bos>/<eos>: the longest training caption (81 B) fits
            max_caption_tokens=86,
            text_embed_dim=text,
            max_spws=8,
            default_spws=4,
            spw_dim=8,
            spw_symbol_bound=31,
            tascm_dim=128,
            tascm_layers=2,
            tascm_heads=4,
            vision_image_size=64,
            max_side=768,
            size_multiple=32,  # VAE x8, UNet x4
            scheduler="dpmsolver++",
            default_steps=8,
            hci_init_strength=0.5,  # chosen on BSDS500 val (experiments/mtgc_compact/tune_init_strength.py)
            prediction_type="v_prediction",
            save_dtype="float16",
            unet=dict(
                sample_size=64,
                in_channels=4,
                out_channels=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                block_out_channels=(64, 96, 128),
                layers_per_block=1,
                attention_head_dim=4,
                cross_attention_dim=text,
                norm_num_groups=16,
            ),
            vae=dict(
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(16, 32, 64, 128),
                layers_per_block=1,
                latent_channels=4,
                # 4 channels per group at the 16-channel full-resolution level: with one channel per group
                # the last GroupNorm removes each image's mean colour (measured: stuck near 17 dB)
                norm_num_groups=4,
                mid_block_add_attention=False,  # 6144 tokens at 768x512: too slow on a CPU
                sample_size=128,
                scaling_factor=1.0,  # set from the trained encoder's latent std by the autoencoder stage
            ),
            text_encoder=dict(
                vocab_size=259,
                hidden_size=text,
                intermediate_size=4 * text,
                num_hidden_layers=3,
                num_attention_heads=4,
                max_position_embeddings=88,
                projection_dim=text,
                bos_token_id=256,
                eos_token_id=257,
                pad_token_id=258,
            ),
            vision_encoder=dict(
                hidden_size=128,
                intermediate_size=512,
                num_hidden_layers=3,
                num_attention_heads=4,
                image_size=64,
                patch_size=8,
                projection_dim=text,
            ),
            controlnet_cond_channels=(16, 32, 64, 128),
            # ControlNet's output convs start random, not zero: with zero convs 400 CPU steps left the HCI
            # unused (validation loss 0.366 -> 0.352, decodes ignored the HCI); the budget here is ~1000 steps
            random_zero_convs=True,
            train_size=128,
            train_crop_scale=(0.4, 1.0),
            train_hci_factor=8,
            rate_lambda=0.5,
            modality_dropout=0.1,
        )
        values.update(overrides)
        return cls(**values)

    # ------------------------------------------------------------------ io
    def save(self, folder: str | Path, **extra: Any) -> Path:
        path = Path(folder) / CONFIG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"config": self.model_dump(mode="json"), **extra}, indent=2))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> tuple[MTGCConfig, dict[str, Any]]:
        """Read ``folder/mtgc_config.json``; returns the config and the extra keys saved beside it."""
        raw = json.loads((Path(folder) / CONFIG_FILE).read_text())
        return cls(**raw.pop("config")), raw
