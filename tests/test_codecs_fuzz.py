"""Corrupted bitstreams never escape ``decode`` as exceptions, crashes or hangs.

2,000 seeded corruptions per codec of real streams (bit flips, truncation, garbage, zero length,
header-only edits, byte insertions/deletions, splices of two streams) of a small image.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from mtgc_link.codecs import get_codec
from mtgc_link.codecs.sandbox import DecodeSandbox, get_sandbox

N_CORRUPTIONS = 2000
TIME_LIMIT_S = 10.0  # per decode; a hang would be cut here and reported as a failure

# fast encoder settings: the decoders (what is fuzzed) are the same for every preset/speed
# max_pixels: a corrupted size field may claim a big picture; decoding megapixels of garbage is
# legitimate but slow, so the fuzz caps it lower than the default (64 Mpx).
_CAP = {"max_pixels": 2**18}
FUZZ_CODECS = {
    "jpeg": ({**_CAP}, [20, 80]),
    "webp": ({"method": 4, **_CAP}, [20, 80]),
    "jpeg2000": ({**_CAP}, [0.5, 2.0]),
    "avif": ({"speed": 10, **_CAP}, [30, 70]),
    "bpg": ({"preset": "ultrafast", **_CAP}, [40, 25]),
}


@pytest.fixture(scope="module")
def small_image(astronaut) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((72, 56), Image.Resampling.LANCZOS))


def corruptions(streams: list[bytes], header_len: int, rng: np.random.Generator):
    """Yield (kind, corrupted bytes): a seeded mix of the usual transmission and adversarial faults."""
    kinds = ["flip1", "flips", "burst", "truncate", "garbage", "zero", "header", "insert", "delete", "splice"]
    for i in range(N_CORRUPTIONS):
        kind = kinds[i % len(kinds)]
        src = streams[int(rng.integers(len(streams)))]
        buf = bytearray(src)
        n = len(buf)
        if kind == "flip1":
            pos = int(rng.integers(8 * n))
            buf[pos // 8] ^= 1 << (pos % 8)
        elif kind == "flips":
            for pos in rng.integers(8 * n, size=int(rng.integers(2, 40))):
                buf[pos // 8] ^= 1 << int(pos % 8)
        elif kind == "burst":
            start = int(rng.integers(n))
            length = int(rng.integers(1, 64))
            seg = len(buf[start : start + length])
            buf[start : start + length] = rng.integers(256, size=seg, dtype=np.uint8).tobytes()
        elif kind == "truncate":
            buf = buf[: int(rng.integers(n))]
        elif kind == "garbage":
            buf = bytearray(rng.integers(256, size=int(rng.integers(1, 2 * n)), dtype=np.uint8).tobytes())
            if rng.random() < 0.5:  # keep a valid-looking header so the payload reaches the decoder
                buf[:header_len] = src[:header_len]
        elif kind == "zero":
            buf = bytearray() if rng.random() < 0.5 else bytearray(int(rng.integers(1, n)))
        elif kind == "header":  # edits confined to our header and the codec's own first bytes
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(min(n, header_len + 24)))
                buf[pos] = int(rng.integers(256))
        elif kind == "insert":
            pos = int(rng.integers(n))
            buf[pos:pos] = rng.integers(256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        elif kind == "delete":
            pos = int(rng.integers(n))
            del buf[pos : pos + int(rng.integers(1, 16))]
        else:  # splice: the head of one stream with the tail of another
            other = streams[int(rng.integers(len(streams)))]
            cut = int(rng.integers(1, n))
            buf = bytearray(src[:cut] + other[int(rng.integers(len(other))) :])
        yield kind, bytes(buf)


@pytest.mark.parametrize("name", sorted(FUZZ_CODECS))
def test_corrupted_streams_never_escape(name, small_image):
    settings, qualities = FUZZ_CODECS[name]
    codec = get_codec(name, **settings)
    sandbox = get_sandbox()
    old_timeout, sandbox.timeout_s = sandbox.timeout_s, TIME_LIMIT_S
    try:
        streams = [codec.encode(small_image, quality=q).data for q in qualities]
        # a laddered stream (step 1) too: its header restores the size
        streams.append(codec.encode_at(small_image, qualities[0], 1))
        for s in streams:
            clean = codec.decode(s)
            assert clean.ok, clean.reason
            assert clean.image.shape == small_image.shape
        header_len = 5 if name == "bpg" else 1
        rng = np.random.default_rng(20261126)
        outcomes = {"ok": 0, "failed": 0}
        slowest = 0.0
        for kind, data in corruptions(streams, header_len, rng):
            t0 = time.monotonic()
            res = codec.decode(data)  # must not raise
            slowest = max(slowest, time.monotonic() - t0)
            if res.ok:
                outcomes["ok"] += 1
                assert res.image.dtype == np.uint8 and res.image.ndim == 3 and res.image.shape[2] == 3, kind
                assert res.image.size > 0
            else:
                outcomes["failed"] += 1
                assert isinstance(res.reason, str) and res.reason and "\n" not in res.reason, (
                    kind,
                    res.reason,
                )
                assert res.image is None
                assert "timed out" not in res.reason, f"{kind}: decoder hung: {res.reason}"
        assert sum(outcomes.values()) == N_CORRUPTIONS
        assert slowest < TIME_LIMIT_S + 5
        # zero-length and garbage always fail; most corruptions of a compressed stream are detected
        assert outcomes["failed"] >= N_CORRUPTIONS // 10
        # the worker still decodes a clean stream after all that
        assert codec.decode(streams[0]).ok
    finally:
        sandbox.timeout_s = old_timeout


def test_sandbox_contains_crash_and_hang():
    """A segfaulting or endlessly looping decoder becomes a failure and the worker is restarted."""
    box = DecodeSandbox(timeout_s=1.5)
    try:
        ok = box.call("mtgc_link.codecs.sandbox:probe_echo", b"\x01\x02\x03")
        assert ok.ok and ok.array.ravel().tolist() == [1, 2, 3]
        crash = box.call("mtgc_link.codecs.sandbox:probe_crash", b"x")
        assert not crash.ok and "signal 11" in crash.reason
        t0 = time.monotonic()
        hang = box.call("mtgc_link.codecs.sandbox:probe_hang", b"x")
        assert not hang.ok and "timed out" in hang.reason
        assert 1.4 < time.monotonic() - t0 < 6
        again = box.call("mtgc_link.codecs.sandbox:probe_echo", b"\x07")
        assert again.ok and again.array.ravel().tolist() == [7]
        assert box.starts == 3  # first start + restart after the crash + restart after the hang
        refused = box.call("os:system", b"x")
        assert not refused.ok and "mtgc_link.codecs" in refused.reason
    finally:
        box.close()
