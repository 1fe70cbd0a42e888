"""Measure the MTGC bit budget on an image folder: ``python -m mtgc_link.codecs.mtgc.budget [folder]``.

Prints the Markdown tables of docs/mtgc.md: the caption-coder comparison, the bytes per segment at the default
setting, and the stream size down the rate ladder. Captions come from ``captions.json`` in the folder.
With the tiny profile the SPW bytes are *structural only* (an untrained TASCM/entropy model).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import mtgc_link.codecs.mtgc.bitstream as bs
from mtgc_link.codecs.mtgc.caption import compare_caption_coders
from mtgc_link.codecs.mtgc.codec import MTGCCodec


def _stats(values: list[float]) -> str:
    """The ``mean | min | max`` cells of a table row (mean to one decimal, extremes as integers).

    Example::

        >>> _stats([1.0, 2.0, 6.0])
        '3.0 | 1 | 6'
        >>> _stats([26, 26, 24])  # e.g. header bytes over three images
        '25.3 | 24 | 26'
    """
    return f"{np.mean(values):.1f} | {min(values):.0f} | {max(values):.0f}"


def main(folder: str = "../shared/data/kodak", profile: str = "tiny") -> None:
    root = Path(folder)
    captions = json.loads((root / "captions.json").read_text())
    paths = sorted(p for p in root.glob("*.png") if p.stem in captions)
    images = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    print(f"## caption coders ({len(captions)} captions, bytes)\n")
    print("| coder | mean | min | max |\n|---|---|---|---|")
    for name, sizes in compare_caption_coders(list(captions.values())).items():
        print(f"| {name} | {_stats(sizes)} |")

    codec = MTGCCodec(profile=profile)
    print(f"\n## default setting, {codec.backend}, {codec.default_rung()}\n")
    print("| segment (bytes incl. CRC) | mean | min | max |\n|---|---|---|---|")
    rows: dict[str, list[float]] = {m: [] for m in ("header", *bs.MODALITIES, "total", "bpp x 1000")}
    for name, img in images.items():
        enc = codec.encode(img, caption=captions[name])
        for m, n in enc.info["segments"].items():
            rows[m].append(n)
        rows["total"].append(len(enc.data))
        rows["bpp x 1000"].append(1000 * enc.info["bpp"])
    for m, v in rows.items():
        print(f"| {m} | {_stats(v)} |")

    print("\n## the ladder (mean bytes over the images)\n")
    print("| rung | HCI scale | HCI -q | K | HCI | SPW | total | bpp |\n|---|---|---|---|---|---|---|---|")
    for i, rung in enumerate(codec.ladder()):
        hci, spw, total, bpp = [], [], [], []
        for name, img in images.items():
            enc = codec.encode(img, quality=i, caption=captions[name])
            hci.append(enc.info["segments"]["hci"])
            spw.append(enc.info["segments"]["spw"])
            total.append(len(enc.data))
            bpp.append(enc.info["bpp"])
        q = rung.hci_q if rung.hci_scale else "-"
        print(
            f"| {i} | {rung.hci_scale or '-'} | {q} | {rung.k} | {np.mean(hci):.0f} | {np.mean(spw):.0f} "
            f"| {np.mean(total):.0f} | {np.mean(bpp):.4f} |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
