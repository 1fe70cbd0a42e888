"""MTGC training, stage by stage (accelerate: one script for CPU, one GPU or many).

Base stages (what the ``reference`` profile takes pretrained; ``compact`` trains them from scratch here):
  vae      the autoencoder (AutoencoderKL): L1 + MSE reconstruction + a small KL; sets the latent scaling.
  clip     the text encoder (over the byte tokenizer) and the vision tower TASCM reads: a CLIP-style
           contrastive loss on (image, caption) pairs, with projection heads kept only in the checkpoint.
  unet     the base UNet as a text-conditioned denoiser (captions dropped with ``caption_dropout``).
MTGC stages (as for ``reference``):
  1 controlnet   ControlNet on the HCI (+ caption); UNet, VAE, text encoder frozen; denoising loss.
  2 tascm        TASCM + entropy model; denoising loss through the frozen UNet + ControlNet + lambda x rate.
  3 joint        ControlNet + TASCM + entropy model, same loss as stage 2.
Each stage starts from a profile (``vae``: a preset's random init, 'tiny' or 'compact'; ``controlnet``:
'reference', 'tiny' or the base stages' folder; others: the previous stage's output folder) and writes a
profile folder (``save_profile``) plus ``checkpoint/`` (exact resume) and ``log.jsonl``.

Rate term: bits of the SPWs per pixel of the training crop. Per-step randomness (crop, K, HCI setting,
modality dropout, noise, timesteps) is drawn from generators seeded by (seed, step), so a resumed run repeats
exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from mtgc_link.codecs.mtgc import mgdd
from mtgc_link.codecs.mtgc.config import MTGCConfig
from mtgc_link.codecs.mtgc.profiles import MTGCModels, build_random, load_profile, save_profile
from mtgc_link.codecs.mtgc.tascm import vision_pixels
from mtgc_link.images import IMAGE_SUFFIXES, is_image_file, to_tensor

# stage -> the parts it trains (everything else is frozen)
STAGES: dict[str, tuple[str, ...]] = {
    "vae": ("vae",),
    "clip": ("text_encoder", "vision_encoder"),
    "unet": ("unet",),
    "controlnet": ("controlnet",),
    "tascm": ("tascm", "entropy"),
    "joint": ("controlnet", "tascm", "entropy"),
}
BASE_STAGES = ("vae", "clip", "unet")
STAGE_NUMBERS = {"controlnet": 1, "tascm": 2, "joint": 3}  # the numbers of the original three stages
PRESETS: dict[str, Callable[..., MTGCConfig]] = {"tiny": MTGCConfig.tiny, "compact": MTGCConfig.compact}


def stage_label(stage: str) -> str:
    return f"{STAGE_NUMBERS[stage]} ({stage})" if stage in STAGE_NUMBERS else stage


class TrainError(RuntimeError):
    """Training cannot start (bad data folder, missing captions, stage/profile mismatch); says why."""


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(description="vae | clip | unet | controlnet (1) | tascm (2) | joint (3)")
    data: list[Path] = Field(description="image folder(s), searched recursively")
    out: Path
    profile: str = "tiny"
    captions: Path | None = None
    val_data: Path | None = Field(None, description="held-out folder: its fixed-batch loss is logged")
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(1e-5, gt=0)
    seed: int = 0
    save_every: int = Field(500, ge=1)
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(100, ge=1, description="steps between validation losses (with val_data)")
    resume: bool = False
    mixed_precision: str = Field("no", pattern="^(no|fp16|bf16)$")
    device: str | None = None
    rate_lambda: float | None = Field(None, ge=0, description="override of config.rate_lambda")
    modality_dropout: float | None = Field(None, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0)
    lr_schedule: str = Field("constant", pattern="^(constant|cosine)$", description="cosine: to lr/10")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from 0")
    crop_size: int | None = Field(
        None, ge=16, description="square crop side for this stage; None: the profile's train_size"
    )

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_name(cls, v: Any) -> str:
        names = {str(n): s for s, n in STAGE_NUMBERS.items()}
        v = names.get(str(v), str(v))
        if v not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(map(stage_label, STAGES))}, got {v!r}")
        return v

    @field_validator("data", mode="before")
    @classmethod
    def _data_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str | Path) else v


# ---------------------------------------------------------------------- data
def list_images(folders: Path | list[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in [folders] if isinstance(folders, str | Path) else folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise TrainError(f"data={str(folder)!r} is not a folder")
        found = sorted(p for p in folder.rglob("*") if is_image_file(p))
        if not found:
            raise TrainError(f"data={str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += found
    return files


def load_captions(
    files: list[Path], captions: Path | None, cache: Path, captioner_id: str | None, max_tokens: int
) -> dict[str, str]:
    """Captions keyed by file stem: from ``captions`` (JSON {stem or file name: text}), else from the cache,
    else made once with the captioner and cached. Without both, a TrainError says what to pass."""
    if captions is not None:
        raw = json.loads(Path(captions).read_text())
        table = {Path(k).stem: str(v) for k, v in raw.items()}
        missing = [p.name for p in files if p.stem not in table]
        if missing:
            raise TrainError(f"captions={str(captions)!r} lacks {len(missing)} images, e.g. {missing[:3]}")
        return table
    if cache.is_file():
        table = json.loads(cache.read_text())
        if all(p.stem in table for p in files):
            return table
    if captioner_id is None:
        raise TrainError("no captions file given and this profile has no captioner; pass --captions FILE")
    try:
        from mtgc_link.codecs.mtgc.caption import Captioner, CaptionerUnavailable
    except ImportError as exc:
        raise TrainError(f"no captions file given and no captioner module ({exc}); pass --captions") from exc
    try:
        captioner = Captioner(captioner_id, max_tokens).load()
    except CaptionerUnavailable as exc:
        raise TrainError(
            f"no captions file given and {exc}; pass --captions FILE (JSON {{stem: text}})"
        ) from exc
    table = {p.stem: captioner.caption(_read(p)) for p in files}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(table, indent=1))
    return table


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def random_crop(
    image: np.ndarray, side: int, rng: np.random.Generator, scale_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Resize, then take a random square crop of ``side``. The resize factor is U(``scale_range``) (clipped
    so that the crop fits), or, without a range, makes the shorter side ``side`` x U(1, 1.5)."""
    h, w = image.shape[:2]
    if scale_range is None:
        scale = side * rng.uniform(1.0, 1.5) / min(h, w)
    else:
        lo = max(scale_range[0], side / min(h, w))
        scale = rng.uniform(lo, max(lo, scale_range[1]))
    nh, nw = max(side, round(h * scale)), max(side, round(w * scale))
    image = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BICUBIC))
    y, x = rng.integers(0, nh - side + 1), rng.integers(0, nw - side + 1)
    return np.ascontiguousarray(image[y : y + side, x : x + side])


