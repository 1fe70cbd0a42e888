"""``bpg``: HEVC intra as in Fabrice Bellard's BPG.

Two backends, recorded in every result (``Encoded.info["backend"]``, ``Decoded.info["backend"]``):

- ``bpgenc``: the real ``bpgenc``/``bpgdec`` when both are on PATH (``backend="auto"`` prefers them);
  the stream carries the .bpg file.
- ``libx265-pyav``: libx265 through PyAV with bpgenc 0.9.8's own x265 settings (preset veryslow,
  tune ssim, constant QP = q + 1 for 8 bits / q + 7 for 10 bits, every frame intra, psy-rd 0,
  no SEI), on BT.601 full-range YCbCr (BPG's default ``ycbcr`` colour space) in 4:4:4 or 4:2:0.
  The stream is the raw HEVC Annex-B bitstream (VPS/SPS/PPS + one slice), decoded by FFmpeg's HEVC
  decoder in PyAV.

Stream layout (both backends): a 5-byte header, then the HEVC bitstream or the .bpg file::

    byte 0: bits 7-6 kind (0 raw HEVC, 1 .bpg file), bits 5-4 ladder step, bit 3 chroma (1 = 4:4:4),
            bits 2-1 bit depth (0: 8, 1: 10, 2: 12), bit 0 reserved (0)
    bytes 1-2: width - 1, bytes 3-4: height - 1 (big endian, of the original image)

Knob: ``quality`` = BPG's ``-q``, 0..51 (lower is better; QP is clamped to HEVC's 51).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mtgc_link.codecs.base import CODECS
from mtgc_link.codecs.ratecontrol import LadderCodec, ladder_factor, scaled_size
from mtgc_link.images import MAX_PIXELS

HEADER_BYTES = 5
KIND_HEVC, KIND_BPG = 0, 1
_DEPTHS = (8, 10, 12)
_QP_OFFSET = {8: 1, 10: 7, 12: 13}  # bpgenc's x265_glue.c: "offset to match the JCTVC quality"
BPGENC_TIMEOUT_S = 120


@dataclass(frozen=True)
class BpgHeader:
    kind: int
    step: int
    chroma444: bool
    bit_depth: int
    width: int
    height: int

    def pack(self) -> bytes:
        b0 = (
            (self.kind << 6)
            | (self.step << 4)
            | (int(self.chroma444) << 3)
            | (_DEPTHS.index(self.bit_depth) << 1)
        )
        return struct.pack(">BHH", b0, self.width - 1, self.height - 1)

    @classmethod
    def unpack(cls, data: bytes) -> BpgHeader:
        """Parse and validate the header; ValueError names the bad field."""
        if len(data) <= HEADER_BYTES:
            raise ValueError(f"bpg: stream of {len(data)} bytes is too short (header is {HEADER_BYTES})")
        b0, w1, h1 = struct.unpack(">BHH", data[:HEADER_BYTES])
        kind, step, depth_code = b0 >> 6, (b0 >> 4) & 3, (b0 >> 1) & 3
        if kind not in (KIND_HEVC, KIND_BPG):
            raise ValueError(f"bpg: header kind {kind} is unknown")
        if depth_code >= len(_DEPTHS):
            raise ValueError(f"bpg: header bit-depth code {depth_code} is invalid")
        if b0 & 1:
            raise ValueError("bpg: header reserved bit is set")
        ladder_factor(step)
        return cls(kind, step, bool((b0 >> 3) & 1), _DEPTHS[depth_code], w1 + 1, h1 + 1)


# -- colour: BT.601 full range ("JPEG") YCbCr, as bpgenc's default ------------------------------------------
_RGB2YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float64
)
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def rgb_to_ycbcr(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> uint16 (3, H, W) full-range Y, Cb, Cr at ``bit_depth`` bits."""
    scale = ((1 << bit_depth) - 1) / 255.0
    ycc = image.astype(np.float64) @ _RGB2YCC.T
    ycc[..., 1:] += 128.0
    out = np.rint(ycc * scale).clip(0, (1 << bit_depth) - 1)
    return out.astype(np.uint16).transpose(2, 0, 1)


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, bit_depth: int) -> np.ndarray:
    """Full-range planes (same size) at ``bit_depth`` -> uint8 (H, W, 3) RGB."""
    scale = np.float32(255.0 / ((1 << bit_depth) - 1))
    ycc = np.stack([y, cb, cr], axis=-1).astype(np.float32) * scale
    ycc[..., 1:] -= np.float32(128.0)
    return np.rint(ycc @ _YCC2RGB.T.astype(np.float32)).clip(0, 255).astype(np.uint8)


