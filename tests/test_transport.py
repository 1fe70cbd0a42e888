"""Semantic-aware transport (mtgc_link.transport, docs/link.md): codec segments, protection profiles, the
protected budget, per-segment reception, HARQ bookkeeping, and that ``equal`` is the link as it was."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from channels import ChannelConfig, PhyConfig
from channels.mcs import slot_geometry
from mtgc_link import link as link_mod
from mtgc_link.codecs import get_codec
from mtgc_link.codecs.base import IMPORTANCE_BULK, Segment, SegmentsLost
from mtgc_link.codecs.mtgc import bitstream as bs
from mtgc_link.demo_images import resize_longer_side
from mtgc_link.link import Budget, deliver, encode_for_budget, mean_colour, run_link
from mtgc_link.transport import (
    Fit,
    Protection,
    UepMcs,
    group_seed,
    lowest_mcs,
    plan,
    segment_outcomes,
    with_mcs,
)

EXPECTED = Path(__file__).resolve().parent / "expected" / "link_equal_before_transport.json"
CAPTION = "a woman in a space suit in front of a flag"


@pytest.fixture(scope="module")
def image(astronaut) -> np.ndarray:
    return resize_longer_side(astronaut, 64)


@pytest.fixture(scope="module")
def phy() -> PhyConfig:
    # MCS 9 (QPSK, R = 0.66), 4 PRBs: a slot is 672 channel uses carrying 768 payload bits.
    return PhyConfig(channel=ChannelConfig(model="awgn"), num_prbs=4, mcs_index=9, csi="perfect")


@pytest.fixture(scope="module")
def mtgc():
    return get_codec("mtgc", profile="tiny", steps=1, seed=3, caption=CAPTION)


@pytest.fixture(scope="module")
def stream(mtgc, image) -> bytes:
    return mtgc.encode(image).data  # the default rung: header, caption, HCI, SPW


# ------------------------------------------------------------------------------------------ the segments
def test_mtgc_segments_are_its_bitstream_parts_and_join_back(mtgc, image, stream):
    segs = mtgc.segments(stream)
    assert [s.kind for s in segs] == ["header", "caption", "hci", "spw"]
    assert [s.importance for s in segs] == [0, 1, 2, 1]
    assert b"".join(s.data for s in segs) == stream
    spans = bs.parse_bitstream(stream).spans
    assert {s.kind: len(s.data) for s in segs} == {k: b - a for k, (a, b) in spans.items()}
    assert mtgc.join_segments(segs) == stream
    for rung in range(len(mtgc.ladder())):  # every rung: parts concatenate and join back to the stream
        data = mtgc.encode(image, quality=rung).data
        assert mtgc.join_segments(mtgc.segments(data)) == data
    # not an MTGC stream: one payload segment (the default of every codec)
    assert [s.kind for s in mtgc.segments(b"junk")] == ["payload"]


def test_classical_codecs_send_one_payload_segment(image):
    jpeg = get_codec("jpeg")
    data = jpeg.encode(image, quality=50).data
    assert jpeg.segments(data) == [Segment("payload", IMPORTANCE_BULK, data)]
    assert jpeg.join_segments(jpeg.segments(data)) == data
    with pytest.raises(SegmentsLost):
        jpeg.join_segments([None])


def test_a_lost_segment_costs_that_modality_only_and_a_lost_header_everything(mtgc, stream):
    segs = mtgc.segments(stream)
    for i, kind in enumerate(["caption", "hci", "spw"], start=1):
        assert segs[i].kind == kind
        got = mtgc.join_segments([None if j == i else s for j, s in enumerate(segs)])
        assert len(got) == len(stream)  # the others keep their place
        out = mtgc.decode(got)
        assert out.ok and set(out.info["dropped"]) == {kind}
        assert out.info["used"] == [m for m in bs.MODALITIES if m != kind]
    with pytest.raises(SegmentsLost) as exc:
        mtgc.join_segments([None, *segs[1:]])
    assert exc.value.failure == "header_lost"
    # a corrupted header (bytes arrived, CRC failed) is the decoder's typed failure
    bad = bytearray(segs[0].data)
    bad[5] ^= 0x20
    out = mtgc.decode(mtgc.join_segments([Segment("header", 0, bytes(bad)), *segs[1:]]))
    assert not out.ok and out.info["failure"] == "header_crc"


# ----------------------------------------------------------------------------------------------- planning
def test_plans_and_their_channel_uses(mtgc, stream, phy):
    segs = mtgc.segments(stream)
    (g,) = plan(stream, segs, "equal", phy, seed=11)
    assert (g.data, g.seed, g.mcs_index, g.segments) == (stream, 11, 9, (0, 1, 2, 3))
    k = slot_geometry(phy).tb_size
    ups = slot_geometry(phy).channel_uses
    assert g.channel_uses == math.ceil(8 * len(stream) / k) * ups

    sep = plan(stream, segs, "separate", phy, seed=11)
    assert [x.kinds for x in sep] == [("header",), ("caption",), ("hci",), ("spw",)]
    assert {x.mcs_index for x in sep} == {9} and [x.data for x in sep] == [s.data for s in segs]
    assert [x.seed for x in sep] == [group_seed(11, s.kind) for s in segs] and len({x.seed for x in sep}) == 4
    want = sum(math.ceil(8 * len(s.data) / k) for s in segs) * ups
    assert sum(x.channel_uses for x in sep) == want > g.channel_uses  # whole slots per segment

    uep = plan(stream, segs, "uep", phy, seed=11)
    # defaults: header 7 and semantic 6 MCS steps below the channel's, floored at MCS 3 (the lowest built)
    assert [x.mcs_index for x in uep] == [3, 3, 9, 3]
    hi = with_mcs(phy, 14)  # from MCS 14: the header at 7, the caption and SPWs at 8
    assert [x.mcs_index for x in plan(stream, segs, "uep", hi, 0)] == [7, 8, 14, 8]
    assert [x.seed for x in uep] == [x.seed for x in sep]  # common random numbers across separate / uep
    cost = sum(math.ceil(8 * len(x.data) / slot_geometry(with_mcs(phy, x.mcs_index)).tb_size) for x in uep)
    assert Fit(mtgc, "uep", phy, 10**6).uses(stream) == cost * ups
    custom = Protection("uep", UepMcs(header=5, semantic=12))
    assert [x.mcs_index for x in plan(stream, segs, custom, phy, 0)] == [
        5,
        9,
        9,
        9,
    ]  # never above the channel's
    assert lowest_mcs(1) == 3 and lowest_mcs(2) == 2
    with pytest.raises(ValueError, match="builds MCS 3"):
        UepMcs(header=2).mcs(0, 9, 1)

    # one segment at the channel's MCS (the classical codecs): the equal plan, whatever the profile
    one = [Segment("payload", IMPORTANCE_BULK, b"x" * 100)]
    for prot in ("separate", "uep"):
        (p1,) = plan(b"x" * 100, one, prot, phy, seed=11)
        assert (p1.seed, p1.mcs_index) == (11, 9)


# ----------------------------------------------------------------------------------- a failed segment
@pytest.mark.parametrize("crc_error", ["drop", "decode"])
@pytest.mark.parametrize("protection", ["separate", "uep"])
def test_a_failed_block_costs_exactly_its_segment(monkeypatch, mtgc, image, phy, protection, crc_error):
    """The blocks of one segment's group are sent at -10 dB (all fail), the others at 12 dB."""
    budget = Budget(cbr=0.5)
    fit = Fit(mtgc, protection, phy, budget.channel_uses(64, 64, phy))
    src = encode_for_budget(mtgc, image, budget.payload_bits(64, 64, phy), fit=fit)
    assert src.status == "ok" and src.encoded.info["modalities"] == ["caption", "hci", "spw"]
    real = link_mod.transmit_group
    for target in ("header", "caption", "hci", "spw"):

        def rigged(group, snr_db, harq_max_tx=1, target=target):
            return real(group, -10.0 if target in group.kinds else 12.0, harq_max_tx)

        monkeypatch.setattr(link_mod, "transmit_group", rigged)
        d = deliver(mtgc, src, phy, 12.0, 5, image.shape, "gray", None, crc_error, protection=protection)
        status = {s.kind: s.status for s in d.segments}
        bad = "lost" if crc_error == "drop" else "corrupted"
        assert status == {k: (bad if k == target else "delivered") for k in status}, target
        failed = [g for g, rx in zip(d.reception.groups, d.reception.receptions, strict=True) if not rx.ok]
        assert [g.kinds for g in failed] == [(target,)]
        dec = d.received.decoded
        if target == "header":
            assert d.received.status == "decode_failed" and d.received.policy_applied
            if crc_error == "drop":
                assert dec.info["failure"] == "header_lost"
            else:  # garbage bytes reach the parser: a typed header failure (magic, CRC, ...)
                assert dec.info["failure"].startswith("header_") and dec.info["failure"] != "header_lost"
        else:
            assert d.received.status == "ok", d.received.reason
            assert set(dec.info["dropped"]) == {target}
            assert dec.info["used"] == [m for m in bs.MODALITIES if m != target]
            if target == "caption":
                assert dec.info["caption"] is None
    # under equal a failed block costs the whole stream when the receiver drops CRC failures
    monkeypatch.setattr(link_mod, "transmit_group", real)
    d = deliver(mtgc, src, phy, -10.0, 5, image.shape, "gray", None, "drop", protection="equal")
    assert d.received.status == "dropped" and {s.status for s in d.segments} == {"lost"}


