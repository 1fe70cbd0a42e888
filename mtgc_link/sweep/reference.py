"""Reference values of a sweep row: the lines a quality-vs-SNR figure is read against.

Each function returns a dict of row columns (plain arguments in, plain values out; no sweep objects), so
:mod:`mtgc_link.sweep.task` adds them to a row with ``row.update(...)``:

- :func:`error_free` -> ``ref_error_free_<metric>``, ``ref_error_free_status``: the codec's decode of the
  very bytes it sent, with no channel errors: the ceiling of that codec's curve at the row's budget (the
  value its rows reach above the cliff). Nothing sent (``no_fit``): the failure policy's picture, as the
  receiver would show it over a perfect channel.
- :func:`capacity_bound` -> ``ref_capacity_bound_bits``, ``ref_capacity_stream_bits``,
  ``ref_capacity_status``, ``ref_capacity_codec``, ``ref_capacity_<metric>``: the "BPG + capacity" bound
  of the deep-JSCC papers: BPG given the bits the channel could carry at capacity, decoded error-free. The
  bits are :func:`capacity_bits_for`: ``uses x log2(1 + SNR)`` over AWGN (:func:`shannon_bits`); over
  fading, the realisation's own capacity (``sum log2(1 + |h|^2 SNR)`` over its data REs, per RE, times the
  budget's uses), so each trial gets its own bound and the mean over trials is an outage-style bound (a
  realisation whose capacity is below BPG's smallest stream scores the failure policy's picture, as a real
  outage would). ``no_fit`` (no BPG setting fits): the failure policy's picture (NaN under policy ``none``).
- :func:`failure_floor` -> ``ref_floor_<metric>``: the metric of the failure policy's picture (NaN for policy
  ``none``): the plateau every curve reaches at low SNR, drawn so that it is not mistaken for decoded images.

``<metric>`` in a column name is :func:`mtgc_link.sweep.rows.metric_column` of the registered name
(snake_case: ``ref_error_free_ms_ssim``); the functions take registered names.

Memoisation: :func:`error_free` and :func:`failure_floor` take a per-task ``memo`` dict (their inputs are
fixed within a task); :func:`capacity_bound` keys its results by (image digest, codec, bytes, metrics,
policy), with the bits quantised down to whole bytes (the BPG stream is bytes anyway), so the trials of an
AWGN point and the rows of every codec at the same (image, SNR, trial) share one encode. Its default memo
is one bounded dict per process, shared by every task that process runs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from functools import lru_cache

import numpy as np

from mtgc_link.link import encode_for_budget, evaluate, fallback_image, resolve_received
from mtgc_link.sweep.rows import metric_column

#: Entries kept by the per-process capacity-bound memo (each holds a few floats).
CAPACITY_MEMO_SIZE = 4096
_CAPACITY_MEMO: OrderedDict = OrderedDict()

ERROR_FREE = "ref_error_free_"
CAPACITY = "ref_capacity_"
FLOOR = "ref_floor_"


def reference_columns(metrics) -> list[str]:
    """Every column the three reference functions add for ``metrics`` (in that order)."""
    cols = [metric_column(m) for m in metrics]
    return (
        [ERROR_FREE + c for c in cols]
        + [
            "ref_error_free_status",
            "ref_capacity_bound_bits",
            "ref_capacity_stream_bits",
            "ref_capacity_status",
        ]
        + ["ref_capacity_codec"]
        + [CAPACITY + c for c in cols]
        + [FLOOR + c for c in cols]
    )


# --------------------------------------------------------------------------------------------- capacity
def shannon_bits(uses: float, snr_db: float) -> float:
    """AWGN capacity of ``uses`` complex channel uses at ``snr_db`` (Es/N0): ``uses x log2(1 + SNR)`` bits.

    >>> shannon_bits(1000, 0.0)  # log2(2) = 1 bit per use
    1000.0
    """
    from channels.mcs import shannon_capacity_bits

    return float(shannon_capacity_bits(uses, snr_db))


def capacity_bits_for(
    uses: float, snr_db: float, capacity_bits: float | None = None, data_res: float | None = None
) -> float:
    """Bits the capacity bound gives BPG for a budget of ``uses`` channel uses at ``snr_db``.

    Without a realisation (``capacity_bits`` None: AWGN, or nothing was sent): :func:`shannon_bits`.
    With one (``Reception.capacity_bits`` = ``sum log2(1 + |h|^2 SNR)`` over the ``data_res`` data REs of the
    first transmission): that realisation's bits per RE times ``uses``, so that the bound spends every
    channel use of the budget (DMRS included) as the AWGN bound does; over AWGN the two agree exactly.

    >>> capacity_bits_for(2000, 0.0)
    2000.0
    >>> capacity_bits_for(2000, 0.0, capacity_bits=576.0, data_res=576)  # AWGN realisation: 1 bit per RE
    2000.0
    """
    if capacity_bits is None:
        return shannon_bits(uses, snr_db)
    if data_res is None:
        raise ValueError("capacity_bits_for: give data_res (the REs capacity_bits was summed over)")
    if not data_res > 0:
        return math.nan
    return float(capacity_bits) / float(data_res) * float(uses)


@lru_cache(maxsize=8)
def _reference_codec(name: str, settings_json: str):
    from mtgc_link.codecs import get_codec

    return get_codec(name, **json.loads(settings_json))


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:32] + str(image.shape)


def _remember(memo, key, value, limit: int | None) -> None:
    memo[key] = value
    if limit is not None and isinstance(memo, OrderedDict):
        memo.move_to_end(key)
        while len(memo) > limit:
            memo.popitem(last=False)


def capacity_bound(
    image: np.ndarray,
    capacity_bits: float,
    metrics,
    *,
    policy: str = "gray",
    mean_rgb=None,
    codec_name: str = "bpg",
    codec_settings: dict | None = None,
    memo: dict | None = None,
) -> dict:
    """The "BPG + capacity" reference of one row: ``codec_name`` given ``capacity_bits``, decoded error-free.

    image: the original, uint8 (H, W, 3). capacity_bits: the bound in bits (:func:`capacity_bits_for`);
    the codec gets ``8 floor(capacity_bits / 8)`` bits (whole bytes). policy, mean_rgb: the sweep's failure
    policy, used when no setting fits (``no_fit``, also for a non-positive bound). A non-finite
    ``capacity_bits`` gives NaNs (no bound known for this row). memo: a dict shared across calls (default:
    this process's bounded memo).
    """
    metrics = list(metrics)
    settings = dict(codec_settings or {})
    codec = _reference_codec(codec_name, json.dumps(settings, sort_keys=True))
    out: dict = {
        "ref_capacity_bound_bits": float(capacity_bits) if capacity_bits is not None else math.nan,
        "ref_capacity_codec": f"{codec.name} ({codec.backend})",
    }
    if capacity_bits is None or not math.isfinite(capacity_bits):
        out.update(ref_capacity_stream_bits=0, ref_capacity_status=None)
        out.update({CAPACITY + metric_column(m): math.nan for m in metrics})
        return out
    max_bits = 8 * max(0, math.floor(capacity_bits / 8.0))
    limit = CAPACITY_MEMO_SIZE if memo is None else None
    memo = _CAPACITY_MEMO if memo is None else memo
    rgb = None if mean_rgb is None else tuple(round(float(x), 6) for x in np.asarray(mean_rgb).ravel())
    key = (_digest(image), codec.name, codec.backend, json.dumps(settings, sort_keys=True), max_bits)
    key += (tuple(metrics), policy, rgb)
    if key not in memo:
        src = encode_for_budget(codec, image, max_bits)
        decoded = codec.decode(src.encoded.data) if src.encoded is not None else None
        received = resolve_received(decoded, "no_fit", image.shape, policy, mean_rgb, src.reason)
        values, _ = evaluate(image, received.image, metrics)
        status = "no_fit" if src.status == "no_fit" else received.status
        _remember(memo, key, (src.bits, status, values), limit)
    elif limit is not None:
        memo.move_to_end(key)
    stream_bits, status, values = memo[key]
    out.update(ref_capacity_stream_bits=int(stream_bits), ref_capacity_status=status)
    out.update({CAPACITY + metric_column(m): values[m] for m in metrics})
    return out


# ------------------------------------------------------------------------------------------ error-free
def error_free(
    codec,
    encoded_bytes: bytes | None,
    image: np.ndarray,
    metrics,
    decode=None,
    memo: dict | None = None,
    *,
    policy: str = "none",
    mean_rgb=None,
) -> dict:
    """The codec's decode of the bytes it sent, with no channel errors, scored against ``image``.

    encoded_bytes: the task's encoding (None when nothing fits the budget: then the failure policy's
    picture, NaN under ``policy="none"``). decode: replacement for ``codec.decode`` (the sweep's decode
    cache: the error-free decode is then the same cache entry as the rows above the cliff). memo: a dict kept
    for the task (the bytes are the task's), so the decode and the metrics run once.
    """
    metrics = list(metrics)
    key = (
        None if encoded_bytes is None else hashlib.sha256(encoded_bytes).hexdigest(),
        _digest(image),
        tuple(metrics),
        policy,
    )
    if memo is None or key not in memo:
        if encoded_bytes is None:
            received = resolve_received(None, "no_fit", image.shape, policy, mean_rgb, "nothing sent")
        else:
            decoded = (decode or codec.decode)(encoded_bytes)
            received = resolve_received(decoded, "no_fit", image.shape, policy, mean_rgb)
        values, _ = evaluate(image, received.image, metrics)
        result = {ERROR_FREE + metric_column(m): values[m] for m in metrics}
        result["ref_error_free_status"] = received.status
        if memo is None:
            return result
        memo[key] = result
    return dict(memo[key])


# ------------------------------------------------------------------------------------------ the floor
def failure_floor(image: np.ndarray, policy: str, mean_rgb, metrics, memo: dict | None = None) -> dict:
    """``ref_floor_<metric>``: the metric of the failure policy's picture against ``image``.

    policy: ``gray`` (every pixel 128), ``mean`` (``mean_rgb``, the image set's mean colour) or ``none``
    (no picture: NaN). This is where every curve ends at low SNR, whatever the codec.
    """
    metrics = list(metrics)
    rgb = None if mean_rgb is None else tuple(round(float(x), 6) for x in np.asarray(mean_rgb).ravel())
    key = ("floor", _digest(image), policy, rgb, tuple(metrics))
    if memo is not None and key in memo:
        return dict(memo[key])
    picture = fallback_image(policy, image.shape, mean_rgb)
    values, _ = evaluate(image, picture, metrics)
    result = {FLOOR + metric_column(m): values[m] for m in metrics}
    if memo is not None:
        memo[key] = result
    return dict(result)
