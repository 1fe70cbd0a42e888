"""Profiles: build or load every MTGC neural model, and save the result as one folder.

``load_profile("tiny")``       the real classes with tiny configs and seeded random weights (trained=False).
``load_profile("reference")``  SD 2.1-base (UNet, VAE, text encoder, tokenizer, scheduler) + CLIP ViT-L/14
                               image tower (hub or local folders), plus the fine-tuned MTGC parts
                               (ControlNet, TASCM, entropy model) from MTGC_WEIGHTS / ``config.mtgc_weights``.
``load_profile("compact")``    the project's own small MTGC, every part trained from scratch on BSDS500 with
                               ``mtgc-link train`` (docs/mtgc-compact.md); shipped in ``COMPACT_DIR``.
``load_profile("/a/folder")``  a folder written by ``save_profile`` (what ``mtgc-link train`` produces).
Folder layout (diffusers style, safetensors): mtgc_config.json, controlnet/, tascm/, entropy/, and, for
profiles whose base is not on the hub (tiny), unet/, vae/, text_encoder/, tokenizer/, vision_encoder/.
Anything missing raises ``ProfileUnavailable`` with one line naming it and how to get it; nothing is faked.
Environment overrides for the reference ids: MTGC_BASE_MODEL, MTGC_VISION_ENCODER, MTGC_WEIGHTS.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtgc_link.codecs.mtgc import mgdd
from mtgc_link.codecs.mtgc.config import CONFIG_FILE, MTGCConfig
from mtgc_link.codecs.mtgc.entropy import SPWDecodeError, SPWEntropyModel
from mtgc_link.codecs.mtgc.tascm import TASCM, vision_pixels
from mtgc_link.images import to_tensor

__all__ = [
    "MTGCModels",
    "ProfileUnavailable",
    "SPWDecodeError",
    "build_random",
    "load_profile",
    "save_profile",
]

BASE_PARTS = ("unet", "vae", "text_encoder", "tokenizer")
# The shipped compact profile (a folder written by ``mtgc-link train``; MTGC_COMPACT overrides the location).
COMPACT_DIR = Path(__file__).resolve().parent / "weights" / "compact"
MTGC_PARTS = ("controlnet", "tascm", "entropy")
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ProfileUnavailable(RuntimeError):
    """The weights a profile needs are absent; the message (one line) names them and how to get them."""


class MTGCModels:
    """All neural parts of MTGC on one device. Build with ``load_profile``; see the module docstring.

    Attributes: config, trained (False for random weights: results must say so), tokenizer, text_encoder,
    vae, unet, controlnet, vision_encoder, tascm, entropy, scheduler_config, device, dtype.
    TASCM and the entropy model always run in float32 (the coder needs the exact same scales on both sides).
    """

    def __init__(
        self,
        config: MTGCConfig,
        trained: bool,
        parts: dict[str, Any],
        device,
        dtype,
        trained_parts: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.config, self.trained = config, trained
        self.trained_parts = list(trained_parts)  # which parts a training stage of ours has trained
        self.device, self.dtype = torch.device(device), dtype
        self.tokenizer = parts["tokenizer"]
        self.scheduler_config: dict[str, Any] | None = parts.get("scheduler_config")
        for name in ("text_encoder", "vae", "unet", "controlnet", "vision_encoder"):
            setattr(self, name, _place(parts[name], self.device, dtype))
        self.tascm: TASCM = _place(parts["tascm"], self.device, torch.float32)
        self.entropy: SPWEntropyModel = _place(parts["entropy"], self.device, torch.float32)

    # ------------------------------------------------------------------ SPWs
    def vision_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen vision encoder: images [B, 3, H, W] in [0, 1] -> tokens [B, N, vision_dim] (float32)."""
        pixels = vision_pixels(images.to(self.device, torch.float32), self.config.vision_image_size)
        with torch.no_grad():
            out = self.vision_encoder(pixel_values=pixels.to(self.dtype)).last_hidden_state
        return out.float()

    def _check_k(self, k: int) -> int:
        if not isinstance(k, (int, np.integer)) or not 0 <= int(k) <= self.config.max_spws:
            raise ValueError(f"k={k!r} must be an integer in 0..max_spws={self.config.max_spws}")
        return int(k)

    @torch.no_grad()
    def spw_symbols(self, image: np.ndarray, k: int) -> torch.Tensor:
        """TASCM -> K pseudo-words -> quantized integer symbols [k, spw_dim] (int64, within ±bound)."""
        k = self._check_k(k)
        if k == 0:
            return torch.zeros(0, self.config.spw_dim, dtype=torch.int64)
        codes = self.tascm(self.vision_tokens(to_tensor(image)), k)
        y_hat, _ = self.entropy.quantize(codes, training=False)
        return y_hat[0].round().to("cpu", torch.int64)

    def encode_spws(self, image: np.ndarray, k: int) -> bytes:
        """Image uint8 (H, W, 3) -> entropy-coded bytes of its K quantized pseudo-words (b"" for k=0)."""
        return self.entropy.encode(self.spw_symbols(image, k))

    @torch.no_grad()
    def lift(self, symbols: torch.Tensor) -> torch.Tensor:
        """Quantized symbols [k, spw_dim] -> pseudo-word tokens [k, text_embed_dim] (float32, on device)."""
        return self.tascm.lift_codes(symbols.to(self.device, torch.float32))

    def decode_spws(self, data: bytes, k: int) -> torch.Tensor:
        """Bytes -> pseudo-word tokens [k, text_embed_dim]. Raises SPWDecodeError on bad data or k."""
        if not isinstance(k, (int, np.integer)):
            raise SPWDecodeError(f"k must be an integer, got {k!r}")
        return self.lift(self.entropy.decode(bytes(data), int(k)))

    # ------------------------------------------------------------------ decoder
    @functools.wraps(mgdd.generate, assigned=("__doc__",))  # signature and docs: mgdd.generate, only there
    def generate(self, **guidance: Any) -> np.ndarray:
        return mgdd.generate(self, **guidance)

    def parameter_counts(self) -> dict[str, int]:
        names = ("text_encoder", "vae", "unet", "controlnet", "vision_encoder", "tascm", "entropy")
        return {n: sum(p.numel() for p in getattr(self, n).parameters()) for n in names}


