"""MGDD: the Multimodal-Guided Diffusion Decoder, one self-contained denoising loop (diffusers style).

Dual-path guidance:
  path 1 (additive residuals): the HCI, upsampled to the working size, is the ControlNet condition; the
         ControlNet's down/mid residuals are added to the UNet's skip connections.
  path 2 (cross-attention):    the context of UNet and ControlNet = caption token embeddings (CLIP text
         encoder output, padded to ``text_max_length``) followed by the K lifted SPW tokens.
Every guidance may be missing: no caption -> the empty prompt's embeddings, no SPWs -> caption tokens only,
no HCI -> the ControlNet is skipped. The output is a pure function of the inputs and ``seed`` (initial
noise drawn on the CPU from ``torch.Generator().manual_seed(seed)``, deterministic samplers), so decode
caches hold.

Imports point one way: ``profiles`` (``MTGCModels``) imports this module and forwards
``MTGCModels.generate`` here; this module names ``MTGCModels`` for type checkers only. diffusers' schedulers
are imported when a scheduler is built (``make_scheduler``), not when this module is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from mtgc_link.codecs.mtgc.config import MTGCConfig
from mtgc_link.images import check_image, to_tensor

if TYPE_CHECKING:
    from mtgc_link.codecs.mtgc.profiles import MTGCModels


def working_size(size: tuple[int, int], cfg: MTGCConfig) -> tuple[int, int]:
    """The diffusion resolution for an output ``size`` = (H, W): longer side <= max_side, multiples of
    ``size_multiple`` (VAE x UNet downsampling), aspect ratio kept as closely as that allows."""
    h, w = size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    scale = min(1.0, cfg.max_side / max(h, w))
    m = cfg.size_multiple
    return max(m, round(h * scale / m) * m), max(m, round(w * scale / m) * m)


def make_scheduler(cfg: MTGCConfig, base_config: dict[str, Any] | None = None):
    """A fresh scheduler (schedulers hold per-run state); ``base_config``: the base model's, if any."""
    settings: dict[str, Any] = dict(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        beta_start=cfg.beta_start,
        beta_end=cfg.beta_end,
        prediction_type=cfg.prediction_type,
    )
    if base_config:
        settings.update({k: v for k, v in base_config.items() if k in settings})
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    if cfg.scheduler == "ddim":
        return DDIMScheduler(**settings, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return DPMSolverMultistepScheduler(**settings, algorithm_type="dpmsolver++", solver_order=2)


def hci_condition(hci: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample HCIs [B, 3, h, w] in [0, 1] to the working size [B, 3, H, W] (bicubic, clamped to [0, 1])."""
    if tuple(hci.shape[-2:]) == tuple(size):
        return hci
    return F.interpolate(hci, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def token_ids(models: MTGCModels, captions: list[str | None]) -> torch.Tensor:
    """Captions -> padded token ids [B, text_max_length] on the models' device; None = the empty prompt."""
    return models.tokenizer(
        [c or "" for c in captions],
        padding="max_length",
        max_length=models.config.text_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(models.device)


def encode_text(models: MTGCModels, captions: list[str | None]) -> torch.Tensor:
    """Captions -> token embeddings [B, text_max_length, text_embed_dim]; None means the empty prompt."""
    ids = token_ids(models, captions)
    with torch.no_grad():
        return models.text_encoder(ids).last_hidden_state.to(models.dtype)


def build_context(text: torch.Tensor, spw_tokens: torch.Tensor | None) -> torch.Tensor:
    """Path 2: [B, L, D] caption tokens followed by [B, k, D] pseudo-word tokens -> [B, L + k, D]."""
    if spw_tokens is None or spw_tokens.shape[1] == 0:
        return text
    if spw_tokens.shape[-1] != text.shape[-1]:
        raise ValueError(f"spws width {spw_tokens.shape[-1]} != text embedding width {text.shape[-1]}")
    return torch.cat([text, spw_tokens.to(text.dtype)], dim=1)


def predict_noise(
    models: MTGCModels, latents: torch.Tensor, t, context: torch.Tensor, cond: torch.Tensor | None
) -> torch.Tensor:
    """One UNet evaluation with both guidance paths. ``cond``: ControlNet condition [B, 3, H, W] or None."""
    down = mid = None
    if cond is not None:
        down, mid = models.controlnet(
            latents,
            t,
            encoder_hidden_states=context,
            controlnet_cond=cond,
            conditioning_scale=models.config.controlnet_scale,
            return_dict=False,
        )
    return models.unet(
        latents,
        t,
        encoder_hidden_states=context,
        down_block_additional_residuals=down,
        mid_block_additional_residual=mid,
        return_dict=False,
    )[0]


@torch.no_grad()
def generate(
    models: MTGCModels,
    *,
    size: tuple[int, int],
    seed: int,
    caption: str | None,
    spws: torch.Tensor | None,
    hci: np.ndarray | None,
    steps: int | None = None,
) -> np.ndarray:
    """Reconstruct an image from its guidance.

    Inputs: ``size`` (H, W) of the output; ``seed`` of the initial noise; ``caption`` text or None;
    ``spws`` [k, text_embed_dim] lifted pseudo-words or None; ``hci`` uint8 (h, w, 3) or None; ``steps``
    (default ``config.default_steps``). Output: uint8 (H, W, 3). Malformed guidance raises ValueError.
    ``MTGCModels.generate(**kwargs)`` is this function with ``models`` bound.
    """
    cfg = models.config
    steps = cfg.default_steps if steps is None else int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    hw = working_size(size, cfg)
    dev, dt = models.device, models.dtype

    if caption is not None and not isinstance(caption, str):
        raise ValueError(f"caption must be a str or None, got {type(caption).__name__}")
    if spws is not None and (spws.ndim != 2 or spws.shape[-1] != cfg.text_embed_dim):
        raise ValueError(f"spws must be [k, {cfg.text_embed_dim}], got {tuple(spws.shape)}")
    text = encode_text(models, [caption])
    spw_tokens = None if spws is None else spws.to(dev)[None]
    context = build_context(text, spw_tokens)
    cond = None
    if hci is not None:
        try:
            hci = check_image(hci, "hci")
        except TypeError as exc:  # every malformed guidance is a ValueError here (a wrong dtype included)
            raise ValueError(str(exc)) from None
        cond = hci_condition(to_tensor(hci), hw).to(dev, dt)
    uncond = encode_text(models, [None]) if cfg.guidance_scale > 1.0 else None

    scheduler = make_scheduler(cfg, models.scheduler_config)
    scheduler.set_timesteps(steps, device=dev)
    factor = 2 ** (len(models.vae.config.block_out_channels) - 1)
    shape = (1, models.vae.config.latent_channels, hw[0] // factor, hw[1] // factor)
    gen = torch.Generator("cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    noise = torch.randn(shape, generator=gen, dtype=torch.float32).to(dev, dt)
    timesteps = scheduler.timesteps
    if cond is not None and cfg.hci_init_strength < 1.0:
        # Start from the HCI: its latent noised to the level of the first step kept (img2img).
        run = max(1, min(steps, round(steps * cfg.hci_init_strength)))
        begin = (steps - run) * scheduler.order
        timesteps = timesteps[begin:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(begin)
        init = encode_latents(models, cond)
        latents = scheduler.add_noise(init, noise, timesteps[:1])
    else:
        latents = noise * scheduler.init_noise_sigma

    for t in timesteps:
        x = scheduler.scale_model_input(latents, t)
        eps = predict_noise(models, x, t, context, cond)
        if uncond is not None:  # classifier-free guidance against the empty prompt (HCI kept)
            eps_u = predict_noise(models, x, t, uncond, cond)
            eps = eps_u + cfg.guidance_scale * (eps - eps_u)
        latents = scheduler.step(eps, t, latents, return_dict=False)[0]

    image = models.vae.decode(latents / models.vae.config.scaling_factor, return_dict=False)[0]
    image = (
        ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
    )
    if image.shape[:2] != tuple(size):
        from PIL import Image

        image = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BICUBIC))
    return np.ascontiguousarray(image)


def encode_latents(models: MTGCModels, images: torch.Tensor) -> torch.Tensor:
    """Training: images [B, 3, H, W] in [0, 1] -> scaled VAE latents (posterior mean, deterministic)."""
    with torch.no_grad():
        dist = models.vae.encode(images.to(models.device, models.dtype) * 2 - 1).latent_dist
        return dist.mean * models.vae.config.scaling_factor


def denoising_loss(
    models: MTGCModels,
    latents: torch.Tensor,
    context: torch.Tensor,
    cond: torch.Tensor | None,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    scheduler,
) -> torch.Tensor:
    """Per-sample MSE between the target (noise or v) and the prediction: [B].

    The forward process is written out (x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, a_t = alphas_cumprod[t])
    instead of ``scheduler.add_noise``: DPMSolverMultistepScheduler.add_noise looks t up in its inference
    timesteps, which before ``set_timesteps`` run from 999 down to 0, so it noised every sample at the level
    of 999 - t (tests/test_mtgc_models.py checks the levels)."""
    a = scheduler.alphas_cumprod.to(latents.device)[timesteps].float().view(-1, 1, 1, 1)
    noisy = (a.sqrt() * latents.float() + (1 - a).sqrt() * noise.float()).to(latents.dtype)
    pred = predict_noise(models, noisy, timesteps, context, cond)
    if models.config.prediction_type == "epsilon":
        target = noise
    else:  # v = sqrt(a) * noise - sqrt(1 - a) * x0 (not every scheduler has get_velocity)
        target = a.sqrt() * noise - (1 - a).sqrt() * latents
    return F.mse_loss(pred.float(), target.float(), reduction="none").flatten(1).mean(1)
