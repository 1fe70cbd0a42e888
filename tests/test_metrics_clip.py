"""CLIP score loading paths, end to end, with a tiny random CLIPModel the test builds from a CLIPConfig
and saves with save_pretrained. Random weights give meaningless scores: only properties that hold for
any weights are asserted (self-similarity 100, symmetry, range), and agreement of the caption score
with CLIPModel's own forward (logits_per_image / logit_scale)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtgc_link.metrics import MetricNotApplicable, MetricUnavailable, compute_metrics
from mtgc_link.metrics.clip import CLIPImageScore, CLIPTextScore, image_processor_class

TINY_ID = "test-org/tiny-clip"


def _save_tiny_clip(folder):
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    # Byte-level vocabulary without merges: every character is a token (enough for any caption).
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
            vocab[ch + suffix] = len(vocab)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            max_position_embeddings=64,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            **small,
        ),
        vision_config=dict(image_size=32, patch_size=8, **small),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    processor = image_processor_class()(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(folder)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_clip_weights(tmp_path_factory):
    """A weights folder holding test-org/tiny-clip (hub layout: config, weights, processor, tokenizer)."""
    root = tmp_path_factory.mktemp("clip_weights")
    _save_tiny_clip(root / TINY_ID)
    return root


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(tmp_path / "empty"))
    return tmp_path


def _images(seed=0, shape=(40, 52, 3)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=shape, dtype=np.uint8), rng.integers(0, 256, size=shape, dtype=np.uint8)


def test_missing_clip_is_reported_and_raises(no_caches):
    metric = CLIPTextScore(cache_dir=str(no_caches / "hf"))
    ok, reason = metric.availability()
    assert not ok
    assert "openai/clip-vit-base-patch32" in reason and str(no_caches / "hf") in reason
    assert "hf download openai/clip-vit-base-patch32" in reason
    a, b = _images()
    with pytest.raises(MetricUnavailable, match="clip-vit-base-patch32"):
        metric(a, b, caption="a photo")
    values, unavailable = compute_metrics(a, b, ["psnr", "clip-image", "clip-text"], caption="a photo")
    assert values["clip-image"] is None and values["clip-text"] is None
    assert "clip-vit-base-patch32" in unavailable["clip-text"]


def test_clip_image_properties_from_env_folder(no_caches, tiny_clip_weights, monkeypatch):
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(tiny_clip_weights))
    metric = CLIPImageScore(model_id=TINY_ID)
    assert metric.availability() == (True, None)
    a, b = _images(1)
    assert metric(a, a) == pytest.approx(100.0, abs=1e-3)
    s_ab, s_ba = metric(a, b), metric(b, a)
    assert 0.0 <= s_ab <= 100.0
    assert s_ba == pytest.approx(s_ab, abs=1e-4)


def test_clip_text_matches_clipmodel_forward(tiny_clip_weights):
    from transformers import CLIPModel, CLIPTokenizer

    folder = tiny_clip_weights / TINY_ID
    metric = CLIPTextScore(model_id=str(folder))  # a local folder as model id
    a, b = _images(2)
    captions = ["a red barn in a field", "two boats on a lake", "x"]
    got = [metric(a, b, caption=c) for c in captions]

    model = CLIPModel.from_pretrained(folder).eval()
    pixels = image_processor_class().from_pretrained(folder)(images=[b], return_tensors="pt")["pixel_values"]
    tokens = CLIPTokenizer.from_pretrained(folder)(captions, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(pixel_values=pixels, **tokens)
        cosine = (out.logits_per_image[0] / model.logit_scale.exp()).numpy()
    np.testing.assert_allclose(got, 100 * np.maximum(cosine, 0), atol=1e-3)
    assert len(set(np.round(cosine, 6))) == 3  # the captions are really told apart


def test_clip_text_without_caption_is_not_applicable(tiny_clip_weights, monkeypatch):
    monkeypatch.setenv("MTGC_LINK_WEIGHTS", str(tiny_clip_weights))
    a, b = _images(3)
    with pytest.raises(MetricNotApplicable, match="caption"):
        CLIPTextScore(model_id=TINY_ID)(a, b)
    with pytest.raises(MetricNotApplicable, match="caption"):
        CLIPTextScore(model_id=TINY_ID)(a, b, caption="  ")


def test_clip_found_in_hugging_face_cache_layout(tmp_path, tiny_clip_weights, no_caches):
    # models--<org>--<name>/snapshots/<rev>/... plus refs/main: what huggingface_hub writes.
    repo = tmp_path / "hf" / ("models--" + TINY_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.parent.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    import shutil

    shutil.copytree(tiny_clip_weights / TINY_ID, snapshot)
    metric = CLIPImageScore(model_id=TINY_ID, cache_dir=str(tmp_path / "hf"))
    assert metric.availability() == (True, None)
    a, _ = _images(4)
    assert metric(a, a) == pytest.approx(100.0, abs=1e-3)
