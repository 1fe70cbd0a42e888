"""The caption modality: a BLIP/BLIP-2 captioner and a lossless caption coder.

Caption coder (chosen by measurement, see ``compare_caption_coders`` and docs/mtgc.md): the caption's UTF-8
bytes plus an end symbol are arithmetic coded (constriction's range coder) under a *static* order-``ORDER``
byte-context model with Witten-Bell interpolation. The model's counts come from ``caption_corpus.CORPUS``
(text written for this project, disjoint from the Kodak test captions), so encoder and decoder share it
without sending anything. Any UTF-8 text round-trips exactly (unseen bytes keep a nonzero probability).
"""

from __future__ import annotations

import functools
import os
import zlib
from collections import defaultdict

import brotli
import constriction
import numpy as np

from mtgc_link.codecs.mtgc.caption_corpus import CORPUS

EOS = 256  # end-of-caption symbol; also the "before the caption" context filler
ALPHABET = 257  # 256 byte values + EOS
ORDER = 3  # context length in bytes; picked by leave-one-out on the corpus (docs/mtgc.md)
PAD = b"\xff"  # see encode_caption
MAX_CAPTION_BYTES = 320  # the decoder stops here: corrupted data can never loop forever


class CaptionDecodeError(ValueError):
    """The caption segment does not decode to a valid caption."""


class CaptionerUnavailable(RuntimeError):
    """The captioner's weights cannot be loaded; the message is one line that says why and what to do."""


# ----------------------------------------------------------------------------------------------------
# Static context model
# ----------------------------------------------------------------------------------------------------
class ContextModel:
    """Witten-Bell interpolated byte model of orders -1 (uniform) .. ``order``, counted on ``lines``.

    ``probs(context)`` -> float64 array (257,) summing to 1, for the next symbol after ``context``
    (a tuple of the previous ``order`` symbols, EOS-padded at the start).
    """

    def __init__(self, lines: list[str], order: int) -> None:
        self.order = order
        self.counts: list[dict[tuple[int, ...], np.ndarray]] = [
            defaultdict(lambda: np.zeros(ALPHABET)) for _ in range(order + 1)
        ]
        for line in lines:
            seq = [EOS] * order + list(line.encode("utf-8")) + [EOS]
            for i in range(order, len(seq)):
                for n in range(order + 1):
                    self.counts[n][tuple(seq[i - n : i])][seq[i]] += 1
        self.counts = [dict(c) for c in self.counts]
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def probs(self, context: tuple[int, ...]) -> np.ndarray:
        # Only the longest *seen* suffix matters (a longer unseen context backs off to it), so the cache is
        # keyed by that: bounded by the corpus' contexts even when decoding garbage.
        n = 0
        while n < self.order and context[len(context) - n - 1 :] in self.counts[n + 1]:
            n += 1
        key = context[len(context) - n :] if n else ()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        p = np.full(ALPHABET, 1.0 / ALPHABET)
        for m in range(n + 1):
            c = self.counts[m][key[len(key) - m :] if m else ()]
            total, distinct = c.sum(), np.count_nonzero(c)
            p = (c + distinct * p) / (total + distinct)
        self._cache[key] = p
        return p

    def context_of(self, seq: list[int], i: int) -> tuple[int, ...]:
        """The ``order`` symbols before position ``i`` of ``seq`` (EOS-padded)."""
        pad = [EOS] * max(0, self.order - i)
        return tuple(pad + seq[max(0, i - self.order) : i])


def corpus_lines() -> list[str]:
    return [ln.strip() for ln in CORPUS.splitlines() if ln.strip()]


@functools.lru_cache(maxsize=8)
def static_model(order: int = ORDER) -> ContextModel:
    return ContextModel(corpus_lines(), order)


# ----------------------------------------------------------------------------------------------------
# Arithmetic coding with constriction
# ----------------------------------------------------------------------------------------------------
def _range_encode(symbols: list[int], model: ContextModel) -> bytes:
    probs = np.stack([model.probs(model.context_of(symbols, i)) for i in range(len(symbols))])
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(
        np.asarray(symbols, dtype=np.int32), constriction.stream.model.Categorical(perfect=False), probs
    )
    return enc.get_compressed().astype(">u4").tobytes()


