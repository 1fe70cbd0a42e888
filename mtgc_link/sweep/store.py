"""The results store: crash-safe append-only row shards, compacted to Parquet + CSV.

Layout of an output folder::

    manifest.json          config hash, name, provenance of the first run
    config.yaml            the validated config (normalised)
    rows/part-*.jsonl      one JSON row per line; every writer (process) appends to its own new shard
    results.parquet/.csv   the compacted table, sorted by grid position (rewritten atomically)
    images/original/<image>.png                              originals of the saved images
    images/<codec>/<channel>/<budget>/<image>_snr<S>.png     decoded pictures (trial 0); each row that saved
                                                             one names it in its ``image_file`` column
    cache/                 decode cache and MCS thresholds
    figures/               written by :func:`mtgc_link.plots.plot_results`

The layout helpers below are the only place that knows these paths: the runner writes through them, the
figures read through them.

Why this is safe under SIGKILL: a row is one ``write`` of one line followed by ``flush`` + ``fsync``; a kill
can only leave the last line of a shard without its newline, and :func:`read_rows` ignores such a line
(its point is simply run again). Shards are never rewritten, so finished rows cannot be lost; a key seen
twice (impossible unless two runs share a folder at once) is kept once. The compacted files are written to a
temporary name and renamed, so a reader never sees half a table.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pandas as pd

#: Columns that legitimately differ between two runs of the same config (timings, who ran it, cache hits).
VOLATILE_COLUMNS = (
    "t_encode_s",
    "t_transmit_s",
    "t_decode_s",
    "t_metrics_s",
    "worker",
    "decode_cache_hit",
    "git_commit",
)


class RowWriter:
    """Appends rows to a new shard ``rows/part-<pid>-<uuid>.jsonl`` of ``out_dir``; one per process."""

    def __init__(self, out_dir: str | Path) -> None:
        rows = Path(out_dir) / "rows"
        rows.mkdir(parents=True, exist_ok=True)
        self.path = rows / f"part-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fh = None

    def append(self, row: dict) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open across rows)
        line = json.dumps(row) + "\n"  # NaN / Infinity as Python's json writes and reads them
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def safe_name(text: str, keep: str = "-_.=") -> str:
    """``text`` as one path component: letters, digits and ``keep`` kept, everything else ``_``.

    >>> safe_name("TDL-A, cbr=0.09"), safe_name("cbr=0.09", keep="-_.")
    ('TDL-A__cbr=0.09', 'cbr_0.09')
    """
    return "".join(ch if ch.isalnum() or ch in keep else "_" for ch in str(text))


def decoded_image_path(
    out_dir: str | Path, codec: str, channel: str, budget: str, image: str, snr: float
) -> Path:
    """Where the decoded image of (codec, channel, budget, image, SNR), trial 0, is saved."""
    return (
        Path(out_dir)
        / "images"
        / safe_name(codec)
        / safe_name(channel)
        / safe_name(budget)
        / f"{safe_name(image)}_snr{snr:g}.png"
    )


def original_image_path(out_dir: str | Path, image: str) -> Path:
    return Path(out_dir) / "images" / "original" / f"{safe_name(image)}.png"


def save_png(path: Path, image) -> None:
    """Write a uint8 (H, W, 3) image atomically (a reader never sees half a file)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)


def read_rows(out_dir: str | Path) -> list[dict]:
    """Every complete row in ``out_dir/rows`` (torn last lines skipped), one per key, in shard order."""
    rows, seen = [], set()
    for shard in sorted((Path(out_dir) / "rows").glob("part-*.jsonl")):
        with open(shard, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # torn by a kill: its point runs again
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                key = row.get("key")
                if key is None or key in seen:
                    continue
                seen.add(key)
                rows.append(row)
    return rows


def done_keys(out_dir: str | Path) -> set[str]:
    return {r["key"] for r in read_rows(out_dir)}


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def compact(out_dir: str | Path) -> pd.DataFrame:
    """Write results.parquet and results.csv (sorted by grid position ``point``) and return the table."""
    out_dir = Path(out_dir)
    df = pd.DataFrame(read_rows(out_dir))
    if not df.empty and "point" in df:
        df = df.sort_values("point", kind="stable").reset_index(drop=True)
    _atomic(out_dir / "results.parquet", lambda p: df.to_parquet(p, index=False))
    _atomic(out_dir / "results.csv", lambda p: df.to_csv(p, index=False))
    return df


def load_results(out_dir: str | Path) -> pd.DataFrame:
    """The results table of ``out_dir``: results.parquet if present, else the row shards."""
    out_dir = Path(out_dir)
    pq = out_dir / "results.parquet"
    if pq.is_file():
        return pd.read_parquet(pq)
    df = pd.DataFrame(read_rows(out_dir))
    if df.empty:
        raise FileNotFoundError(f"no results in {out_dir} (expected results.parquet or rows/*.jsonl)")
    return df.sort_values("point", kind="stable").reset_index(drop=True) if "point" in df else df


def write_manifest(out_dir: str | Path, config_hash: str, name: str, extra: dict) -> None:
    """Create ``manifest.json``, or check that the folder holds results of the same config.

    Raises ValueError when ``out_dir`` already holds rows of another config (resume would mix tables).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "manifest.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("config_hash") != config_hash:
            raise ValueError(
                f"{out_dir} holds results of another config (hash {old.get('config_hash')}, this one "
                f"{config_hash}); choose another --out, or --overwrite to start again"
            )
        return
    data = {"config_hash": config_hash, "name": name, **extra}
    _atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True)))