# ---------------------------------------------------------------------- HCI as the codec sends it
HciFn = Callable[[np.ndarray, int, "int | None"], np.ndarray]


def bicubic_hci(image: np.ndarray, scale: int, q: int | None = None) -> np.ndarray:
    """Fallback HCI (no coding): bicubic downscale by ``scale``; ``q`` ignored."""
    h, w = -(-image.shape[0] // scale), -(-image.shape[1] // scale)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BICUBIC))


def codec_hci() -> tuple[HciFn, list[tuple[int, int | None]]]:
    """The codec's own HCI (``hci.make_hci``: downscale + BPG at QP q, decoded) and the (scale, q) settings of
    its rate ladder; falls back to ``bicubic_hci`` at ``train_hci_factor`` when the codec side is absent."""
    try:
        from mtgc_link.codecs.mtgc.hci import make_hci
        from mtgc_link.codecs.mtgc.ratecontrol import LADDER
    except ImportError:
        return bicubic_hci, []
    settings = sorted({(r.hci_scale, r.hci_q) for r in LADDER if r.hci_scale is not None})
    return make_hci, settings


# ---------------------------------------------------------------------- trainable step modules
class SPWPath(nn.Module):
    """TASCM -> quantization (noise for the rate, straight-through rounding) -> lift, as one module so that
    accelerate/DDP sees a single forward. Output: (tokens [B, k, text_embed_dim], bits [B])."""

    def __init__(self, tascm: nn.Module, entropy: nn.Module) -> None:
        super().__init__()
        self.tascm, self.entropy = tascm, entropy

    def forward(self, vision_tokens: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.tascm(vision_tokens, k)
        y_hat, bits = self.entropy.quantize(codes, training=self.training)
        return self.tascm.lift_codes(y_hat), bits


class AutoencoderStep(nn.Module):
    """Stage ``vae``: encode, sample the posterior with the batch's noise, decode.

    Input: images [B, 3, H, W] in [0, 1], noise [B, C, H/f, W/f]. Output: loss parts (loss, l1, kl, psnr).
    """

    def __init__(self, vae: nn.Module, kl_weight: float) -> None:
        super().__init__()
        self.vae, self.kl_weight = vae, kl_weight

    def forward(self, images: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images * 2 - 1
        post = self.vae.encode(x).latent_dist
        # The posterior mean, not a sample: at init the posterior std is ~1 and its noise would swamp the
        # small latents for most of a short run (measured: 16 dB after 300 steps vs 21 dB with the mean);
        # the KL term still keeps the latents' scale in check.
        z = post.mean
        rec = self.vae.decode(z).sample
        l1, mse = (rec - x).abs().mean(), ((rec.clamp(-1, 1) - x) ** 2).mean()
        kl = post.kl().mean()
        psnr = 10 * torch.log10(4.0 / mse.clamp_min(1e-10))  # x in [-1, 1]: peak-to-peak 2
        return dict(loss=l1 + mse + self.kl_weight * kl, l1=l1, kl=kl, psnr=psnr)


class ContrastiveStep(nn.Module):
    """Stage ``clip``: symmetric InfoNCE between pooled caption and image embeddings (CLIP's loss).

    Input: pixels [B, 3, s, s] (CLIP-normalised), caption ids [B, L]. Output: loss parts (loss, acc).
    """

    def __init__(self, text_encoder: nn.Module, vision_encoder: nn.Module, dim: int) -> None:
        super().__init__()
        self.text_encoder, self.vision_encoder = text_encoder, vision_encoder
        self.heads = nn.ModuleDict(
            {
                "text": nn.Linear(text_encoder.config.hidden_size, dim, bias=False),
                "vision": nn.Linear(vision_encoder.config.hidden_size, dim, bias=False),
            }
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        t = F.normalize(self.heads["text"](self.text_encoder(ids).pooler_output), dim=-1)
        v = F.normalize(self.heads["vision"](self.vision_encoder(pixel_values=pixels).pooler_output), dim=-1)
        logits = v @ t.T * self.logit_scale.clamp(max=math.log(100)).exp()
        target = torch.arange(len(ids), device=ids.device)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        acc = (logits.argmax(1) == target).float().mean()
        return dict(loss=loss, acc=acc)


# ---------------------------------------------------------------------- trainer
class Trainer:
    """Runs one stage. ``models`` / ``hci_fn`` / ``captions`` can be injected (tests); otherwise loaded."""

    def __init__(
        self,
        settings: TrainSettings,
        models: MTGCModels | None = None,
        hci_fn: HciFn | None = None,
        hci_settings: list[tuple[int, int | None]] | None = None,
        captions: dict[str, str] | None = None,
    ) -> None:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        self.s = s = settings
        self.accelerator = Accelerator(
            mixed_precision=settings.mixed_precision,
            cpu=settings.device == "cpu",
            # a batch whose SPWs are dropped leaves TASCM unused in that step
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        if models is None:
            if s.stage == "vae" and s.profile in PRESETS:  # from scratch: the preset's random init
                models = build_random(PRESETS[s.profile](), device=self.accelerator.device)
            else:
                models = load_profile(
                    s.profile,
                    device=self.accelerator.device,
                    allow_untrained=s.stage in (*BASE_STAGES, "controlnet"),
                )
        self.models = models
        if s.stage in ("tascm", "joint") and not models.trained:
            self.accelerator.print("note: later stage on an untrained ControlNet (expected only in tests)")
        cfg = models.config
        self.rate_lambda = cfg.rate_lambda if s.rate_lambda is None else s.rate_lambda
        self.dropout = cfg.modality_dropout if s.modality_dropout is None else s.modality_dropout
        self.files = list_images(s.data)
        self.val_files = list_images(s.val_data) if s.val_data is not None else []
        needs_text = s.stage != "vae"
        self.captions = captions or (
            load_captions(
                self.files + self.val_files,
                s.captions,
                s.out / "captions.json",
                cfg.captioner_id,
                cfg.max_caption_tokens,
            )
            if needs_text
            else {}
        )
        if hci_fn is None:
            hci_fn, default_settings = codec_hci()
            hci_settings = hci_settings or default_settings
        self.hci_fn = hci_fn
        self.hci_settings = hci_settings or [(cfg.train_hci_factor, None)]
        self.scheduler = mgdd.make_scheduler(cfg, models.scheduler_config)
        self.scheduler.alphas_cumprod = self.scheduler.alphas_cumprod.to(models.device)
        self._images: dict[Path, np.ndarray] = {}  # decoded training photos (400 BSDS photos: ~190 MB)

        names = STAGES[s.stage]
        self.trainable: dict[str, nn.Module] = {n: getattr(models, n) for n in names}
        for m in self.trainable.values():
            m.float().train().requires_grad_(True)
        # The module each stage's forward runs through (prepared by accelerate: DDP on several GPUs).
        self.spw_path = SPWPath(models.tascm, models.entropy)
        step_module: nn.Module | None = None
        if s.stage == "vae":
            step_module = AutoencoderStep(models.vae, cfg.vae_kl_weight)
        elif s.stage == "clip":
            with torch.random.fork_rng(devices=[]):  # the heads' init is part of the run: seed it
                torch.manual_seed(s.seed)
                step_module = ContrastiveStep(models.text_encoder, models.vision_encoder, cfg.text_embed_dim)
            self.trainable["clip_heads"] = step_module  # its heads live only in the checkpoint
        elif s.stage == "unet":
            step_module = models.unet
        params = list({id(p): p for m in self.trainable.values() for p in m.parameters()}.values())
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.0)
        wrapped = [step_module] if step_module is not None else []
        wrapped += [models.controlnet] if "controlnet" in names else []
        wrapped += [self.spw_path] if "tascm" in names else []
        *wrapped, self.optimizer = self.accelerator.prepare(*wrapped, self.optimizer)
        self.step_module = wrapped.pop(0) if step_module is not None else None
        self.controlnet = wrapped.pop(0) if "controlnet" in names else models.controlnet
        self.spw_path = wrapped.pop(0) if "tascm" in names else self.spw_path
        self.step = 0

    # ------------------------------------------------------------------ batches
    def _image(self, path: Path) -> np.ndarray:
        if path not in self._images:
            self._images[path] = _read(path)
        return self._images[path]

    def batch(self, step: int, fixed: bool = False) -> dict[str, Any]:
        """The batch of ``step``; ``fixed``=True: the evaluation batch (no dropout, K = default, mid t),
        drawn from the validation images when there are any."""
        cfg, stage = self.models.config, self.s.stage
        # Each process (GPU) draws its own batch; the fixed evaluation batch is the same everywhere.
        rank = 0 if fixed else self.accelerator.process_index
        rng = np.random.default_rng([self.s.seed, 0 if fixed else 1, step, rank])
        files = self.val_files if fixed and self.val_files else self.files
        idx = rng.choice(len(files), size=self.s.batch_size, replace=len(files) < self.s.batch_size)
        side = self.s.crop_size or cfg.train_size
        crops = [random_crop(self._image(files[i]), side, rng, cfg.train_crop_scale) for i in idx]
        images = to_tensor(np.stack(crops))
        captions = [self.captions.get(files[i].stem, "") for i in idx]
        lat_side = side // 2 ** (len(self.models.vae.config.block_out_channels) - 1)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = torch.randn(
            self.s.batch_size, self.models.vae.config.latent_channels, lat_side, lat_side, generator=gen
        )
        if stage in ("vae", "clip"):
            return dict(images=images, captions=captions, noise=noise)
        scale, q = self.hci_settings[rng.integers(len(self.hci_settings))]
        p_caption = cfg.caption_dropout if stage == "unet" else self.dropout
        drop = (lambda p: False) if fixed else (lambda p: rng.random() < p)
        captions = [None if drop(p_caption) else c for c in captions]
        # Never drop the guidance a stage trains (stage 1: HCI; stage 2: SPWs): that step would teach nothing.
        # The base UNet stage sees neither (no ControlNet, no TASCM yet).
        use_hci = stage != "unet" and (stage == "controlnet" or not drop(self.dropout))
        use_spw = stage != "unet" and (stage == "tascm" or not drop(self.dropout))
        hcis = [self.hci_fn(c, scale, q) for c in crops] if use_hci else None
        k = cfg.default_spws if fixed else int(rng.integers(1, cfg.max_spws + 1))
        n_t = self.scheduler.config.num_train_timesteps
        if fixed:
            timesteps = torch.linspace(n_t * 0.3, n_t * 0.7, self.s.batch_size).long()
        else:
            timesteps = torch.randint(0, n_t, (self.s.batch_size,), generator=gen)
        return dict(
            images=images,
            captions=captions,
            hcis=hcis,
            k=k if use_spw else 0,
            noise=noise,
            timesteps=timesteps,
            torch_seed=int(rng.integers(2**62)),
        )

    # ------------------------------------------------------------------ loss
    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        m, dev, stage = self.models, self.models.device, self.s.stage
        if stage == "vae":
            return self.step_module(batch["images"].to(dev), batch["noise"].to(dev))
        if stage == "clip":
            pixels = vision_pixels(batch["images"].to(dev), m.config.vision_image_size)
            return self.step_module(pixels, mgdd.token_ids(m, batch["captions"]))
        size = tuple(batch["images"].shape[-2:])
        torch.manual_seed(batch["torch_seed"])  # the rate's uniform noise
        latents = mgdd.encode_latents(m, batch["images"]).float()
        text = mgdd.encode_text(m, batch["captions"]).float()
        bits = torch.zeros(latents.shape[0], device=dev)
        spw_tokens = None
        if stage in ("tascm", "joint") and batch["k"] > 0:
            spw_tokens, bits = self.spw_path(m.vision_tokens(batch["images"]), batch["k"])
        cond = None
        if batch["hcis"] is not None:
            low = to_tensor(np.stack(batch["hcis"]))
            cond = mgdd.hci_condition(low, size).to(dev)
        context = mgdd.build_context(text, spw_tokens)
        with self.accelerator.autocast():
            mse = self._denoise(latents, context, cond, batch["noise"].to(dev), batch["timesteps"].to(dev))
        bpp = bits / (size[0] * size[1])
        loss = mse.mean() + self.rate_lambda * bpp.mean()
        return dict(loss=loss, mse=mse.mean(), bits=bits.mean(), bpp=bpp.mean())

    def _denoise(self, latents, context, cond, noise, timesteps) -> torch.Tensor:
        # the prepared (DDP) wrappers of the trained parts stand in for them during the forward
        m = self.models
        saved = m.controlnet, m.unet
        m.controlnet = self.controlnet
        if self.s.stage == "unet":
            m.unet = self.step_module
        try:
            return mgdd.denoising_loss(m, latents, context, cond, noise, timesteps, self.scheduler)
        finally:
            m.controlnet, m.unet = saved

    def _modes(self, train: bool) -> None:
        for mod in (*self.trainable.values(), self.spw_path):
            mod.train(train)

    def fixed_batch_loss(self) -> dict[str, float]:
        """Loss on the fixed evaluation batch (same images, noise, t every call); eval-mode quantization."""
        self._modes(False)
        with torch.no_grad():
            out = {k: float(v) for k, v in self.loss(self.batch(0, fixed=True)).items()}
        self._modes(True)
        return out

    # ------------------------------------------------------------------ loop
    def train(self, save: bool = True) -> dict[str, float]:
        """Run to ``settings.steps``. ``save=False`` (benchmarks): no checkpoint and no profile written."""
        s, out = self.s, self.s.out
        out.mkdir(parents=True, exist_ok=True)
        if s.resume and (out / "checkpoint" / "state.json").is_file():
            self.load_checkpoint(out / "checkpoint")
        log = (out / "log.jsonl").open("a")
        last: dict[str, float] = {}
        t0 = time.perf_counter()
        # One thread prepares the next batch (image decoding, crops, HCI coding) while this one trains;
        # batch(step) depends on the step only, so prefetching changes nothing in the results.
        pool = ThreadPoolExecutor(max_workers=1)
        upcoming = pool.submit(self.batch, self.step) if self.step < s.steps else None
        while self.step < s.steps:
            batch = upcoming.result()
            if self.step + 1 < s.steps:
                upcoming = pool.submit(self.batch, self.step + 1)
            parts = self.loss(batch)
            for group in self.optimizer.param_groups:  # a function of the step alone: resume stays exact
                group["lr"] = self.lr_at(self.step)
            if parts["loss"].requires_grad:  # False only when stage 3 dropped both HCI and SPWs
                self.accelerator.backward(parts["loss"])
                self.accelerator.clip_grad_norm_(self.params, s.grad_clip)
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            last = {k: float(v.detach()) for k, v in parts.items()}
            rec: dict[str, Any] = {}
            if self.step % s.log_every == 0 or self.step == s.steps:
                rec.update(last)
            if self.val_files and (self.step % s.eval_every == 0 or self.step == s.steps):
                rec.update({f"val_{k}": v for k, v in self.fixed_batch_loss().items()})
            if rec and self.accelerator.is_main_process:
                rec = dict(stage=s.stage, step=self.step, **rec, seconds=round(time.perf_counter() - t0, 3))
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if save and (self.step % s.save_every == 0 or self.step == s.steps):
                self.save_checkpoint(out / "checkpoint")
        log.close()
        pool.shutdown()
        self._modes(False)
        if s.stage == "vae":
            self._set_latent_scale()
        if save and self.accelerator.is_main_process:
            m = self.models
            m.trained_parts = sorted(set(m.trained_parts) | set(STAGES[s.stage]))
            if s.stage not in BASE_STAGES:
                m.trained = True
            for mod in self.trainable.values():
                mod.eval().requires_grad_(False)
            save_profile(m, out, mtgc_parts=s.stage not in BASE_STAGES)
        return last

    def lr_at(self, step: int) -> float:
        s = self.s
        if step < s.warmup_steps:
            return s.lr * (step + 1) / s.warmup_steps
        if s.lr_schedule == "constant":
            return s.lr
        frac = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
        return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    @torch.no_grad()
    def _set_latent_scale(self, batches: int = 8) -> None:
        """Latent diffusion's convention: scale latents to unit variance (SD: 0.18215 for its VAE)."""
        vae = self.models.vae
        lat = [
            vae.encode(self.batch(10**6 + i)["images"].to(self.models.device) * 2 - 1).latent_dist.mean
            for i in range(batches)
        ]
        vae.register_to_config(scaling_factor=float(1.0 / torch.cat(lat).std()))

    def save_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import save_model

        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, mod in self.trainable.items():
            save_model(self.accelerator.unwrap_model(mod), str(folder / f"{name}.safetensors"))
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")
        (folder / "state.json").write_text(json.dumps({"step": self.step, "stage": self.s.stage}))

    def load_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import load_model

        state = json.loads((folder / "state.json").read_text())
        stage = TrainSettings._stage_name(state["stage"])
        if stage != self.s.stage:
            want = stage_label(self.s.stage)
            raise TrainError(f"checkpoint in {folder} is from stage {stage_label(stage)}, not stage {want}")
        for name, mod in self.trainable.items():
            load_model(self.accelerator.unwrap_model(mod), str(folder / f"{name}.safetensors"))
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.step = int(state["step"])


def run(settings: TrainSettings) -> dict[str, float]:
    """Train one stage as ``settings`` says; returns the last step's losses."""
    return Trainer(settings).train()
