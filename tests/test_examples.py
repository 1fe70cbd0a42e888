"""examples/: the scripts run as a user runs them (a subprocess from the repository root), and print what
they say they print."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_link_and_sweep_example_runs_and_prints_its_numbers():
    cmd = [sys.executable, "examples/link_and_sweep.py", "--size", "64", "--codec", "bpg", "--snr-db", "30"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    # the link run (seed 1): at 30 dB every transport block of this realisation arrives and BPG decodes
    assert "link: bpg, 64x64 px, TDL-A, SNR 30 dB" in out
    m = re.search(r"^link: PSNR (\S+) dB, BLER (\S+), decode (\w+)$", out, re.M)
    assert m, out
    psnr, bler, status = float(m.group(1)), float(m.group(2)), m.group(3)
    assert math.isfinite(psnr) and psnr > 20 and bler == 0.0 and status == "ok"
    m = re.search(r"^link: (\d+) bits sent of (\d+) \(", out, re.M)
    assert m and 0 < int(m.group(1)) <= int(m.group(2)), out
    # the sweep: 3 SNRs x 2 trials of one image, with the head of its table
    assert re.search(r"^sweep: 6 rows, \d+ columns$", out, re.M), out
    head = out[out.index("sweep: 6 rows") :].splitlines()[1:8]
    columns = ["codec", "snr_db", "ebno_db", "trial", "stream_bits", "rc_quality", "bler", "decode_status"]
    assert head[0].split() == [*columns, "psnr", "ssim"]
    rows = [dict(zip(head[0].split(), line.split(), strict=True)) for line in head[1:]]
    assert [(float(r["snr_db"]), int(r["trial"])) for r in rows] == [
        (s, t) for s in (0.0, 15.0, 30.0) for t in (0, 1)
    ]
    # one encoding for every row: the link run's (same image, budget and MCS), BPG's -q chosen by rate control
    assert {int(r["stream_bits"]) for r in rows} == {int(m.group(1))}
    assert len({r["rc_quality"] for r in rows}) == 1 and 0 <= float(rows[0]["rc_quality"]) <= 51
    # Eb/N0 beside SNR: QPSK R 0.66 with its DMRS energy, the same offset at every SNR
    offsets = {round(float(r["snr_db"]) - float(r["ebno_db"]), 6) for r in rows}
    assert len(offsets) == 1 and 0 < offsets.pop() < 1
    # a realisation whose every block arrived decodes to the link run's picture; at 0 dB (below the cliff)
    # blocks fail
    clean = [r for r in rows if float(r["bler"]) == 0.0]
    assert clean and all(r["decode_status"] == "ok" and abs(float(r["psnr"]) - psnr) < 0.01 for r in clean)
    assert all(float(r["bler"]) > 0.5 for r in rows if float(r["snr_db"]) == 0.0)
