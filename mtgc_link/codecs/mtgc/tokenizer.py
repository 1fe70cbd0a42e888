"""A tiny offline tokenizer for the ``tiny`` profile: byte-level, 256 byte tokens + <bos>/<eos>/<pad>.

Built from nothing (no download) with the ``tokenizers`` library and wrapped in transformers'
``PreTrainedTokenizerFast`` so that it has the interface, ``save_pretrained`` and ``from_pretrained`` of the
CLIP tokenizer of the reference profile. Ids: bytes 0..255, then <bos>=256, <eos>=257, <pad>=258.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD = "<|startoftext|>", "<|endoftext|>", "<|pad|>"


def build_byte_tokenizer(max_length: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: every UTF-8 byte is one token, so any caption is representable.

    Input: ``max_length`` (padding/truncation length, including <bos> and <eos>).
    """
    byte_chars = list(pre_tokenizers.ByteLevel.alphabet())
    # ByteLevel.alphabet() is unordered; sort by the byte each printable stand-in encodes for stable ids.
    byte_chars.sort(key=_byte_of_char)
    vocab = {ch: i for i, ch in enumerate(byte_chars)}
    vocab.update({BOS: 256, EOS: 257, PAD: 258})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, 256), (EOS, 257)]
    )
    tok.add_special_tokens([BOS, EOS, PAD])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=max_length
    )


def _byte_of_char(ch: str) -> int:
    """Inverse of GPT-2's bytes_to_unicode map (printable bytes map to themselves, others to U+0100+)."""
    code = ord(ch)
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    if code in printable:
        return code
    others = [b for b in range(256) if b not in printable]
    return others[code - 256]
