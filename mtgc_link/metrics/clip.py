"""CLIP score, image-image and image-caption, with transformers' CLIPModel.

Score (torchmetrics' CLIPScore convention, Hessel et al. 2021 with w = 100):
``100 * max(cos(e1, e2), 0)`` in [0, 100], higher is better, where e1, e2 are CLIP's projected
embeddings. ``clip-image`` compares the embeddings of ``reference`` and ``image`` (100 for identical
images); ``clip-text`` compares ``image`` with ``caption=`` (``reference`` is only validated).

Inputs: numpy uint8 (H, W, 3) RGB in [0, 255]. They go through the model's own image processor
(resize shortest side + centre crop to the model's size, then rescale to [0, 1] and normalise with
CLIP's mean/std); transformers' PIL backend is used, since its torchvision backend cannot be installed
here. Captions longer than the text model's context (77 tokens) are truncated.

Weights (nothing is downloaded; ``model_id`` defaults to ``openai/clip-vit-base-patch32``), first hit:

1. ``model_id`` itself when it is a local folder (a ``save_pretrained`` output),
2. ``<weights_dir>/<model_id>`` and ``$MTGC_LINK_WEIGHTS/<model_id>``,
3. the Hugging Face cache (``$HF_HOME``/``$HF_HUB_CACHE``), loaded with
   ``from_pretrained(model_id, local_files_only=True)``.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from mtgc_link.metrics.base import METRICS, Metric, MetricNotApplicable, MetricUnavailable, check_pair
from mtgc_link.metrics.weights import WEIGHTS_ENV, search_dirs

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any((path / f).is_file() for f in _WEIGHT_FILES)


def resolve_clip(
    model_id: str, weights_dir: str | os.PathLike | None = None, cache_dir: str | None = None
) -> tuple[str | None, str]:
    """Where CLIP ``model_id`` can be loaded from offline: ``(source, explanation)``; ``source`` is a
    local folder or the hub id (found in the Hugging Face cache), or None with the places searched."""
    from huggingface_hub import constants, try_to_load_from_cache

    if _is_model_folder(Path(model_id)):
        return model_id, f"local folder {model_id}"
    searched = []
    for folder, label in search_dirs(weights_dir):
        if label == "torch hub cache":
            continue  # CLIP folders live in a weights folder or the HF cache, not torch's checkpoints
        candidate = folder / model_id
        searched.append(f"{candidate} ({label})")
        if _is_model_folder(candidate):
            return str(candidate), f"local folder {candidate}"
    hub_cache = cache_dir or constants.HF_HUB_CACHE
    searched.append(f"Hugging Face cache {hub_cache}")
    config = try_to_load_from_cache(model_id, "config.json", cache_dir=cache_dir)
    if isinstance(config, str) and any(
        isinstance(try_to_load_from_cache(model_id, f, cache_dir=cache_dir), str) for f in _WEIGHT_FILES
    ):
        return model_id, f"Hugging Face cache {hub_cache}"
    return None, (
        f"the CLIP model {model_id!r} (config.json and model.safetensors or pytorch_model.bin, plus its "
        f"processor and tokenizer files) was not found in: {'; '.join(searched)}. To enable it, run "
        f"`hf download {model_id}` on a machine with internet and copy the Hugging Face cache, or "
        f"save_pretrained the model and processor into ${WEIGHTS_ENV}/{model_id}"
    )


def image_processor_class():
    """transformers' PIL CLIP image processor (``CLIPImageProcessorPil`` in transformers >= 5, where the
    default class wants torchvision); older versions' ``CLIPImageProcessor`` is the PIL one."""
    try:
        from transformers import CLIPImageProcessorPil as processor
    except ImportError:
        from transformers import CLIPImageProcessor as processor
    return processor


@lru_cache(maxsize=4)
def _load(source: str, device: str, cache_dir: str | None):
    """Model, image processor and tokenizer, loaded once per (source, device)."""
    from transformers import AutoTokenizer, CLIPModel

    kw = {"local_files_only": True, "cache_dir": cache_dir}
    model = CLIPModel.from_pretrained(source, **kw).to(device).eval()
    image_processor = image_processor_class().from_pretrained(source, **kw)
    return model, image_processor, AutoTokenizer.from_pretrained(source, **kw)


def _pooled(out) -> torch.Tensor:
    # transformers >= 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor.
    return out.pooler_output if hasattr(out, "pooler_output") else out


class _CLIPMetric(Metric):
    def __init__(
        self,
        model_id: str = DEFAULT_CLIP,
        weights_dir: str | os.PathLike | None = None,
        device: str = "cpu",
        cache_dir: str | None = None,
    ) -> None:
        self.model_id = model_id
        self.weights_dir = weights_dir
        self.device = device
        self.cache_dir = cache_dir

    def availability(self) -> tuple[bool, str | None]:
        if importlib.util.find_spec("transformers") is None:
            return False, "transformers is not installed (pip install 'mtgc-link[mtgc]')"
        source, why = resolve_clip(self.model_id, self.weights_dir, self.cache_dir)
        return (True, None) if source else (False, why)

    def _parts(self):
        self.require_available()
        source, _ = resolve_clip(self.model_id, self.weights_dir, self.cache_dir)
        try:
            return _load(source, self.device, self.cache_dir)
        except (OSError, ValueError) as exc:  # incomplete folder or cache entry
            raise MetricUnavailable(f"{self.name}: could not load CLIP from {source}: {exc}") from exc

    def image_embeddings(self, images: list[np.ndarray]) -> torch.Tensor:
        """Unit-norm CLIP image embeddings, (N, D), for uint8 (H, W, 3) images."""
        model, image_processor, _ = self._parts()
        pixels = image_processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
        with torch.no_grad():
            emb = _pooled(model.get_image_features(pixel_values=pixels))
        return torch.nn.functional.normalize(emb.float(), dim=-1)

    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm CLIP text embeddings, (N, D)."""
        model, _, tokenizer = self._parts()
        max_len = model.config.text_config.max_position_embeddings
        tokens = tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_len, return_tensors="pt"
        )
        with torch.no_grad():
            emb = _pooled(
                model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device),
                )
            )
        return torch.nn.functional.normalize(emb.float(), dim=-1)


def _score(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(100.0 * torch.clamp((a * b).sum(-1), min=0.0)[0])


@METRICS.register("clip-image")
class CLIPImageScore(_CLIPMetric):
    """100 * max(cos, 0) between the CLIP embeddings of reference and image, in [0, 100]."""

    name = "clip-image"

    def __call__(self, reference: np.ndarray, image: np.ndarray, **kwargs) -> float:
        ref, img = check_pair(reference, image)
        emb = self.image_embeddings([ref, img])
        return _score(emb[:1], emb[1:])


@METRICS.register("clip-text")
class CLIPTextScore(_CLIPMetric):
    """CLIPScore of ``image`` against ``caption=``: 100 * max(cos, 0), in [0, 100]."""

    name = "clip-text"
    needs_caption = True

    def __call__(
        self, reference: np.ndarray, image: np.ndarray, caption: str | None = None, **kwargs
    ) -> float:
        _, img = check_pair(reference, image)
        if not isinstance(caption, str) or not caption.strip():
            raise MetricNotApplicable(f"clip-text needs a non-empty caption= string, got {caption!r}")
        self.require_available()
        return _score(self.image_embeddings([img]), self.text_embeddings([caption]))