def _down2(plane: np.ndarray) -> np.ndarray:
    """2x2 mean (chroma centred between the luma samples, as JPEG), for even-sized planes."""
    p = plane.astype(np.float64)
    return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4.0


def _up2(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear x2 upsampling matching ``_down2``'s centred siting (edge-clamped)."""
    from PIL import Image

    f = Image.fromarray(plane.astype(np.float32))  # mode "F"
    return np.asarray(f.resize((width, height), Image.Resampling.BILINEAR))


MIN_CODED_SIDE = 16  # libx265 refuses smaller pictures; smaller ones are edge-padded and cropped on decode
# libx265 also refuses pictures with a side under 32 px whose other side is over about 4200 px (measured with
# PyAV 18.1's libx265: 4208 px at preset ultrafast, 4216 at veryslow), and preset placebo any side under 32:
# those pictures are padded to ``THIN_CODED_SIDE`` a side instead.
THIN_CODED_SIDE = 32
THIN_LONG_SIDE = 4096
MAX_SIDE = 65536  # the header's 16-bit width - 1 / height - 1 fields


def padded_size(height: int, width: int, chroma444: bool, min_side: int | None = None) -> tuple[int, int]:
    """The picture size handed to x265: even for 4:2:0, at least ``min_side`` a side. ``min_side=None``:
    ``MIN_CODED_SIDE``, or ``THIN_CODED_SIDE`` when the longer side exceeds ``THIN_LONG_SIDE``."""
    if not chroma444:
        height, width = height + height % 2, width + width % 2
    if min_side is None:
        min_side = THIN_CODED_SIDE if max(height, width) > THIN_LONG_SIDE else MIN_CODED_SIDE
    return max(height, min_side), max(width, min_side)


def _min_side_for(preset: str) -> int | None:
    """The ``padded_size`` minimum an encoder preset needs (None: the default rule)."""
    return THIN_CODED_SIDE if preset == "placebo" else None


def _pix_fmt(chroma444: bool, bit_depth: int) -> str:
    return ("yuv444p" if chroma444 else "yuv420p") + ("" if bit_depth == 8 else f"{bit_depth}le")


# -- libx265 through PyAV -----------------------------------------------------------------------------------
def x265_params(qp: int, preset_threads: int | None = None) -> str:
    """bpgenc 0.9.8's x265 settings (x265_glue.c) that differ from the preset and tune."""
    params = [
        f"qp={qp}",
        "keyint=1",  # every picture intra (p->keyframeMax = 1)
        "bframes=0",
        "psy-rd=0",  # bpgenc disables psycho-visual RD (tune ssim does too; explicit for clarity)
        "psy-rdoq=0",
        "info=0",  # no encoder-version SEI (p->bEmitInfoSEI = 0)
        "hash=0",  # no decoded-picture-hash SEI (bpgenc's default)
        "repeat-headers=1",  # VPS/SPS/PPS in-band: the stream is self-contained
        "frame-threads=1",
        "log-level=none",
    ]
    return ":".join(params)


def x265_encode(planes: list[np.ndarray], chroma444: bool, bit_depth: int, qp: int, preset: str) -> bytes:
    """Encode one picture (planes Y, Cb, Cr as uint16 arrays, chroma already subsampled for 4:2:0)."""
    import av

    h, w = planes[0].shape
    fmt = _pix_fmt(chroma444, bit_depth)
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, fmt
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"preset": preset, "tune": "ssim", "x265-params": x265_params(qp)}
    frame = av.VideoFrame(w, h, fmt)
    dtype = np.uint8 if bit_depth == 8 else np.dtype("<u2")
    for plane, values in zip(frame.planes, planes, strict=True):
        view = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
        view[:, : plane.width] = values  # the plane buffer is writable; padding stays untouched
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)


