"""The captioner's real loading path: a tiny BLIP (random weights) saved to a folder and loaded back through
``Captioner`` exactly as a downloaded BLIP would be. Its captions are meaningless (random weights); the test
checks loading, the token limit and determinism, never caption quality."""

from __future__ import annotations

import pytest

from mtgc_link.codecs.mtgc.caption import Captioner, CaptionerUnavailable


@pytest.fixture(scope="module")
def tiny_blip_folder(tmp_path_factory):
    from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    folder = tmp_path_factory.mktemp("tiny_blip")
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *"abcdefghijklmnopqrstuvwxyz",
        "house",
        "sea",
        "dog",
    ]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    proc = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok
    )
    cfg = BlipConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
            bos_token_id=2,
            sep_token_id=3,
            pad_token_id=0,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    BlipForConditionalGeneration(cfg).save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder, tok


def test_tiny_blip_loads_from_folder_and_respects_token_limit(tiny_blip_folder, astronaut):
    folder, tok = tiny_blip_folder
    cap = Captioner(str(folder), max_tokens=6).load()
    assert cap._model.config.text_config.hidden_size == 16  # the saved model, not a default one
    text = cap.caption(astronaut)
    assert isinstance(text, str)
    assert len(tok(text, add_special_tokens=False).input_ids) <= 6
    assert cap.caption(astronaut) == text  # greedy decoding: deterministic


def test_non_blip_folder_is_refused_with_reason(tmp_path):
    from transformers import BertConfig

    BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(tmp_path)
    cap = Captioner(str(tmp_path))
    with pytest.raises(CaptionerUnavailable, match="expected blip"):
        cap.load()
    (tmp_path / "config.json").unlink()
    with pytest.raises(CaptionerUnavailable, match="expected blip"):  # the first reason is remembered
        cap.load()