def _place(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    # Cast only when needed: diffusers warns on any dtype cast, even a no-op one.
    module = module.to(device)
    if next(module.parameters()).dtype != dtype:
        module = module.to(dtype)
    return module.eval().requires_grad_(False)


# ---------------------------------------------------------------------- building
def build_random(config: MTGCConfig, device=None, trained: bool = False) -> MTGCModels:
    """Every part from ``config``'s component dicts with random weights seeded by ``config.init_seed``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

    from mtgc_link.codecs.mtgc.tokenizer import build_byte_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        unet = UNet2DConditionModel(**config.unet)
        parts: dict[str, Any] = dict(
            tokenizer=build_byte_tokenizer(config.text_max_length),
            text_encoder=CLIPTextModel(CLIPTextConfig(**config.text_encoder)),
            vae=AutoencoderKL(**config.vae),
            unet=unet,
            vision_encoder=CLIPVisionModel(CLIPVisionConfig(**config.vision_encoder)),
        )
        parts.update(_new_mtgc_parts(config, unet, parts["vision_encoder"].config.hidden_size))
    return MTGCModels(config, trained, parts, _device(device), _dtype(config, device))


def _new_mtgc_parts(config: MTGCConfig, unet, vision_dim: int) -> dict[str, Any]:
    """ControlNet initialised from the UNet (ControlNet paper), fresh TASCM and entropy model."""
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed + 1)
        controlnet = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=tuple(config.controlnet_cond_channels)
        )
        if (
            config.random_zero_convs
        ):  # random-weight test profile: make path 1 visible (zero convs would hide it)
            for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
                conv.reset_parameters()
            # He init keeps the HCI's signal alive through the random condition-embedding stack.
            for conv in controlnet.controlnet_cond_embedding.modules():
                if isinstance(conv, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                    torch.nn.init.zeros_(conv.bias)
        tascm = TASCM(
            vision_dim=vision_dim,
            max_spws=config.max_spws,
            dim=config.tascm_dim,
            layers=config.tascm_layers,
            heads=config.tascm_heads,
            spw_dim=config.spw_dim,
            text_embed_dim=config.text_embed_dim,
        )
        entropy = SPWEntropyModel(config.max_spws, config.spw_dim, config.spw_symbol_bound)
    return dict(controlnet=controlnet, tascm=tascm, entropy=entropy)


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _dtype(config: MTGCConfig, device) -> torch.dtype:
    # Half precision only where it is fast and supported (GPU); CPU always float32.
    return _DTYPES[config.dtype] if _device(device).type == "cuda" else torch.float32


# ---------------------------------------------------------------------- loading
def load_profile(
    profile: str | os.PathLike,
    device=None,
    *,
    local_files_only: bool | None = None,
    allow_untrained: bool = False,
    config_overrides: dict[str, Any] | None = None,
) -> MTGCModels:
    """Build or load a profile: 'tiny', 'reference', or a folder written by ``save_profile``.

    ``local_files_only``: None honours HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE. ``allow_untrained``: when the
    fine-tuned MTGC parts are absent, start them fresh (ControlNet from the UNet) with trained=False — what
    training stage 1 needs. ``config_overrides``: fields replaced in the profile's config (e.g. steps, dtype).
    """
    overrides = dict(config_overrides or {})
    name = os.fspath(profile)
    if name == "tiny":
        return build_random(MTGCConfig.tiny(**overrides), device)
    if name == "compact":
        folder = Path(os.environ.get("MTGC_COMPACT") or COMPACT_DIR)
        if not (folder / CONFIG_FILE).is_file():
            raise ProfileUnavailable(
                f"profile 'compact': no trained weights at {str(folder)!r}; they ship with the source "
                "checkout, or rebuild them with `bash experiments/train_compact.sh` (docs/mtgc-compact.md)"
            )
        name = str(folder)
    if local_files_only is None:
        local_files_only = _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")
    if name == "reference":
        env = {
            "base_model_id": os.environ.get("MTGC_BASE_MODEL"),
            "vision_encoder_id": os.environ.get("MTGC_VISION_ENCODER"),
            "mtgc_weights": os.environ.get("MTGC_WEIGHTS"),
        }
        config = MTGCConfig.reference(**{k: v for k, v in env.items() if v}, **overrides)
        return _load(config, None, False, device, local_files_only, allow_untrained)
    folder = Path(name)
    if not (folder / CONFIG_FILE).is_file():
        raise ProfileUnavailable(
            f"profile {name!r} is neither 'tiny', 'reference' nor a folder with {CONFIG_FILE} "
            "(write one with save_profile or `mtgc-link train`)"
        )
    config, extra = MTGCConfig.load(folder)
    if overrides:
        config = config.model_copy(update=overrides)
    models = _load(
        config, folder, bool(extra.get("trained", False)), device, local_files_only, allow_untrained
    )
    models.trained_parts = list(extra.get("trained_parts", []))
    return models


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _source(folder: Path | None, part: str, repo: str | None) -> tuple[str, str | None] | None:
    """Where ``part`` comes from: (path, None) for a local folder, (repo, subfolder) for a hub/base id."""
    if folder is not None and (folder / part).is_dir():
        return str(folder / part), None
    if repo is None:
        return None
    if Path(repo).is_dir():
        return (str(Path(repo) / part), None) if (Path(repo) / part).is_dir() else None
    return repo, part


def _is_cached(repo: str, subfolder: str | None, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    path = f"{subfolder}/{filename}" if subfolder else filename
    try:
        return isinstance(try_to_load_from_cache(repo, path), str)
    except Exception:  # an invalid repo id is simply "not cached"
        return False


def _load(config, folder, trained, device, local_files_only, allow_untrained) -> MTGCModels:
    from diffusers import AutoencoderKL, ControlNetModel, DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel, CLIPVisionModel

    what = f"profile {config.profile!r}"
    base_hint = (
        f"get them with `hf download {config.base_model_id}` (or set MTGC_BASE_MODEL to a local copy)"
        if config.base_model_id
        else "the folder should hold them (save_profile writes them)"
    )
    classes = {
        "unet": UNet2DConditionModel,
        "vae": AutoencoderKL,
        "text_encoder": CLIPTextModel,
        "tokenizer": AutoTokenizer,
        "vision_encoder": CLIPVisionModel,
        "controlnet": ControlNetModel,
        "tascm": TASCM,
        "entropy": SPWEntropyModel,
    }
    sources = {p: _source(folder, p, config.base_model_id) for p in BASE_PARTS}
    vision_repo = config.vision_encoder_id
    sources["vision_encoder"] = _source(folder, "vision_encoder", None) or (
        (vision_repo, None) if vision_repo else None
    )
    for p in MTGC_PARTS:
        sources[p] = _source(folder, p, config.mtgc_weights)

    # Cheap check first, so the error names everything that is missing at once.
    missing = [p for p, s in sources.items() if p not in MTGC_PARTS and not _available(s, local_files_only)]
    if missing:
        ids = sorted({src[0] for p in missing if (src := sources[p])})
        raise ProfileUnavailable(
            f"{what}: weights for {', '.join(missing)} not found locally"
            f"{' (offline mode)' if local_files_only else ''} [{', '.join(ids) or 'no id configured'}]; "
            f"{base_hint}; CLIP image tower: `hf download {vision_repo or 'openai/clip-vit-large-patch14'}`"
        )
    parts: dict[str, Any] = {}
    for p, s in sources.items():
        if p in MTGC_PARTS:
            continue
        parts[p] = _from_pretrained(classes[p], s, local_files_only, what, p, base_hint)
    parts["scheduler_config"] = _scheduler_config(
        folder, config, local_files_only, DPMSolverMultistepScheduler
    )

    mtgc_missing = [p for p in MTGC_PARTS if not _available(sources[p], local_files_only)]
    train_hint = (
        f"train them with `mtgc-link train --profile {config.profile} ...` and load the output folder "
        "(or set MTGC_WEIGHTS to it)"
    )
    if mtgc_missing and not allow_untrained:
        raise ProfileUnavailable(
            f"{what}: fine-tuned MTGC parts ({', '.join(mtgc_missing)}) not found "
            f"[{config.mtgc_weights or 'MTGC_WEIGHTS not set'}]; {train_hint}"
        )
    if mtgc_missing:
        parts.update(_new_mtgc_parts(config, parts["unet"], parts["vision_encoder"].config.hidden_size))
        trained = False
    else:
        for p in MTGC_PARTS:
            parts[p] = _from_pretrained(classes[p], sources[p], local_files_only, what, p, train_hint)
    return MTGCModels(config, trained, parts, _device(device), _dtype(config, device))


def _available(source: tuple[str, str | None] | None, local_files_only: bool) -> bool:
    if source is None:
        return False
    path, sub = source
    if sub is None:
        return Path(path).is_dir()
    if not local_files_only:
        return True  # may be downloaded; a failure is reported by _from_pretrained
    return any(_is_cached(path, sub, f) for f in ("config.json", "tokenizer_config.json", "vocab.json"))


def _from_pretrained(cls, source, local_files_only: bool, what: str, part: str, hint: str):
    path, sub = source
    kwargs: dict[str, Any] = {"local_files_only": local_files_only}
    if sub is not None:
        kwargs["subfolder"] = sub
    try:
        return cls.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProfileUnavailable(f"{what}: cannot load {part} from {path!r} ({first}); {hint}") from exc


def _scheduler_config(folder, config: MTGCConfig, local_files_only: bool, cls) -> dict[str, Any] | None:
    src = _source(folder, "scheduler", config.base_model_id)
    if src is None or not _available(src, local_files_only):
        return None
    path, sub = src
    try:
        return dict(cls.load_config(path, subfolder=sub, local_files_only=local_files_only))
    except (OSError, ValueError):
        return None  # fall back to the config's own schedule fields


# ---------------------------------------------------------------------- saving
def save_profile(
    models: MTGCModels,
    folder: str | os.PathLike,
    include_base: bool | None = None,
    mtgc_parts: bool = True,
) -> Path:
    """Write ``models`` as one folder (diffusers/safetensors). ``include_base`` None: base parts are written
    only when they do not come from a hub id (tiny, compact); the reference base stays on the hub.
    ``mtgc_parts`` False (after a base training stage): ControlNet, TASCM and the entropy model are left out,
    so the next stage builds them fresh from the trained UNet. The big parts are written in
    ``config.save_dtype``; TASCM and the entropy model always in float32 (the coder's scales)."""
    import copy

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = models.config
    if include_base is None:
        include_base = cfg.base_model_id is None
    save_dtype = _DTYPES[cfg.save_dtype]

    def write(module, name: str) -> None:
        if next(module.parameters()).dtype != save_dtype:
            module = copy.deepcopy(module).to(save_dtype)
        module.save_pretrained(folder / name)

    if mtgc_parts:
        write(models.controlnet, "controlnet")
        models.tascm.save_pretrained(folder / "tascm")
        models.entropy.save_pretrained(folder / "entropy")
    if include_base:
        for name in ("unet", "vae", "text_encoder", "vision_encoder"):
            write(getattr(models, name), name)
        models.tokenizer.save_pretrained(folder / "tokenizer")
        if models.scheduler_config:
            from diffusers import DPMSolverMultistepScheduler

            DPMSolverMultistepScheduler.from_config(models.scheduler_config).save_pretrained(
                folder / "scheduler"
            )
    cfg.save(folder, trained=models.trained, trained_parts=list(models.trained_parts), format=1)
    return folder
