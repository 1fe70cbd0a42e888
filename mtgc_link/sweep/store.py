"""The results store: crash-safe append-only row shards, compacted to Parquet + CSV.

Layout of an output folder::

    manifest.json          config hash, name, provenance of the first run; the latest config and the history
                           of configs the folder's rows were computed under (extended sweeps); why each
                           unavailable metric is (``metrics_unavailable``: the rows only say "unavailable")
    config.yaml            the validated config of the latest run (normalised)
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

from mtgc_link.sweep.rows import current_column, metrics_unavailable, upgrade_row

#: Columns that legitimately differ between two runs (timings, who ran it, cache hits, and the hash of the
#: config a row was computed under: rows an extended sweep reuses keep the hash of their own run's config).
VOLATILE_COLUMNS = (
    "t_encode_s",
    "t_transmit_s",
    "t_decode_s",
    "t_metrics_s",
    "worker",
    "decode_cache_hit",
    "git_commit",
    "config_hash",
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
    """Every complete row in ``out_dir/rows`` (torn last lines skipped), one per key, in shard order, under
    today's column names (rows of older runs: :func:`mtgc_link.sweep.rows.upgrade_row`)."""
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
                rows.append(upgrade_row(row))
    return rows


def done_keys(out_dir: str | Path) -> set[str]:
    return {r["key"] for r in read_rows(out_dir)}


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def compact(out_dir: str | Path, order: dict[str, int] | None = None) -> pd.DataFrame:
    """Write results.parquet and results.csv (sorted by grid position ``point``) and return the table.

    order: {key: grid position} of the current config's points. Given, the table holds the rows of those
    points only, each with its position in this grid (rows of an extended sweep were computed under an older
    grid); rows of other points stay in rows/ (they return when a config includes their points again).
    """
    out_dir = Path(out_dir)
    rows = read_rows(out_dir)
    if order is not None:
        rows = [{**r, "point": order[r["key"]]} for r in rows if r["key"] in order]
    df = pd.DataFrame(rows)
    if not df.empty and "point" in df:
        df = df.sort_values("point", kind="stable").reset_index(drop=True)
    _atomic(out_dir / "results.parquet", lambda p: df.to_parquet(p, index=False))
    _atomic(out_dir / "results.csv", lambda p: df.to_csv(p, index=False))
    return df


def load_results(out_dir: str | Path) -> pd.DataFrame:
    """The results table of ``out_dir``: results.parquet if present, else the row shards (columns renamed
    since a table was written are read under today's names)."""
    out_dir = Path(out_dir)
    pq = out_dir / "results.parquet"
    if pq.is_file():
        return pd.read_parquet(pq).rename(columns=current_column)
    df = pd.DataFrame(read_rows(out_dir))
    if df.empty:
        raise FileNotFoundError(f"no results in {out_dir} (expected results.parquet or rows/*.jsonl)")
    return df.sort_values("point", kind="stable").reset_index(drop=True) if "point" in df else df


def check_output_dir(out_dir: str | Path, create: bool = True) -> Path:
    """Check that ``out_dir`` can hold a sweep's results, before any work; raise ValueError (one line naming
    the path) otherwise: an existing file, a file where a parent folder should be, or a folder this process
    cannot write. create: make the folder and write a probe file in it (False: check permissions only)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} is an existing file, not a folder; choose another --out")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ValueError(f"output folder {out}: {base} is a file, not a folder; choose another --out")
    if not create:
        if not os.access(base, os.W_OK | os.X_OK):
            raise ValueError(f"output folder {out}: {base} is not writable; choose another --out")
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ValueError(f"output folder {out} is not writable ({why}); choose another --out") from None
    return out


def read_manifest(out_dir: str | Path) -> dict | None:
    """The folder's ``manifest.json`` (None when there is none); ValueError when it cannot be read."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read ({exc}); --overwrite starts the folder again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object; --overwrite starts the folder again")
    return data


def write_manifest(out_dir: str | Path, data: dict) -> None:
    """Write ``manifest.json`` atomically (its content: ``runner.updated_manifest``), with
    ``metrics_unavailable``: {metric: why it cannot run here} for the config's metrics, as this process sees
    them (the rows of such a metric say "unavailable" instead of repeating the reason)."""
    metrics = (data.get("config") or {}).get("metrics") if isinstance(data.get("config"), dict) else None
    data = {**data, "metrics_unavailable": metrics_unavailable(metrics or [])}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic(out_dir / "manifest.json", lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True)))
