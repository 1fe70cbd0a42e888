"""``mtgc``: the MTGC codec (caption + HCI + Semantic Pseudo-Words -> multimodal-guided diffusion decoder).

Encode: caption (user text, a captions file, or the BLIP captioner) -> caption coder; image -> HCI (BPG);
image -> SPWs (TASCM + entropy model); all packed by ``bitstream.pack_bitstream``.

Decode has two stages so that every byte is checked before any model runs:

1. ``parse_guidance(data)``: header + CRCs, then caption / HCI / SPW decoding. A bad header -> typed
   failure; a bad segment -> that guidance is dropped (``None``) and the others go on.
2. ``models.generate(...)`` with whatever guidance survived, the seed and the step count from the header.

Decoding is a pure function of the bytes (and the profile), so the sweep's decode cache is valid.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import mtgc_link.codecs.mtgc.bitstream as bs
from mtgc_link.codecs.base import (
    CODECS,
    IMPORTANCE_BULK,
    IMPORTANCE_HEADER,
    IMPORTANCE_SEMANTIC,
    Decoded,
    Encoded,
    FitTest,
    RateControlError,
    Segment,
    SegmentsLost,
    SourceCodec,
    check_image,
)
from mtgc_link.codecs.mtgc.caption import (
    CaptionDecodeError,
    CaptionerUnavailable,
    decode_caption,
    encode_caption,
    shared_captioner,
)
from mtgc_link.codecs.mtgc.hci import DEFAULT_Q, HCIDecodeError, decode_hci, encode_hci, hci_size
from mtgc_link.codecs.mtgc.ratecontrol import Rung, ladder_for
from mtgc_link.codecs.sandbox import _one_line
from mtgc_link.images import MAX_PIXELS, is_image_file

#: The most diffusion steps a stream may ask the decoder for (the header allows 255); the codec's
#: ``max_steps`` setting changes it. The profiles decode in 4 to 20 steps; each step is a UNet pass at the
#: working size (at most the profile's ``max_side`` squared, whatever the picture size): steps bound the work.
MAX_DECODE_STEPS = 64

#: Importance of each part of the stream for the transport (docs/link.md): without the header nothing
#: decodes; the caption and the SPWs are small semantic guidance (tens of bytes) the decoder can do without;
#: the HCI is the bulk (hundreds of bytes), sent at the channel's MCS even under unequal error protection.
SEGMENT_IMPORTANCE = {
    "header": IMPORTANCE_HEADER,
    "caption": IMPORTANCE_SEMANTIC,
    "spw": IMPORTANCE_SEMANTIC,
    "hci": IMPORTANCE_BULK,
}


@functools.lru_cache(maxsize=4)
def _load_models(profile: str, device: str | None):
    """The models of a profile, loaded once per process (the slow part)."""
    from mtgc_link.codecs.mtgc.profiles import load_profile

    return load_profile(profile, device=device)


@dataclass
class Guidance:
    """The output of the byte-handling stage: what the decoder will be guided by."""

    header: bs.Header
    caption: str | None = None
    hci: np.ndarray | None = None  # uint8 (ceil(H/s), ceil(W/s), 3)
    spws: Any = None  # torch.Tensor [K, D]
    used: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # modality -> why
    sizes: dict[str, int] = field(default_factory=dict)
    trailing_bytes: int = 0

    def info(self) -> dict[str, Any]:
        h = self.header
        return {
            "used": list(self.used),
            "dropped": dict(self.dropped),
            "absent": [m for m in bs.MODALITIES if m not in h.modalities],
            "caption": self.caption,
            "segments": dict(self.sizes),
            "seed": h.seed,
            "steps": h.steps,
            "k": h.k,
            "hci_scale": h.hci_scale,
            "trailing_bytes": self.trailing_bytes,
        }


def _image_key(image: np.ndarray) -> str:
    return hashlib.sha1(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()


class CaptionsFile:
    """A JSON file ``{image name or stem: caption}``. Lookup by name, or by pixel content for images that
    sit next to the file (so a sweep that only passes pixels still finds the caption of ``kodim01.png``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"captions_file {str(self.path)!r} is not a readable JSON object: {exc}"
            ) from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ValueError(f"captions_file {str(self.path)!r} must map image names to caption strings")
        self.by_name = {Path(k).stem: v for k, v in raw.items()}
        self._by_pixels: dict[str, str] | None = None

    def lookup(self, image: np.ndarray, image_id: str | None = None) -> str | None:
        if image_id is not None and Path(image_id).stem in self.by_name:
            return self.by_name[Path(image_id).stem]
        if self._by_pixels is None:
            from PIL import Image

            self._by_pixels = {}
            for p in sorted(self.path.parent.iterdir()):
                if is_image_file(p) and p.stem in self.by_name:
                    pixels = np.asarray(Image.open(p).convert("RGB"))
                    self._by_pixels[_image_key(pixels)] = self.by_name[p.stem]
        return self._by_pixels.get(_image_key(image))


