"""Choose the compact profile's ``hci_init_strength`` on the BSDS500 *val* split (never on Kodak).

    python experiments/mtgc_compact/tune_init_strength.py [--bsds ../shared/data/bsds500] [--limit 16]
                                                          [--strengths 1,0.8,0.6,0.5,0.4,0.3]

For each val image: encode once at the default setting with its caption, then decode with every strength
(1 = start from pure noise, s < 1 = start from the HCI's latent noised to fraction s of the schedule) and
score PSNR, MS-SSIM, HaarPSI and GMSD against the original, beside the HCI alone upsampled bicubically.
Prints one Markdown table of means; docs/mtgc-compact.md quotes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
METRICS = ["psnr", "ms-ssim", "haarpsi", "gmsd"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bsds", type=Path, default=ROOT.parent / "shared" / "data" / "bsds500")
    ap.add_argument("--profile", default="compact")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--strengths", default="1,0.8,0.6,0.5,0.4,0.3")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    from mtgc_link.codecs.mtgc import bitstream as bs
    from mtgc_link.codecs.mtgc.codec import MTGCCodec
    from mtgc_link.codecs.mtgc.hci import decode_hci, hci_size
    from mtgc_link.metrics import compute_metrics

    strengths = [float(s) for s in args.strengths.split(",")]
    captions = json.loads((args.bsds / "captions.json").read_text())
    paths = sorted((args.bsds / "val").glob("*.jpg"))[: args.limit]
    codec = MTGCCodec(profile=args.profile)
    models = codec.models
    base = models.config
    scores: dict[str, list[dict[str, float]]] = {}
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        enc = codec.encode(image, caption=captions.get(f"val/{path.stem}"))
        stream = bs.parse_bitstream(enc.data)
        hci = decode_hci(stream.segments["hci"], hci_size(h, w, stream.header.hci_scale))
        up = np.asarray(Image.fromarray(hci).resize((w, h), Image.Resampling.BICUBIC))
        scores.setdefault("hci-bicubic", []).append(compute_metrics(image, up, METRICS)[0])
        for s in strengths:
            models.config = base.model_copy(update={"hci_init_strength": s})
            dec = codec.decode(enc.data)
            assert dec.ok, dec.reason
            scores.setdefault(f"strength {s:g}", []).append(compute_metrics(image, dec.image, METRICS)[0])
        print(path.stem, {k: round(v[-1]["psnr"], 2) for k, v in scores.items()}, flush=True)
    models.config = base
    print(f"\n{len(paths)} BSDS500 val images, default setting ({args.profile})\n")
    print("| decoder | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for name, rows in scores.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([r[m] for r in rows]):.4g}" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