#: Strict mode decodes a second time with these bytes after the stream (then the zero padding): a complete
#: HEVC slice ends with the arithmetic coder's flush, so what follows cannot change its picture; a stream cut
#: short is decoded from whatever follows, and the two pictures differ. (FFmpeg's ``err_detect`` alone lets
#: most truncated streams through: it decodes the missing slice data from the padding.)
TRUNCATION_PROBE = b"\xaa" * 8


def _hevc_frames(data: bytes, tail: bytes, max_pixels: int, strict: bool) -> list:
    import av

    ctx = av.CodecContext.create("hevc", "r")
    ctx.thread_count = 1
    ctx.options = {"max_pixels": str(max_pixels), **({"err_detect": "explode"} if strict else {})}
    try:
        # FFmpeg reads up to 64 bytes past a packet (AV_INPUT_BUFFER_PADDING_SIZE), which must be zero:
        # without them a corrupted stream decoded differently from one process to the next.
        return list(ctx.decode(av.Packet(bytes(data) + tail + bytes(64)))) + list(ctx.decode(None))
    except av.FFmpegError as exc:  # FFmpeg reports corrupt input as errno-style errors
        raise ValueError(f"HEVC decoder rejected the bitstream ({exc.strerror or exc})") from None


def _visible(plane, sample_bytes: int) -> np.ndarray:
    """A frame plane's samples without the row padding (whose bytes FFmpeg leaves undefined)."""
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, -1)
    return rows[:, : plane.width * sample_bytes]


def _same_picture(a, b, sample_bytes: int) -> bool:
    if (a.format.name, a.width, a.height) != (b.format.name, b.width, b.height):
        return False
    return all(
        np.array_equal(_visible(p, sample_bytes), _visible(q, sample_bytes))
        for p, q in zip(a.planes, b.planes, strict=True)
    )


def hevc_decode(
    data: bytes,
    width: int,
    height: int,
    chroma444: bool,
    bit_depth: int,
    max_pixels: int,
    strict: bool = True,
) -> np.ndarray:
    """Decode a raw HEVC picture with FFmpeg (inside the sandbox) -> uint8 (height, width, 3) RGB.

    ``width``/``height`` are the coded size; the picture was padded to ``padded_size`` and is cropped.
    ``strict``: a stream in which FFmpeg detects an error is a failure instead of a concealed picture
    (FFmpeg's ``err_detect=explode``), and so is a stream cut short: it is decoded a second time with
    ``TRUNCATION_PROBE`` after it, and a picture that depends on what follows the stream is refused.
    """
    import av.logging

    av.logging.set_level(None)
    frames = _hevc_frames(data, b"", max_pixels, strict)
    if len(frames) != 1:
        raise ValueError(f"bitstream holds {len(frames)} pictures, expected 1")
    frame = frames[0]
    if strict:
        again = _hevc_frames(data, TRUNCATION_PROBE, max_pixels, strict)
        if len(again) != 1 or not _same_picture(frame, again[0], 1 if bit_depth == 8 else 2):
            raise ValueError("HEVC bitstream is truncated (its picture depends on bytes past its end)")
    ph, pw = padded_size(height, width, chroma444)
    # a placebo-preset encoder pads to THIN_CODED_SIDE (the preset is not in the stream): both are valid
    sizes = {(pw, ph), tuple(reversed(padded_size(height, width, chroma444, THIN_CODED_SIDE)))}
    want = _pix_fmt(chroma444, bit_depth)
    if frame.format.name != want or (frame.width, frame.height) not in sizes:
        raise ValueError(
            f"decoded {frame.format.name} {frame.width}x{frame.height}, header says {want} {pw}x{ph}"
        )
    ph, pw = frame.height, frame.width
    dtype = np.uint8 if bit_depth == 8 else np.dtype("<u2")
    planes = [
        np.frombuffer(p, dtype=dtype).reshape(p.height, -1)[:, : p.width].astype(np.float32)
        for p in frame.planes
    ]
    if not chroma444:
        planes[1:] = [_up2(c, ph, pw) for c in planes[1:]]
    return ycbcr_to_rgb(*planes, bit_depth)[:height, :width]


