"""Decoding corrupted BPG (HEVC) bytes is a function of the bytes: the same stream decodes to the same pixels
in every process. The sweep's decode cache and the reproducibility of the results table rely on it.

FFmpeg requires AV_INPUT_BUFFER_PADDING_SIZE (64) zeroed bytes after every input buffer: a corrupted
stream whose parsing ran past its end read uninitialised memory, so identical demo runs decoded some
corrupted streams to different pictures (PSNR differing by up to 1.7 dB). ``hevc_decode`` now appends the
zero padding. Without it, about one process in three differed on these streams; the test runs four."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import hashlib
import numpy as np
from mtgc_link.codecs import get_codec
from mtgc_link.demo_images import load_image_set

image = load_image_set("demo", 128, None)["chelsea"]
codec = get_codec("bpg")
data = codec.encode(image, max_bits=4000).data
rng = np.random.default_rng(1)
out = []
for _ in range(60):
    d = bytearray(data)
    for i in rng.integers(40, len(d), 6):
        d[i] ^= 1 << int(rng.integers(0, 8))
    r = codec.decode(bytes(d))
    out.append(hashlib.sha256(r.image.tobytes()).hexdigest()[:12] if r.ok else "fail:" + r.reason[:40])
print("\\n".join(out))
"""


def _decode_all() -> list[str]:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, cwd=ROOT, timeout=300
    )
    return res.stdout.strip().split("\n")


def test_corrupted_bpg_decodes_identically_in_every_process():
    runs = [_decode_all() for _ in range(4)]
    assert len(runs[0]) == 60
    decoded = [h for h in runs[0] if not h.startswith("fail")]
    assert len(decoded) >= 10, "too few corrupted streams decoded: the test would check little"
    for other in runs[1:]:
        assert other == runs[0]
