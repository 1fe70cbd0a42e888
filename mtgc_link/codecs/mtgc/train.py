"""Three-stage MTGC training (accelerate: one script for CPU, one GPU or many).

Stage 1  ControlNet on the HCI (+ caption); UNet, VAE, text encoder frozen; denoising loss.
Stage 2  TASCM + entropy model; denoising loss through the frozen UNet + ControlNet + lambda x rate.
Stage 3  joint fine-tuning of ControlNet + TASCM + entropy model, same loss as stage 2.
Each stage starts from a profile (stage 1: 'reference' or 'tiny'; later stages: the previous stage's output
folder) and writes a profile folder (``save_profile``) plus ``checkpoint/`` (resume) and ``log.jsonl``.

Rate term: bits of the SPWs per pixel of the training crop. Per-step randomness (crop, K, HCI setting,
modality dropout, noise, timesteps) is drawn from generators seeded by (seed, step), so a resumed run repeats
exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from mtgc_link.codecs.mtgc import mgdd
from mtgc_link.codecs.mtgc.profiles import MTGCModels, load_profile, save_profile

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
TRAINABLE = {1: ("controlnet",), 2: ("tascm", "entropy"), 3: ("controlnet", "tascm", "entropy")}


class TrainError(RuntimeError):
    """Training cannot start (bad data folder, missing captions, stage/profile mismatch); says why."""


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Literal[1, 2, 3]
    data: Path
    out: Path
    profile: str = "tiny"
    captions: Path | None = None
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(1e-5, gt=0)
    seed: int = 0
    save_every: int = Field(500, ge=1)
    log_every: int = Field(10, ge=1)
    resume: bool = False
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    device: str | None = None
    rate_lambda: float | None = Field(None, ge=0, description="override of config.rate_lambda")
    modality_dropout: float | None = Field(None, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0)


# ---------------------------------------------------------------------- data
def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise TrainError(f"data={str(folder)!r} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise TrainError(f"data={str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
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


def random_crop(image: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """Resize so the shorter side is ``side`` x U(1, 1.5) (keeps some scale variety), then a square crop."""
    h, w = image.shape[:2]
    scale = side * rng.uniform(1.0, 1.5) / min(h, w)
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


# ---------------------------------------------------------------------- the trainable SPW path
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

        self.s = settings
        self.accelerator = Accelerator(
            mixed_precision=settings.mixed_precision,
            cpu=settings.device == "cpu",
            # a batch whose SPWs are dropped leaves TASCM unused in that step
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        if models is None:
            models = load_profile(
                settings.profile, device=self.accelerator.device, allow_untrained=settings.stage == 1
            )
        self.models = models
        if settings.stage > 1 and not models.trained:
            self.accelerator.print("note: later stage on an untrained ControlNet (expected only in tests)")
        cfg = models.config
        self.rate_lambda = cfg.rate_lambda if settings.rate_lambda is None else settings.rate_lambda
        self.dropout = (
            cfg.modality_dropout if settings.modality_dropout is None else settings.modality_dropout
        )
        self.files = list_images(settings.data)
        self.captions = captions or load_captions(
            self.files,
            settings.captions,
            settings.out / "captions.json",
            cfg.captioner_id,
            cfg.max_caption_tokens,
        )
        if hci_fn is None:
            hci_fn, default_settings = codec_hci()
            hci_settings = hci_settings or default_settings
        self.hci_fn = hci_fn
        self.hci_settings = hci_settings or [(cfg.train_hci_factor, None)]
        self.scheduler = mgdd.make_scheduler(cfg, models.scheduler_config)
        self.scheduler.alphas_cumprod = self.scheduler.alphas_cumprod.to(models.device)

        self.spw_path = SPWPath(models.tascm, models.entropy)
        names = TRAINABLE[settings.stage]
        modules = {n: getattr(models, n) for n in names}
        for m in modules.values():
            m.float().train().requires_grad_(True)
        params = [p for m in modules.values() for p in m.parameters()]
        self.optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
        wrapped = [models.controlnet] if "controlnet" in names else []
        wrapped += [self.spw_path] if "tascm" in names else []
        *wrapped, self.optimizer = self.accelerator.prepare(*wrapped, self.optimizer)
        self.controlnet = wrapped.pop(0) if "controlnet" in names else models.controlnet
        self.spw_path = wrapped.pop(0) if "tascm" in names else self.spw_path
        self.trainable = modules
        self.step = 0

    # ------------------------------------------------------------------ batches
    def batch(self, step: int, fixed: bool = False) -> dict[str, Any]:
        """The batch of ``step``; ``fixed``=True: the evaluation batch (no dropout, K = default, mid t)."""
        cfg = self.models.config
        # Each process (GPU) draws its own batch; the fixed evaluation batch is the same everywhere.
        rank = 0 if fixed else self.accelerator.process_index
        rng = np.random.default_rng([self.s.seed, 0 if fixed else 1, step, rank])
        idx = rng.choice(len(self.files), size=self.s.batch_size, replace=len(self.files) < self.s.batch_size)
        crops = [random_crop(_read(self.files[i]), cfg.train_size, rng) for i in idx]
        captions = [self.captions.get(self.files[i].stem, "") for i in idx]
        scale, q = self.hci_settings[rng.integers(len(self.hci_settings))]
        drop = (lambda: False) if fixed else (lambda: rng.random() < self.dropout)
        captions = [None if drop() else c for c in captions]
        # Never drop the guidance a stage trains (stage 1: HCI; stage 2: SPWs): that step would teach nothing.
        use_hci = self.s.stage == 1 or not drop()
        use_spw = self.s.stage == 2 or not drop()
        hcis = [self.hci_fn(c, scale, q) for c in crops] if use_hci else None
        k = cfg.default_spws if fixed else int(rng.integers(1, cfg.max_spws + 1))
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        lat_side = cfg.train_size // 2 ** (len(self.models.vae.config.block_out_channels) - 1)
        noise = torch.randn(
            self.s.batch_size, self.models.vae.config.latent_channels, lat_side, lat_side, generator=gen
        )
        n_t = self.scheduler.config.num_train_timesteps
        if fixed:
            timesteps = torch.linspace(n_t * 0.3, n_t * 0.7, self.s.batch_size).long()
        else:
            timesteps = torch.randint(0, n_t, (self.s.batch_size,), generator=gen)
        return dict(
            images=torch.stack([mgdd.image_to_tensor(c)[0] for c in crops]),
            captions=captions,
            hcis=hcis,
            k=k if use_spw else 0,
            noise=noise,
            timesteps=timesteps,
            torch_seed=int(rng.integers(2**62)),
        )

    # ------------------------------------------------------------------ loss
    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        m, dev = self.models, self.models.device
        size = tuple(batch["images"].shape[-2:])
        torch.manual_seed(batch["torch_seed"])  # the rate's uniform noise
        latents = mgdd.encode_latents(m, batch["images"]).float()
        text = mgdd.encode_text(m, batch["captions"]).float()
        bits = torch.zeros(latents.shape[0], device=dev)
        spw_tokens = None
        if self.s.stage > 1 and batch["k"] > 0:
            spw_tokens, bits = self.spw_path(m.vision_tokens(batch["images"]), batch["k"])
        cond = None
        if batch["hcis"] is not None:
            low = torch.cat([mgdd.image_to_tensor(h) for h in batch["hcis"]])
            cond = mgdd.hci_condition(low, size).to(dev)
        context = mgdd.build_context(text, spw_tokens)
        with self.accelerator.autocast():
            mse = self._denoise(latents, context, cond, batch["noise"].to(dev), batch["timesteps"].to(dev))
        bpp = bits / (size[0] * size[1])
        loss = mse.mean() + self.rate_lambda * bpp.mean()
        return dict(loss=loss, mse=mse.mean(), bits=bits.mean(), bpp=bpp.mean())

    def _denoise(self, latents, context, cond, noise, timesteps) -> torch.Tensor:
        saved, self.models.controlnet = self.models.controlnet, self.controlnet  # the prepared (DDP) wrapper
        try:
            return mgdd.denoising_loss(self.models, latents, context, cond, noise, timesteps, self.scheduler)
        finally:
            self.models.controlnet = saved

    def fixed_batch_loss(self) -> dict[str, float]:
        """Loss on the fixed evaluation batch (same images, noise, t every call); eval-mode quantization."""
        for mod in self.trainable.values():
            mod.eval()
        self.spw_path.eval()
        with torch.no_grad():
            out = {k: float(v) for k, v in self.loss(self.batch(0, fixed=True)).items()}
        for mod in self.trainable.values():
            mod.train()
        self.spw_path.train()
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
            if parts["loss"].requires_grad:  # False only when stage 3 dropped both HCI and SPWs
                self.accelerator.backward(parts["loss"])
                params = [p for mod in self.trainable.values() for p in mod.parameters()]
                self.accelerator.clip_grad_norm_(params, s.grad_clip)
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            last = {k: float(v.detach()) for k, v in parts.items()}
            if self.accelerator.is_main_process and (self.step % s.log_every == 0 or self.step == s.steps):
                rec = dict(stage=s.stage, step=self.step, **last, seconds=round(time.perf_counter() - t0, 3))
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if save and (self.step % s.save_every == 0 or self.step == s.steps):
                self.save_checkpoint(out / "checkpoint")
        log.close()
        pool.shutdown()
        if save and self.accelerator.is_main_process:
            self.models.trained = True
            for mod in self.trainable.values():
                mod.eval().requires_grad_(False)
            save_profile(self.models, out)
        return last

    def save_checkpoint(self, folder: Path) -> None:
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, mod in self.trainable.items():
            self.accelerator.unwrap_model(mod).save_pretrained(folder / name)
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")
        (folder / "state.json").write_text(json.dumps({"step": self.step, "stage": self.s.stage}))

    def load_checkpoint(self, folder: Path) -> None:
        state = json.loads((folder / "state.json").read_text())
        if state["stage"] != self.s.stage:
            raise TrainError(
                f"checkpoint in {folder} is from stage {state['stage']}, not stage {self.s.stage}"
            )
        from safetensors.torch import load_file

        for name, mod in self.trainable.items():
            weights = load_file(str(folder / name / "diffusion_pytorch_model.safetensors"))
            self.accelerator.unwrap_model(mod).load_state_dict(weights)
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.step = int(state["step"])


def run(settings: TrainSettings) -> dict[str, float]:
    """Train one stage as ``settings`` says; returns the last step's losses."""
    return Trainer(settings).train()