# -- real bpgenc / bpgdec ----------------------------------------------------------------------------------
def bpg_tools() -> tuple[str, str] | None:
    enc, dec = shutil.which("bpgenc"), shutil.which("bpgdec")
    return (enc, dec) if enc and dec else None


def bpgdec_decode(data: bytes, width: int, height: int, max_pixels: int) -> np.ndarray:
    """Decode a .bpg file with the real bpgdec (a subprocess, so already isolated) -> uint8 RGB."""
    from PIL import Image

    tools = bpg_tools()
    if tools is None:
        raise ValueError("stream was made by bpgenc but bpgdec is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.bpg"), Path(tmp, "out.png")
        src.write_bytes(data)
        res = subprocess.run([tools[1], "-o", str(dst), str(src)], capture_output=True, timeout=15)
        if res.returncode != 0 or not dst.exists():
            raise ValueError(f"bpgdec failed (status {res.returncode})")
        with Image.open(dst) as im:
            if im.size != (width, height) or width * height > max_pixels:
                raise ValueError(f"bpgdec gave {im.size[0]}x{im.size[1]}, header says {width}x{height}")
            return np.asarray(im.convert("RGB"))


@CODECS.register("bpg")
class BpgCodec(LadderCodec):
    """BPG (HEVC intra). Settings: ``chroma`` '444' | '420', ``bit_depth`` 8 | 10 | 12,
    ``preset`` (x265 preset, bpgenc uses 'veryslow'), ``backend`` 'auto' | 'bpgenc' | 'libx265',
    ``strict`` (a stream with a detected error fails rather than decoding to a concealed picture)."""

    name = "bpg"
    max_side = MAX_SIDE  # any smaller size is coded (edge-padded for libx265, cropped on decode)
    levels = tuple(range(51, -1, -1))  # worst -> best: BPG -q 51 .. 0
    default_quality = 28  # bpgenc's default -q
    knob = "BPG -q, lower is better"

    def __init__(
        self,
        chroma: str = "444",
        bit_depth: int = 8,
        preset: str = "veryslow",
        backend: str = "auto",
        max_pixels: int = MAX_PIXELS,
        strict: bool = True,
    ) -> None:
        chroma = str(chroma).replace(":", "")
        if chroma not in ("444", "420"):
            raise ValueError(f"bpg: chroma must be '444' or '420', got {chroma!r}")
        if int(bit_depth) not in _DEPTHS:
            raise ValueError(f"bpg: bit_depth must be one of {_DEPTHS}, got {bit_depth!r}")
        if backend not in ("auto", "bpgenc", "libx265"):
            raise ValueError(f"bpg: backend must be 'auto', 'bpgenc' or 'libx265', got {backend!r}")
        if backend == "bpgenc" and bpg_tools() is None:
            raise ValueError("bpg: backend='bpgenc' but bpgenc/bpgdec are not on PATH")
        self.chroma444, self.bit_depth, self.preset = chroma == "444", int(bit_depth), preset
        self.use_bpgenc = backend == "bpgenc" or (backend == "auto" and bpg_tools() is not None)
        self.max_pixels, self.strict = int(max_pixels), bool(strict)

    @property
    def backend(self) -> str:
        return "bpgenc" if self.use_bpgenc else "libx265-pyav"

    def backend_version(self) -> str:
        if self.use_bpgenc:
            return "bpgenc " + (bpg_tools() or ("?",))[0]
        import av

        return f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}"

    def settings(self) -> dict[str, Any]:
        return {
            "chroma": "444" if self.chroma444 else "420",
            "bit_depth": self.bit_depth,
            "preset": self.preset,
            "backend": self.backend,
            "strict": self.strict,
        }

    def qp(self, q: int) -> int:
        return min(51, int(q) + _QP_OFFSET[self.bit_depth])

    def encode_stream(self, coded: np.ndarray, level: float, height: int, width: int, step: int) -> bytes:
        kind = KIND_BPG if self.use_bpgenc else KIND_HEVC
        header = BpgHeader(kind, step, self.chroma444, self.bit_depth, width, height).pack()
        if self.use_bpgenc:
            return header + self._bpgenc(coded, int(level))
        ycc = rgb_to_ycbcr(coded, self.bit_depth)
        h, w = coded.shape[:2]
        ph, pw = padded_size(h, w, self.chroma444, _min_side_for(self.preset))
        ycc = np.pad(ycc, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")  # edge replication
        if self.chroma444:
            planes = list(ycc)
        else:  # 2x2-average the chroma
            top = (1 << self.bit_depth) - 1
            planes = [ycc[0]] + [np.rint(_down2(c)).clip(0, top).astype(np.uint16) for c in ycc[1:]]
        return header + x265_encode(planes, self.chroma444, self.bit_depth, self.qp(int(level)), self.preset)

    def _bpgenc(self, coded: np.ndarray, q: int) -> bytes:
        from PIL import Image

        tools = bpg_tools()
        assert tools is not None
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp, "in.png"), Path(tmp, "out.bpg")
            Image.fromarray(coded).save(src)
            cmd = [tools[0], "-q", str(q), "-f", "444" if self.chroma444 else "420", "-c", "ycbcr"]
            cmd += ["-b", str(self.bit_depth), "-o", str(dst), str(src)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=BPGENC_TIMEOUT_S)
            return dst.read_bytes()

    def decode_plan(self, data: bytes) -> tuple[str, bytes, dict[str, Any]]:
        hdr = BpgHeader.unpack(data)
        payload = data[HEADER_BYTES:]
        h, w = scaled_size(hdr.height, hdr.width, hdr.step)
        if hdr.kind == KIND_BPG:
            if not payload.startswith(b"BPG\xfb"):
                raise ValueError("bpg: payload is not a .bpg file (bad magic)")
            return (
                "mtgc_link.codecs.bpg:bpgdec_decode",
                payload,
                {"width": w, "height": h, "max_pixels": self.max_pixels},
            )
        if not (payload.startswith(b"\x00\x00\x00\x01") or payload.startswith(b"\x00\x00\x01")):
            raise ValueError("bpg: payload is not an HEVC Annex-B bitstream (no start code)")
        if w * h > self.max_pixels:
            raise ValueError(
                f"bpg: header claims {hdr.width}x{hdr.height}, over max_pixels={self.max_pixels}"
            )
        kwargs = {
            "width": w,
            "height": h,
            "chroma444": hdr.chroma444,
            "bit_depth": hdr.bit_depth,
            # FFmpeg checks the 64-aligned picture; anything much larger is a corrupted SPS
            "max_pixels": 2
            * (padded_size(h, w, hdr.chroma444, THIN_CODED_SIDE)[0] + 64)
            * (padded_size(h, w, hdr.chroma444, THIN_CODED_SIDE)[1] + 64),
            "strict": self.strict,
        }
        return "mtgc_link.codecs.bpg:hevc_decode", payload, kwargs

    def finish(self, data: bytes, coded: np.ndarray) -> tuple[int, int, int]:
        hdr = BpgHeader.unpack(data)
        want = scaled_size(hdr.height, hdr.width, hdr.step)
        if coded.shape[:2] != want:
            raise ValueError(
                f"bpg: decoded {coded.shape[1]}x{coded.shape[0]}, header says {want[1]}x{want[0]}"
            )
        return hdr.step, hdr.height, hdr.width