# ----------------------------------------------------------------------------------------------- budget
def test_the_protected_stream_fits_the_budget_and_the_row_counts_every_block(mtgc, image, phy):
    h, w = image.shape[:2]
    ups = slot_geometry(phy).channel_uses
    chosen = {}
    for slots in (2, 4, 6):
        budget = Budget(uses=slots * ups + 5)  # a partial slot is never spent
        rungs = chosen[slots] = {}
        for prot in ("equal", "separate", "uep"):
            res = run_link(image, mtgc, phy, budget, 12.0, seed=2, protection=prot, metrics=())
            assert res.source.status == "ok", res.source.reason
            rx = res.reception
            assert rx.channel_uses == rx.channel_uses_first <= budget.channel_uses(h, w, phy)  # no HARQ
            assert rx.channel_uses == sum(r.channel_uses for r in rx.receptions)
            assert rx.channel_uses == sum(g.channel_uses for g in rx.groups)
            assert math.isclose(sum(s.uses for s in res.segments), rx.channel_uses)
            assert rx.transmissions == rx.blocks and rx.mean_transmissions == 1.0
            if prot != "equal":
                assert res.source.protected_uses == rx.channel_uses_first
                assert {s.kind: s.uses for s in res.segments} == {
                    g.kinds[0]: g.channel_uses for g in rx.groups
                }
            rung = rungs[prot] = res.source.encoded.info["rung"]
            # the richest rung that fits: every richer one needs more than the budget under this protection
            fit = Fit(mtgc, prot, phy, budget.channel_uses(h, w, phy))
            for richer in range(rung):
                data = mtgc.encode(image, quality=richer).data
                assert fit.uses(data) > fit.budget_uses or 8 * len(data) > res.source.max_bits
        assert rungs["equal"] <= rungs["separate"] and rungs["equal"] <= rungs["uep"]
    # segments in whole slots of their own cost slots: at 4 slots (2 and 4 for the richest 64 px stream
    # as one stream / as four segments) equal sends the richest rung, separate and uep a lean one
    assert chosen[4]["equal"] == 0 < chosen[4]["separate"] == chosen[4]["uep"]
    assert chosen[6]["separate"] == 0