def _range_decode(data: bytes, model: ContextModel) -> list[int]:
    """Decode symbols up to and including EOS. Raises CaptionDecodeError on anything invalid."""
    padded = data + PAD * (-len(data) % 4)  # the encoder may have trimmed trailing bytes; see below
    words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
        out: list[int] = []
        while len(out) <= MAX_CAPTION_BYTES:
            p = model.probs(model.context_of(out, len(out)))[None, :]
            sym = int(dec.decode(constriction.stream.model.Categorical(perfect=False), p)[0])
            out.append(sym)
            if sym == EOS:
                return out
    except (
        AssertionError,
        ValueError,
        RuntimeError,
        OverflowError,
        TypeError,
    ) as exc:  # constriction asserts
        raise CaptionDecodeError(f"caption: range decoder failed ({exc})") from None
    raise CaptionDecodeError(f"caption: no end symbol within {MAX_CAPTION_BYTES} bytes")


def encode_caption(text: str, order: int = ORDER) -> bytes:
    """Caption str -> bytes (lossless). Raises ValueError naming ``caption`` if it is too long."""
    raw = text.encode("utf-8")
    if len(raw) > MAX_CAPTION_BYTES:
        raise ValueError(f"caption is {len(raw)} UTF-8 bytes; at most {MAX_CAPTION_BYTES} are allowed")
    model = static_model(order)
    symbols = list(raw) + [EOS]
    data = _range_encode(symbols, model)
    # The range coder flushes whole 32-bit words. Words are sent big-endian and the decoder pads with 0xFF,
    # which keeps the code point inside the final interval for most cuts: trailing bytes the decoder does
    # not need are dropped (saves ~1.7 bytes per Kodak caption). Each cut is verified by decoding.
    while data:
        try:
            ok = _range_decode(data[:-1], model) == symbols
        except CaptionDecodeError:
            ok = False
        if not ok:
            break
        data = data[:-1]
    return data


