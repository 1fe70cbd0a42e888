"""Decode cache: the decoder runs once per distinct (codec settings, received bytes).

Above the MCS threshold every trial receives the sent bytes unchanged, so all those trials share one decode;
this is what makes a generative decoder (seconds per image) affordable in a sweep. The key is
sha256(codec name, backend, settings) + sha256(bytes). Entries live in memory (per process) and, when a
folder is given, on disk as ``<dir>/<codec key>/<bytes key>.png`` (decoded image, lossless) or ``.json``
(a failure and its reason), so that a resumed sweep does not decode again. Files are written to a temporary
name and renamed (a killed run leaves no half-written entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from mtgc_link.codecs.base import Decoded, SourceCodec


def codec_key(codec: SourceCodec) -> str:
    """Hash of everything that changes a codec's decoder output (name, backend, settings)."""
    blob = json.dumps([codec.name, codec.backend, codec.settings()], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class DecodeCache:
    """Wraps ``codec.decode`` with a cache. ``calls`` counts real decoder calls, ``hits`` cached answers.

    memory_items: how many decoded images to keep in memory (least recently used dropped first).
    """

    def __init__(self, codec: SourceCodec, folder: str | Path | None = None, memory_items: int = 64) -> None:
        self.codec = codec
        self.folder = Path(folder) / codec_key(codec) if folder is not None else None
        self.memory_items = memory_items
        self._mem: OrderedDict[str, Decoded] = OrderedDict()
        self.calls = 0
        self.hits = 0
        self.last_hit = False

    def decode(self, data: bytes) -> Decoded:
        """``codec.decode(data)``, from the cache when these bytes were decoded before."""
        key = hashlib.sha256(data).hexdigest()
        hit = self._mem.get(key) or self._load(key)
        self.last_hit = hit is not None
        if hit is not None:
            self.hits += 1
            self._remember(key, hit)
            return hit
        self.calls += 1
        out = self.codec.decode(data)
        self._remember(key, out)
        self._store(key, out)
        return out

    def _remember(self, key: str, dec: Decoded) -> None:
        self._mem[key] = dec
        self._mem.move_to_end(key)
        while len(self._mem) > self.memory_items:
            self._mem.popitem(last=False)

    def _load(self, key: str) -> Decoded | None:
        if self.folder is None:
            return None
        png, js = self.folder / f"{key}.png", self.folder / f"{key}.json"
        try:
            if png.is_file():
                from PIL import Image

                with Image.open(png) as im:
                    return Decoded(np.array(im.convert("RGB")), True, None, {"cached": True})
            if js.is_file():
                return Decoded.failure(json.loads(js.read_text())["reason"], cached=True)
        except (OSError, ValueError, KeyError):
            return None  # unreadable entry: decode again
        return None

    def _store(self, key: str, dec: Decoded) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        if dec.ok and dec.image is not None:
            from PIL import Image

            Image.fromarray(dec.image).save(tmp, format="PNG", compress_level=1)
            os.replace(tmp, self.folder / f"{key}.png")
        elif not dec.ok:
            tmp.write_text(json.dumps({"reason": dec.reason}))
            os.replace(tmp, self.folder / f"{key}.json")
