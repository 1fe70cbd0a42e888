"""Fuzz: random corruptions of real MTGC bitstreams never make decoding raise or hang.

All byte handling (header, CRCs, caption / HCI / SPW decoding) happens in ``parse_guidance``, before the
diffusion model runs, so 10,000 corruptions go through that stage and a smaller sample through the full
decode (each full decode runs the tiny UNet; timings in docs/mtgc.md).
"""

from __future__ import annotations

import os
import random
import struct
import time
import zlib

import numpy as np
import pytest

from mtgc_link.codecs import Decoded, get_codec
from mtgc_link.codecs.mtgc import bitstream as bs
from mtgc_link.codecs.mtgc.codec import Guidance
from mtgc_link.codecs.mtgc.hci import downscale

N_PARSE = 10_000
N_FULL = int(os.environ.get("MTGC_FUZZ_FULL", "30"))  # docs/mtgc.md reports a 300-case run
MAX_PARSE_S = 10.0  # "no hang": every byte-stage case must finish well within this (it takes milliseconds)
MAX_DECODE_S = 60.0  # full decode ~1 s on 2 busy cores; a hang would never end, slowness is not a hang


@pytest.fixture(scope="module")
def codec():
    return get_codec("mtgc", profile="tiny", steps=1, seed=3)


@pytest.fixture(scope="module")
def streams(codec, kodak_images, kodak_captions):
    small = downscale(kodak_images["kodim23"], 16)  # 32 x 48: the full-decode fuzz runs the UNet on it
    return [
        codec.encode(small, caption=kodak_captions["kodim23"]).data,  # all three modalities
        codec.encode(kodak_images["kodim01"], max_bits=8 * 300, caption=kodak_captions["kodim01"]).data,
        MTGCCodec_no_caption(codec).encode(downscale(kodak_images["kodim05"], 16)).data,
    ]


def MTGCCodec_no_caption(codec):  # noqa: N802 - a factory used like a class
    from mtgc_link.codecs.mtgc.codec import MTGCCodec

    c = MTGCCodec(profile=codec.profile, steps=1, seed=5)
    c._caption_for = lambda *a, **k: (None, None, "no caption (fuzz stream)")
    return c


def _resign_header(data: bytearray) -> None:
    flags = data[8] & 7
    n = bs.header_size(bin(flags).count("1")) - 4
    if len(data) >= n + 4:
        data[n : n + 4] = struct.pack(">I", zlib.crc32(bytes(data[:n])))


def corrupt(rng: random.Random, data: bytes, allow_header_resign: bool = True) -> tuple[str, bytes]:
    """One random corruption of ``data`` -> (kind, bytes)."""
    d = bytearray(data)
    kinds = ["bitflips", "burst", "truncate", "extend", "insert", "delete", "segment_garbage", "random"]
    if allow_header_resign:
        kinds.append("header_garbage")
    kind = rng.choice(kinds)
    if kind == "bitflips":
        for _ in range(rng.randint(1, 8)):
            d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
    elif kind == "burst":
        pos = rng.randrange(len(d))
        for i in range(pos, min(len(d), pos + rng.randint(1, 16))):
            d[i] = rng.randrange(256)
    elif kind == "truncate":
        d = d[: rng.randrange(len(d))]
    elif kind == "extend":
        d += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "insert":
        d.insert(rng.randrange(len(d) + 1), rng.randrange(256))
    elif kind == "delete":
        del d[rng.randrange(len(d))]
    elif kind == "segment_garbage":  # garbage with a *valid* CRC: reaches the caption/HCI/SPW decoders
        parsed = bs.parse_bitstream(data)
        name = rng.choice(list(parsed.header.modalities))
        s, e = parsed.spans[name]
        payload = bytearray(d[s : e - 2])
        if rng.random() < 0.5:
            payload = bytearray(rng.randrange(256) for _ in payload)
        else:
            for _ in range(rng.randint(1, 4)):
                payload[rng.randrange(len(payload))] ^= 1 << rng.randrange(8)
        d[s : e - 2] = payload
        d[e - 2 : e] = struct.pack(">H", bs.crc16(bytes(payload)))
    elif kind == "header_garbage":  # random field values under a valid CRC: reaches field validation
        for pos in rng.sample(range(3, 16), rng.randint(1, 4)):
            d[pos] = rng.randrange(256)
        _resign_header(d)
    else:
        d = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        if rng.random() < 0.5:
            d[:2] = b"MT"
    return kind, bytes(d)


def test_fuzz_byte_handling_stage_10k(codec, streams):
    rng = random.Random(20261126)
    outcomes: dict[str, int] = {}
    decoder_rejections = 0
    worst, t0 = 0.0, time.perf_counter()
    for _ in range(N_PARSE):
        kind, data = corrupt(rng, rng.choice(streams))
        t = time.perf_counter()
        g = codec.parse_guidance(data)  # must not raise
        worst = max(worst, time.perf_counter() - t)
        if isinstance(g, Decoded):
            assert not g.ok and g.image is None and g.info["failure"] and g.reason
            key = g.info["failure"]
        else:
            assert isinstance(g, Guidance)
            assert set(g.used) | set(g.dropped) == set(g.header.modalities)
            decoder_rejections += sum("CRC" not in r and "truncated" not in r for r in g.dropped.values())
            key = "guidance"
        outcomes[key] = outcomes.get(key, 0) + 1
    total = time.perf_counter() - t0
    print(
        f"\nparse-stage fuzz: {N_PARSE} cases in {total:.1f} s, worst case {worst * 1e3:.0f} ms, {outcomes}"
    )
    print(f"segments rejected by the caption/HCI/SPW decoders (valid CRC, bad content): {decoder_rejections}")
    assert worst < MAX_PARSE_S
    assert outcomes.get("guidance", 0) > N_PARSE // 3 and decoder_rejections > 100  # both paths exercised


def test_fuzz_full_decode(codec, streams):
    rng = random.Random(7)
    small = streams[0], streams[2]  # 32 x 48 images, 1 step: one tiny-UNet pass each
    worst, ok = 0.0, 0
    t0 = time.perf_counter()
    for _ in range(N_FULL):
        kind, data = corrupt(rng, rng.choice(small), allow_header_resign=False)
        t = time.perf_counter()
        out = codec.decode(data)  # must not raise
        worst = max(worst, time.perf_counter() - t)
        if out.ok:
            ok += 1
            h = bs.parse_bitstream(data).header
            assert out.image.shape == (h.height, h.width, 3) and out.image.dtype == np.uint8
        else:
            assert out.image is None and out.reason and out.info["failure"]
    total = time.perf_counter() - t0
    print(f"\nfull-decode fuzz: {N_FULL} cases in {total:.1f} s, worst {worst:.2f} s, {ok} ok")
    assert worst < MAX_DECODE_S and 0 < ok < N_FULL
