"""The transport axes in a sweep (docs/link.md, docs/experiments.md): existing configs keep their hashes,
keys, seeds and tasks; ``equal`` rows are the rows of before; separate / uep rows count every block against
the budget and say what became of each segment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mtgc_link.sweep.config import load_config, parse_config
from mtgc_link.sweep.grid import expand
from mtgc_link.sweep.runner import _payload_bits_fn, run_sweep

ROOT = Path(__file__).resolve().parents[1]

# Recorded before the transport axes existed (config hash; SHA-256 of every point's key and seed and of the
# tasks' image, codec, payload bits and point keys, expanded on two made-up image shapes with MCS 9 where
# the config's MCS is adaptive). These configs must keep them: their resumed rows and seeds stay valid.
BEFORE = {
    "bandwidth_sweep.yaml": (
        "45f1732afccbc728",
        "59afcdc074758607ba6e54409273cdad7e6b5aa099354b874bc43cbf5b4e72f4",
    ),
    "channels.yaml": ("e9d9560c17a1231f", "e9537d534fb33c0c1d13a4f97562949a2941071f706f6998afcebf4b9606d735"),
    "demo.yaml": ("ec98f6c372cc1353", "159219a910363bb367a239cf7f188e3cc14dd755ecbed105b01ee56cf70ab089"),
    "kodak_snr_sweep.yaml": (
        "c21df2f817327aef",
        "576eca3e3f2d1adcfb64320d4dc6c13dc511b610d6a6b988d2cecc0cb6ea09a1",
    ),
    "mtgc_tiny.yaml": (
        "9d78989c48d644a1",
        "191381e65c45a90ff9d7561426e5d035f163a982f28c7da6e530b86cbe327b98",
    ),
}
SHAPES = {"a": (64, 96, 3), "b": (128, 86, 3)}

# The mtgc_tiny.yaml sweep as it ran before (key -> rx_payload_sha, decode_status, channel uses, bits sent).
MTGC_TINY_BEFORE = {
    "mtgc(profile=tiny)|AWGN|-4dB|cbr=0.014|fixed9|astronaut|t0": (
        "8e93a83da97131c0",
        "decode_failed",
        2688,
        2408,
    ),
    "mtgc(profile=tiny)|AWGN|-4dB|cbr=0.014|fixed9|chelsea|t0": (
        "03657d3288d57f1f",
        "decode_failed",
        1344,
        1536,
    ),
    "mtgc(profile=tiny)|AWGN|2dB|cbr=0.014|fixed9|astronaut|t0": (
        "cee7ce7c8b70a13a",
        "decode_failed",
        2688,
        2408,
    ),
    "mtgc(profile=tiny)|AWGN|2dB|cbr=0.014|fixed9|chelsea|t0": (
        "4a1872900d555bba",
        "decode_failed",
        1344,
        1536,
    ),
    "mtgc(profile=tiny)|AWGN|12dB|cbr=0.014|fixed9|astronaut|t0": ("deeaa440ddbcb656", "ok", 2688, 2408),
    "mtgc(profile=tiny)|AWGN|12dB|cbr=0.014|fixed9|chelsea|t0": ("07351f6547772e62", "ok", 1344, 1536),
    "bpg|AWGN|-4dB|cbr=0.014|fixed9|astronaut|t0": ("da179330b542b795", "decode_failed", 2688, 2752),
    "bpg|AWGN|-4dB|cbr=0.014|fixed9|chelsea|t0": ("68ad9bc23d864640", "decode_failed", 1344, 1432),
    "bpg|AWGN|2dB|cbr=0.014|fixed9|astronaut|t0": ("f1c77c6d8bbf0706", "decode_failed", 2688, 2752),
    "bpg|AWGN|2dB|cbr=0.014|fixed9|chelsea|t0": ("cedf03cb52d66c6c", "decode_failed", 1344, 1432),
    "bpg|AWGN|12dB|cbr=0.014|fixed9|astronaut|t0": ("b261db332d2719b8", "ok", 2688, 2752),
    "bpg|AWGN|12dB|cbr=0.014|fixed9|chelsea|t0": ("06f8c4adac80754c", "ok", 1344, 1432),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_existing_configs_keep_hash_keys_seeds_and_tasks(name):
    cfg = load_config(ROOT / "experiments" / "configs" / name)
    mcs = cfg.mcs.fixed if cfg.mcs.fixed is not None else 9
    points, tasks = expand(cfg, SHAPES, lambda ch, snr: mcs, _payload_bits_fn(cfg))
    blob = json.dumps([[q.key, q.seed] for q in points])
    blob += json.dumps([[t.image, t.codec, t.max_bits, [q.key for q in t.points]] for t in tasks])
    assert (cfg.config_hash(), hashlib.sha256(blob.encode()).hexdigest()) == BEFORE[name]
    dumped = cfg.model_dump(mode="json")
    assert not {"protection", "harq_max_tx", "uep_mcs"} & set(dumped)  # defaults are not dumped


def test_uep_settings_enter_the_hash():
    base = yaml.safe_load((ROOT / "experiments" / "configs" / "mtgc_tiny.yaml").read_text())
    uep = parse_config({**base, "protection": ["equal", "uep"]})
    other = parse_config({**base, "protection": ["equal", "uep"], "uep_mcs": {"semantic_offset": 3}})
    assert uep.model_dump(mode="json")["uep_mcs"]["header_offset"] == 7  # a uep sweep pins its MCSs
    assert len({uep.config_hash(), other.config_hash(), parse_config(base).config_hash()}) == 3
    with pytest.raises(ValueError, match="distinct"):
        parse_config({**base, "harq_max_tx": [1, 1]})
    with pytest.raises(ValueError, match="builds MCS 3"):
        parse_config({**base, "uep_mcs": {"header": 1}})


def test_sweep_with_protections_equal_rows_are_the_rows_of_before(tmp_path):
    base = yaml.safe_load((ROOT / "experiments" / "configs" / "mtgc_tiny.yaml").read_text())
    prot = {
        "protection": ["equal", "separate", "uep"],
        "harq_max_tx": [1, 2],
        "save_images": {"max_images": 0},
    }
    res = run_sweep(parse_config({**base, **prot}), tmp_path / "s", plots=False, progress=False)
    full = res.table
    assert len(full) == 6 * len(MTGC_TINY_BEFORE)
    # HARQ: the same encodings and first rounds; retransmissions spent beyond the budget and recorded
    two = full[full["harq_max_tx"] == 2]
    two = two.set_index(two["key"].str.removesuffix("|harq=2"))
    table = full[full["harq_max_tx"] == 1].set_index("key", drop=False)
    one = table.loc[two.index]
    for col in ("stream_bits", "channel_uses_first", "seed", "blocks"):
        assert (two[col] == one[col]).all(), col
    assert (two["transmissions"] >= two["blocks"]).all()
    assert (two["transmissions"] > two["blocks"]).any()  # below the cliff blocks went twice
    assert (two["channel_uses"] >= two["channel_uses_first"]).all() and (two["mean_transmissions"] <= 2).all()
    assert (two["block_errors"] <= one["block_errors"]).all()
    table = table.reset_index(drop=True)
    eq = table[table["protection"] == "equal"].set_index("key")
    for key, (sha, status, uses, bits) in MTGC_TINY_BEFORE.items():
        row = eq.loc[key]
        assert (row.rx_payload_sha, row.decode_status, row.channel_uses, row.stream_bits) == (
            sha,
            status,
            uses,
            bits,
        )
    assert (table["channel_uses_first"] <= table["budget_uses"]).all()
    assert (table["channel_uses"] == table["channel_uses_first"]).all()  # no HARQ
    assert (table["transmissions"] == table["blocks"]).all()
    for _, row in table.iterrows():
        segs = json.loads(row.segments_rx)
        assert sum(v["uses"] for v in segs.values()) == pytest.approx(row.channel_uses)
        if row.codec_name == "mtgc":
            assert list(segs) == ["header", "caption", "hci", "spw"] and pd.isna(row.seg_payload)
            assert {row[f"seg_{k}"] for k in segs} <= {"delivered", "corrupted", "lost", "absent"}
            assert row.seg_header_uses == pytest.approx(segs["header"]["uses"])
        else:  # one segment
            assert (
                list(segs) == ["payload"]
                and pd.isna(row.seg_header)
                and row.seg_payload_uses == row.channel_uses
            )
    # BPG is one segment: every protection sends exactly its equal stream
    bpg = table[table["codec_name"] == "bpg"]
    for prot in ("separate", "uep"):
        a = bpg[bpg["protection"] == prot].set_index("seed")
        b = bpg[bpg["protection"] == "equal"].set_index("seed")
        assert (a.loc[b.index, "rx_payload_sha"] == b["rx_payload_sha"]).all()
    # MTGC under uep at MCS 9: the header and the semantic segments at MCS 3 (the floor), the HCI at MCS 9
    uep = table[(table["protection"] == "uep") & (table["codec_name"] == "mtgc")]
    for _, row in uep.iterrows():
        segs = json.loads(row.segments_rx)
        mcs = {k: v["mcs"] for k, v in segs.items() if v["status"] != "absent"}
        assert mcs == {k: m for k, m in {"header": 3, "caption": 3, "hci": 9, "spw": 3}.items() if k in mcs}
        assert row.key.endswith("|prot=uep")
    # at 2 dB (below MCS 9's AWGN cliff) equal loses the MTGC header with the rest; under uep it rides MCS 3
    # and arrives, and the decoder uses what came (at this budget four whole slots leave no room for an HCI
    # once header, caption and SPWs have a block each: the ladder drops it -- the price of separate blocks)
    low = uep[uep["snr_db"] == 2.0]
    assert (low["seg_header"] == "delivered").all() and (low["decode_status"] == "ok").all()
    assert (low["seg_hci"] == "absent").all()
    mtgc = table[table["codec_name"] == "mtgc"]
    low_eq = mtgc[(mtgc["protection"] == "equal") & (mtgc["snr_db"] == 2.0)]
    assert (low_eq["decode_status"] == "decode_failed").all() and (low_eq["seg_header"] == "corrupted").all()