def test_a_header_that_cannot_be_protected_is_no_fit(mtgc, image, phy):
    one_slot = Budget(uses=slot_geometry(phy).channel_uses)
    eq = run_link(image, mtgc, phy, one_slot, 12.0, protection="equal", metrics=("psnr",))
    assert eq.source.status == "ok"  # one slot carries a lean stream as one block...
    for prot in ("separate", "uep"):  # ...but not a header in a block of its own plus any modality
        res = run_link(image, mtgc, phy, one_slot, 12.0, protection=prot, metrics=("psnr",), policy="gray")
        assert res.source.status == "no_fit" and res.received.status == "no_fit"
        assert res.reception is None and res.received.policy_applied
        assert f"protection {prot!r}" in res.source.reason and "header 1 slot(s)" in res.source.reason
        assert res.source.protection == prot


# ----------------------------------------------------------------------------- equal is the old link
def _normal(reason: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", reason)


def test_equal_reproduces_the_link_before_the_transport_bit_for_bit(image):
    """Cases recorded with ``deliver`` before segments existed (tests/expected/); the classical codecs are
    one segment, so ``separate`` and ``uep`` must reproduce them too."""
    ref = json.loads(EXPECTED.read_text())
    codecs = {
        "jpeg": get_codec("jpeg"),
        "bpg": get_codec("bpg"),
        "mtgc": get_codec("mtgc", **ref["mtgc_settings"]),
    }
    mean = mean_colour([image])
    sources = {}
    for case in ref["cases"]:
        codec = codecs[case["codec"]]
        ch = ChannelConfig(model=case["channel"], profile="A")
        phy = PhyConfig(channel=ch, num_prbs=ref["num_prbs"], mcs_index=ref["mcs_index"], csi=ref["csi"])
        for prot in ("equal",) if case["codec"] == "mtgc" else ("equal", "separate", "uep"):
            key = (case["codec"], case["channel"], prot)
            if key not in sources:
                budget = Budget(cbr=case["cbr"])
                fit = None if prot == "equal" else Fit(codec, prot, phy, budget.channel_uses(64, 64, phy))
                bits = budget.payload_bits(64, 64, phy)
                sources[key] = encode_for_budget(codec, image, bits, caption=ref["caption"], fit=fit)
            src = sources[key]
            assert hashlib.sha256(src.encoded.data).hexdigest() == case["sent_sha"]
            d = deliver(
                codec, src, phy, case["snr_db"], case["seed"], image.shape, "gray", mean, case["crc_error"],
                protection=prot,
            )  # fmt: skip
            rx, r = d.reception, d.received
            got = {
                "payload_sha": hashlib.sha256(rx.payload).hexdigest(),
                "tb_crc_ok": [bool(x) for x in rx.tb_crc_ok],
                "bit_errors": rx.bit_errors,
                "block_errors": rx.block_errors,
                "slots": rx.slots,
                "channel_uses": rx.channel_uses,
                "status": r.status,
                "reason": _normal(r.reason or ""),
                "image_sha": hashlib.sha256(r.image.tobytes()).hexdigest() if r.image is not None else "",
            }
            want = {k: _normal(case[k]) if k == "reason" else case[k] for k in got}
            assert got == want, (prot, case)


# ------------------------------------------------------------------------------------------------- HARQ
def test_harq_bookkeeping_sums_the_groups(mtgc, stream, phy):
    """Per-segment uses and the first-round count with retransmissions (fake receptions: no PHY)."""
    from channels.link import Reception

    segs = mtgc.segments(stream)
    groups = plan(stream, segs, "equal", phy, 0)
    ups = groups[0].uses_per_slot
    n = groups[0].slots
    tx = np.array([1] * (n - 1) + [3])
    crc = np.array([True] * (n - 1) + [False])
    rx = Reception(stream, crc, 8 * len(stream), 1, n, 1, int(tx.sum()), int(tx.sum()) * ups)
    rx.transmissions = tx  # what the PHY records with HARQ
    total = link_mod.transport.combine(groups, [rx], harq_max_tx=3)
    assert total.channel_uses_first == n * ups and total.channel_uses == int(tx.sum()) * ups
    assert total.transmissions == int(tx.sum()) and total.mean_transmissions == tx.sum() / n
    outcomes, arrived = segment_outcomes(segs, groups, [rx], "decode")
    assert math.isclose(sum(o.uses for o in outcomes), total.channel_uses)
    last = [o for o in outcomes if o.status == "corrupted"]
    assert last and last[-1].kind == segs[-1].kind  # the failed last block holds the tail of the stream
    assert arrived[-1] is not None and arrived[-1].data == segs[-1].data


def _harq_in_phy() -> bool:
    import inspect

    from channels.link import Link

    return "harq_max_tx" in inspect.signature(Link.transmit).parameters


@pytest.mark.skipif(not _harq_in_phy(), reason="channels.Link.transmit has no harq_max_tx yet")
@pytest.mark.parametrize("protection", ["separate", "uep"])
def test_harq_end_to_end(mtgc, image, phy, protection):
    """HARQ through the segmented transport: at 2.5 dB every first transmission at MCS 9 fails (AWGN cliff
    near 3 dB), so those groups retransmit (under uep the groups at MCS 3 pass at once); the encoding and the
    first round are those without HARQ."""
    budget = Budget(cbr=0.5)
    kw = dict(protection=protection, crc_error="drop", metrics=())
    one = run_link(image, mtgc, phy, budget, 2.5, seed=4, harq_max_tx=1, **kw)
    two = run_link(image, mtgc, phy, budget, 2.5, seed=4, harq_max_tx=2, **kw)
    assert two.source.encoded.data == one.source.encoded.data  # the budget limits the first round only
    rx = two.reception
    assert rx.harq_max_tx == 2 and rx.channel_uses_first == one.reception.channel_uses_first
    assert rx.channel_uses_first <= budget.channel_uses(64, 64, phy)
    ups = rx.groups[0].uses_per_slot
    assert rx.blocks < rx.transmissions <= 2 * rx.blocks
    assert rx.channel_uses == rx.channel_uses_first + (rx.transmissions - rx.blocks) * ups
    assert rx.block_errors <= one.reception.block_errors
    assert math.isclose(sum(s.uses for s in two.segments), rx.channel_uses)
    for s, g, r in zip(two.segments, rx.groups, rx.receptions, strict=True):  # one group per segment
        assert g.kinds == (s.kind,)
        assert s.uses == r.channel_uses and s.status == ("delivered" if r.ok else "lost")
        if g.mcs_index == 9:  # failed its first transmission: sent twice
            assert (np.asarray(r.transmissions) == 2).all()
    assert "HARQ <= 2 tx" in two.summary()


def test_harq_limit_is_validated(mtgc, image, phy):
    src = encode_for_budget(mtgc, image, 4000)
    with pytest.raises(ValueError, match="harq_max_tx"):
        deliver(mtgc, src, phy, 10.0, 0, image.shape, harq_max_tx=0)


# -------------------------------------------------------------------------------------------------- CLI
def test_transmit_cli_protection(tmp_path, image):
    from PIL import Image
    from typer.testing import CliRunner

    from mtgc_link.cli import app

    src_path, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(image).save(src_path)
    base = ["transmit", "--codec", "mtgc", "--set", "profile=tiny", "--set", "steps=1"]
    base += ["--set", f"caption={CAPTION}", "--snr-db", "12", "--mcs", "9", "--cbr", "0.5", "--num-prbs", "4"]
    res = CliRunner().invoke(
        app, [*base, "--protection", "uep", "--uep-mcs", "semantic=5", str(src_path), str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (
        "protection uep: header delivered (MCS 3" in res.output and "caption delivered (MCS 5" in res.output
    )
    bad = CliRunner().invoke(app, [*base, "--protection", "best", str(src_path), str(out)])
    assert bad.exit_code == 2 and "--protection" in bad.output
    bad = CliRunner().invoke(
        app, [*base, "--protection", "uep", "--uep-mcs", "header=1", str(src_path), str(out)]
    )
    assert bad.exit_code == 2 and "--uep-mcs" in bad.output
    if _harq_in_phy():  # 2.5 dB: every first transmission at MCS 9 fails, so HARQ has work to do
        args = [
            "transmit",
            "--codec",
            "jpeg",
            "--snr-db",
            "2.5",
            "--mcs",
            "9",
            "--cbr",
            "0.5",
            "--num-prbs",
            "4",
        ]
        res = CliRunner().invoke(app, [*args, "--harq-max-tx", "2", str(src_path), str(out)])
        assert res.exit_code == 0, res.output
        assert "HARQ <= 2 tx" in res.output and "first round" in res.output