def decode_caption(data: bytes, order: int = ORDER) -> str:
    """bytes -> caption str. Raises CaptionDecodeError on corrupted data (never loops, never crashes)."""
    symbols = _range_decode(bytes(data), static_model(order))
    try:
        return bytes(symbols[:-1]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptionDecodeError(f"caption: not valid UTF-8 ({exc.reason})") from None


# ----------------------------------------------------------------------------------------------------
# The measurement behind the choice (docs/mtgc.md)
# ----------------------------------------------------------------------------------------------------
def _adaptive_order0_bytes(text: str) -> int:
    """Order-0 adaptive model (counts start at 1 and learn from the caption itself)."""
    symbols = list(text.encode("utf-8")) + [EOS]
    counts, rows = np.ones(ALPHABET), []
    for s in symbols:
        rows.append(counts / counts.sum())
        counts[s] += 1
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(
        np.asarray(symbols, np.int32), constriction.stream.model.Categorical(perfect=False), np.stack(rows)
    )
    return 4 * len(enc.get_compressed())


def compare_caption_coders(captions: list[str]) -> dict[str, list[int]]:
    """Bytes per caption for each candidate coder (all lossless). Keys name the coder."""
    out: dict[str, list[int]] = defaultdict(list)
    for text in captions:
        raw = text.encode("utf-8")
        out["utf-8 (no coding)"].append(len(raw))
        out["zlib level 9 (raw deflate)"].append(len(zlib.compress(raw, 9, wbits=-15)))
        out["brotli q11 text mode"].append(len(brotli.compress(raw, quality=11, mode=brotli.MODE_TEXT)))
        out["AC, adaptive order-0"].append(_adaptive_order0_bytes(text))
        for order in range(0, 6):
            out[f"AC, static order-{order} (corpus)"].append(len(encode_caption(text, order)))
    return dict(out)


def leave_one_out_bits(order: int) -> float:
    """Mean bits per caption on the corpus itself, each line coded by a model counted on the others."""
    lines = corpus_lines()
    folds, total = 10, 0.0
    for f in range(folds):
        model = ContextModel([ln for i, ln in enumerate(lines) if i % folds != f], order)
        for ln in lines[f::folds]:
            seq = list(ln.encode("utf-8")) + [EOS]
            total -= sum(np.log2(model.probs(model.context_of(seq, i))[s]) for i, s in enumerate(seq))
    return total / len(lines)


# ----------------------------------------------------------------------------------------------------
# Captioner (BLIP / BLIP-2 through transformers)
# ----------------------------------------------------------------------------------------------------
def hf_offline() -> bool:
    """HF offline mode as set in the environment now (read at call time, not import time)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().lower() in ("1", "true", "yes", "on") for v in flags)


class Captioner:
    """A BLIP or BLIP-2 captioner loaded with ``from_pretrained`` from a hub id or a local folder.

    ``caption(image uint8 (H, W, 3)) -> str`` with at most ``max_tokens`` new tokens (greedy, deterministic).
    Loading raises CaptionerUnavailable with a one-line reason when the weights are absent.
    """

    def __init__(self, model_id: str, max_tokens: int = 20, device: str | None = None) -> None:
        self.model_id, self.max_tokens, self.device = model_id, max_tokens, device or "cpu"
        self._model = self._processor = None
        self._error: str | None = None  # a failed load is remembered: no retry storm against the hub

    def _cached_locally(self) -> bool:
        if os.path.isdir(self.model_id):
            return True
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(self.model_id, "config.json"), str)

    def load(self) -> Captioner:
        if self._model is not None:
            return self
        if self._error is None and hf_offline() and not self._cached_locally():
            self._error = (
                f"captioner {self.model_id!r} unavailable (HF offline mode and not in the local cache); "
                "download it on a connected machine (`hf download <id>`), point captioner_id at a local "
                "folder, or pass a caption"
            )
        if self._error is not None:
            raise CaptionerUnavailable(self._error)
        try:
            from transformers import (
                AutoConfig,
                AutoProcessor,
                Blip2ForConditionalGeneration,
                BlipForConditionalGeneration,
            )

            kw = {"local_files_only": hf_offline() or os.path.isdir(self.model_id)}
            cfg = AutoConfig.from_pretrained(self.model_id, **kw)
            classes = {"blip": BlipForConditionalGeneration, "blip-2": Blip2ForConditionalGeneration}
            if cfg.model_type not in classes:
                raise CaptionerUnavailable(
                    f"captioner {self.model_id!r} is a {cfg.model_type!r} model; expected blip or blip-2"
                )
            self._processor = AutoProcessor.from_pretrained(self.model_id, **kw)
            self._model = classes[cfg.model_type].from_pretrained(self.model_id, **kw).to(self.device).eval()
        except CaptionerUnavailable as exc:
            self._error = str(exc)
            raise
        except (OSError, ValueError, ImportError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._error = (
                f"captioner {self.model_id!r} unavailable ({first}); download it on a connected machine "
                "(`hf download <id>`), point captioner_id at a local folder, or pass a caption"
            )
            raise CaptionerUnavailable(self._error) from None
        return self

    def caption(self, image: np.ndarray) -> str:
        import torch
        from PIL import Image

        self.load()
        inputs = self._processor(images=Image.fromarray(image), return_tensors="pt").to(self.device)
        with torch.no_grad():
            ids = self._model.generate(**inputs, max_new_tokens=self.max_tokens, do_sample=False)
        return self._processor.batch_decode(ids, skip_special_tokens=True)[0].strip()


@functools.lru_cache(maxsize=4)
def shared_captioner(model_id: str, max_tokens: int, device: str | None) -> Captioner:
    """One captioner per process and setting (loading is the slow part)."""
    return Captioner(model_id, max_tokens, device)