@CODECS.register("mtgc")
class MTGCCodec(SourceCodec):
    """The MTGC codec. Arguments (all optional):

    profile: 'compact' (default: the project's trained model) | 'tiny' (random weights, for fast tests) |
        'reference' | a folder saved by ``save_profile``.
    steps / k / hci_scale / hci_q: the default setting (None = the profile's ``default_steps``,
        ``default_spws``, ``train_hci_factor`` and BPG QP ``hci.DEFAULT_Q``); ``k=0`` or ``hci_scale=0``
        leave that modality out. With ``max_bits`` the ladder (ratecontrol.py) picks K and the HCI.
    seed: the decoder's noise seed, written in the header.
    caption: a caption for every image (replaces the captioner); ``captions_file``: JSON name -> caption.
    device: torch device for the models (None = CPU).
    max_steps / max_pixels: the decoder's work limits (default ``MAX_DECODE_STEPS`` and
        ``mtgc_link.images.MAX_PIXELS``): a stream whose header asks for more diffusion steps or a larger
        picture is a typed failure (``failure="work_limit"``) before any model runs; ``encode`` refuses
        images and ``steps`` over them (a stream this decoder would refuse).
    """

    name = "mtgc"
    takes_caption = True
    segment_kinds = ("header", *bs.MODALITIES)
    supports_fit = True
    max_side = 0xFFFF  # the header's 16-bit height and width; any smaller size is generated and resized

    def __init__(
        self,
        profile: str = "compact",
        steps: int | None = None,
        k: int | None = None,
        hci_scale: int | None = None,
        hci_q: int | None = None,
        seed: int = 0,
        caption: str | None = None,
        captions_file: str | Path | None = None,
        device: str | None = None,
        max_steps: int = MAX_DECODE_STEPS,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        if not isinstance(profile, str) or not profile:
            raise ValueError(f"profile must be 'compact', 'tiny', 'reference' or a folder, got {profile!r}")
        for arg, v, lo, hi in (
            ("steps", steps, 1, 255),
            ("k", k, 0, 255),
            ("hci_scale", hci_scale, 0, 255),
            ("hci_q", hci_q, 0, 51),
            ("seed", seed, 0, 2**32 - 1),
            ("max_steps", max_steps, 1, 255),
            ("max_pixels", max_pixels, 1, None),
        ):
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= (v if hi is None else hi)
            ):
                span = f">= {lo}" if hi is None else f"in {lo}..{hi}"
                raise ValueError(f"{arg} must be an integer {span}, got {v!r}")
        if steps is not None and steps > max_steps:
            raise ValueError(f"steps={steps} exceeds max_steps={max_steps} (the decoder would refuse it)")
        if caption is not None and not isinstance(caption, str):
            raise TypeError(f"caption must be a str, got {type(caption).__name__}")
        self.profile, self.device, self.seed = profile, device, seed
        self.steps, self.k, self.hci_scale, self.hci_q = steps, k, hci_scale, hci_q
        self.caption = caption
        self.max_steps, self.max_pixels = max_steps, max_pixels
        self.captions = CaptionsFile(captions_file) if captions_file is not None else None
        self._cache: dict[tuple, Any] = {}

    # ------------------------------------------------------------------ models and identity
    @property
    def models(self):
        """The profile's models, loaded on first use. Absent weights -> ValueError naming what is missing."""
        from mtgc_link.codecs.mtgc.profiles import ProfileUnavailable

        try:
            return _load_models(self.profile, self.device)
        except ProfileUnavailable as exc:
            raise ValueError(f"mtgc profile {self.profile!r}: {exc}") from None

    def _memo(self, key: tuple, make):
        """Per-codec memo (bounded, FIFO) of pure work: caption/HCI/SPW encoding per image (a sweep encodes
        one image at many budgets) and SPW decoding per segment."""
        if key not in self._cache:
            if len(self._cache) >= 256:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = make()
        return self._cache[key]

    @property
    def profile_id(self) -> int:
        return bs.PROFILE_IDS.get(self.profile, bs.PROFILE_IDS["custom"])

    @property
    def backend(self) -> str:
        try:
            trained = self.models.trained
        except Exception as exc:  # ProfileUnavailable and friends: the label must not raise
            return f"mtgc-{Path(self.profile).name}(unavailable: {type(exc).__name__})"
        return f"mtgc-{Path(self.profile).name}" + ("" if trained else "(untrained)")

    def settings(self) -> dict[str, Any]:
        # steps, seed, K and the HCI scale are in the bytes; only the models change the decoder's output.
        return {"profile": self.profile}

    def default_rung(self) -> Rung:
        cfg = self.models.config
        k = cfg.default_spws if self.k is None else min(self.k, cfg.max_spws)
        scale = cfg.train_hci_factor if self.hci_scale is None else self.hci_scale
        return Rung(scale or None, DEFAULT_Q if self.hci_q is None else self.hci_q, k)

    def ladder(self) -> tuple[Rung, ...]:
        return ladder_for(self.models.config.max_spws)

    # ------------------------------------------------------------------ encode
    def _caption_for(
        self, image: np.ndarray, caption: str | None, image_id: str | None, key: str, image_caption=None
    ) -> tuple:
        """-> (caption or None, source, note). Order: argument, codec setting, captions_file, the image
        set's caption, the profile's captioner."""
        if caption is not None:
            return caption, "argument", None
        if self.caption is not None:
            return self.caption, "codec setting", None
        if self.captions is not None:
            found = self.captions.lookup(image, image_id)
            if found is not None:
                return found, f"captions_file {self.captions.path.name}", None
        if image_caption is not None:
            return image_caption, "image set", None
        cfg = self.models.config
        if cfg.captioner_id is None:
            note = f"no caption: profile {cfg.profile!r} has no captioner; pass caption or captions_file"
            return None, None, note
        try:
            captioner = shared_captioner(cfg.captioner_id, cfg.max_caption_tokens, self.device)
            text = self._memo((key, "caption"), lambda: captioner.caption(image))
            return text, f"captioner {cfg.captioner_id}", None
        except CaptionerUnavailable as exc:
            return None, None, f"no caption: {exc}"

    def encode(
        self,
        image: np.ndarray,
        max_bits: int | None = None,
        quality: float | None = None,
        *,
        caption: str | None = None,
        image_id: str | None = None,
        image_caption: str | None = None,
        fits: FitTest | None = None,
    ) -> Encoded:
        """uint8 (H, W, 3) -> Encoded. ``quality``: a ladder rung index (0 = richest); ``max_bits``: the
        first rung that fits; neither: the default setting. ``caption`` replaces every other caption source;
        ``image_id`` (a file name) selects the caption in ``captions_file``; ``image_caption`` (the image
        set's caption) is used when neither the codec setting nor the file has one. ``fits`` (with
        ``max_bits``): a rung must also pass ``fits(stream)`` -- the transport's test that the stream, cut
        into segments and protected, fits the channel budget (``mtgc_link.transport``)."""
        image = check_image(image)
        if max_bits is not None and quality is not None:
            raise ValueError("mtgc: give max_bits or quality, not both")
        if fits is not None and max_bits is None:
            raise ValueError("mtgc: fits= needs max_bits")
        h, w = image.shape[:2]  # sizes over max_side / max_pixels were refused (check_shape)
        models = self.models
        steps = self.steps or models.config.default_steps
        if steps > self.max_steps:
            raise ValueError(
                f"mtgc: the profile's default_steps={steps} exceeds max_steps={self.max_steps} "
                "(the decoder would refuse the stream); raise max_steps or set steps"
            )
        key = _image_key(image)
        text, source, note = self._caption_for(image, caption, image_id, key, image_caption)
        cap_bytes = encode_caption(text) if text is not None else None

        def build(rung: Rung) -> tuple[bytes, dict[str, Any]]:
            payloads: dict[str, bytes] = {}
            if cap_bytes is not None and rung.caption:
                payloads["caption"] = cap_bytes
            if rung.hci_scale:
                payloads["hci"] = self._memo(
                    (key, "hci", rung.hci_scale, rung.hci_q),
                    lambda: encode_hci(image, rung.hci_scale, rung.hci_q),
                )
            if rung.k > 0:
                payloads["spw"] = self._memo((key, "spw", rung.k), lambda: models.encode_spws(image, rung.k))
            header = bs.Header(
                profile_id=self.profile_id,
                height=h,
                width=w,
                seed=self.seed,
                k=rung.k,
                hci_scale=rung.hci_scale or 1,
                steps=steps,
                modalities=tuple(m for m in bs.MODALITIES if m in payloads),
            )
            return bs.pack_bitstream(header, payloads), payloads

        rung_index: int | None = None
        if max_bits is not None:
            if isinstance(max_bits, bool) or not isinstance(max_bits, int | np.integer):
                raise TypeError(f"mtgc: max_bits must be an int, got {type(max_bits).__name__}")
            smallest = None
            for i, rung in enumerate(self.ladder()):
                data, payloads = build(rung)
                if not payloads:  # e.g. the caption-only rung without a caption: nothing worth sending
                    continue
                smallest = min(8 * len(data), smallest or 8 * len(data))
                if 8 * len(data) <= max_bits and (fits is None or fits(data)):
                    rung_index = i
                    break
            else:
                raise RateControlError(self.name, int(max_bits), smallest)
        elif quality is not None:
            ladder = self.ladder()
            if isinstance(quality, bool) or quality != int(quality) or not 0 <= quality < len(ladder):
                raise ValueError(
                    f"mtgc: quality is a ladder rung index in 0..{len(ladder) - 1}, got {quality!r}"
                )
            rung_index = int(quality)
            rung = ladder[rung_index]
            data, payloads = build(rung)
        else:
            rung = self.default_rung()
            data, payloads = build(rung)
        if not payloads:
            raise ValueError(f"mtgc: {rung} sends no modality (no caption source, no HCI, K=0); {note or ''}")

        parsed = bs.parse_bitstream(data)
        info = {
            "codec": self.name,
            "backend": self.backend,
            "trained": bool(models.trained),
            "modalities": list(parsed.header.modalities),
            "segments": {m: parsed.sizes().get(m, 0) for m in ("header", *bs.MODALITIES)},
            "caption": text if "caption" in payloads else None,
            "caption_source": source if "caption" in payloads else None,
            "rung": rung_index,
            "quality": rung_index,
            "k": rung.k,
            "hci_scale": rung.hci_scale,
            "hci_q": rung.hci_q if rung.hci_scale else None,
            "steps": parsed.header.steps,
            "seed": self.seed,
            "bits": 8 * len(data),
            "bpp": 8 * len(data) / (h * w),
            "max_bits": max_bits,
        }
        if note:
            info["note"] = note
        return Encoded(data, info)

    # ------------------------------------------------------------------ segments (for the transport)
    def segments(self, data: bytes) -> list[Segment]:
        """The header, then each present modality (payload + its CRC-16) in stream order, with their
        importance (``SEGMENT_IMPORTANCE``). A stream that does not parse whole is one ``payload``."""
        try:
            parts = bs.split_parts(data)
        except ValueError:  # HeaderError included: not a stream this codec made
            return super().segments(data)
        return [Segment(kind, SEGMENT_IMPORTANCE[kind], part) for kind, part in parts]

    def join_segments(self, received: list[Segment | None]) -> bytes:
        """The stream from what arrived. A lost caption / HCI / SPW segment becomes an erasure of its length
        (from the header) that fails its CRC, so the decoder drops exactly that modality and uses the rest
        (``bitstream.join_parts``); a lost header leaves nothing to decode (``SegmentsLost``, header_lost)."""
        if len(received) == 1 and (received[0] is None or received[0].kind == "payload"):
            return super().join_segments(received)
        if not received or received[0] is None:
            raise SegmentsLost("mtgc header lost in transport: nothing can be decoded", failure="header_lost")
        return bs.join_parts(received[0].data, [s.data if s is not None else None for s in received[1:]])

    # ------------------------------------------------------------------ decode
    def parse_guidance(self, data: bytes) -> Guidance | Decoded:
        """Stage 1 of decoding: every byte is checked and decoded here. -> Guidance, or a typed failure."""
        if not isinstance(data, bytes | bytearray | memoryview):
            return Decoded.failure(f"data must be bytes, got {type(data).__name__}", failure="type")
        try:
            stream = bs.parse_bitstream(bytes(data))
        except bs.HeaderError as exc:
            return Decoded.failure(f"mtgc header: {exc}", failure=f"header_{exc.kind}")
        h = stream.header
        if h.height * h.width > self.max_pixels:
            return Decoded.failure(
                f"mtgc header: {h.height}x{h.width} = {h.height * h.width} px exceeds the decoder's "
                f"max_pixels={self.max_pixels}",
                failure="work_limit",
            )
        if h.steps > self.max_steps:
            return Decoded.failure(
                f"mtgc header: steps={h.steps} exceeds the decoder's max_steps={self.max_steps}",
                failure="work_limit",
            )
        if h.profile_id != bs.PROFILE_IDS["custom"] and self.profile_id not in (
            bs.PROFILE_IDS["custom"],
            h.profile_id,
        ):
            made_by = {v: k for k, v in bs.PROFILE_IDS.items()}.get(h.profile_id, h.profile_id)
            return Decoded.failure(
                f"mtgc: stream made by profile {made_by!r}, this decoder has {self.profile!r}",
                failure="profile_mismatch",
            )
        try:
            models = self.models
        except Exception as exc:  # ProfileUnavailable: the reason names what is missing
            return Decoded.failure(f"mtgc: {exc}", failure="profile_unavailable")
        g = Guidance(
            h, dropped=dict(stream.dropped), sizes=stream.sizes(), trailing_bytes=stream.trailing_bytes
        )
        from mtgc_link.codecs.mtgc.entropy import SPWDecodeError

        seg = stream.segments
        if "caption" in seg:
            try:
                g.caption = decode_caption(seg["caption"])
            except CaptionDecodeError as exc:
                g.dropped["caption"] = str(exc)
        if "hci" in seg:
            try:
                g.hci = decode_hci(seg["hci"], hci_size(h.height, h.width, h.hci_scale))
            except HCIDecodeError as exc:
                g.dropped["hci"] = str(exc)
        if "spw" in seg:
            if h.k > models.config.max_spws:
                g.dropped["spw"] = f"K={h.k} exceeds the profile's max_spws={models.config.max_spws}"
            else:
                try:
                    # memoized by content: decoding is pure, and the same SPW bytes recur in sweeps
                    g.spws = self._memo(
                        ("spw-decode", seg["spw"], h.k), lambda: models.decode_spws(seg["spw"], h.k)
                    )
                except SPWDecodeError as exc:
                    g.dropped["spw"] = str(exc)
        g.used = [m for m in bs.MODALITIES if m in seg and m not in g.dropped]
        return g

    def decode(self, data: bytes) -> Decoded:
        g = self.parse_guidance(data)
        if isinstance(g, Decoded):
            return g
        h = g.header
        try:
            image = self.models.generate(
                size=(h.height, h.width),
                seed=h.seed,
                caption=g.caption,
                spws=g.spws,
                hci=g.hci,
                steps=h.steps,
            )
        except Exception as exc:  # never raise from decode; the reason says what went wrong
            return Decoded.failure(f"mtgc generate failed: {_one_line(exc)}", failure="generate", **g.info())
        info = g.info()
        info.update(backend=self.backend, trained=bool(self.models.trained))
        return Decoded(np.ascontiguousarray(image), True, None, info)
