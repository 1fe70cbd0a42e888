"""Measure the shipped `compact` MTGC on the 24 Kodak images for its model card (docs/mtgc-compact.md).

    python experiments/mtgc_compact/evaluate.py [--kodak ../shared/data/kodak] [--out docs/mtgc-compact]
                                                [--limit N] [--threads 2]

Writes ``results.csv`` (one row per image x variant), ``summary.json`` (means) and two figures
(``examples.png``: original | HCI bicubic | BPG at equal bits | MTGC-compact; ``loss_curves.png`` from the
training logs shipped with the weights) into --out, and prints the tables of the model card as Markdown.

Variants, all at the caption of kodak/captions.json unless said otherwise:
  mtgc@default, mtgc@rung2, mtgc@rung7   the default setting and two rungs of the rate ladder
  hci-bicubic@<setting>                  the HCI of that stream alone, upsampled bicubically
  bpg@<setting>                          BPG (libx265 or bpgenc) given the same number of bits (resolution
                                         ladder below its floor)
  ablation: no-spw, no-hci, no-caption   the default setting with one modality left out
  random                                 the same architecture with seeded random weights
Kodak is the evaluation set: nothing here feeds back into training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
METRICS = ["psnr", "ms-ssim", "haarpsi", "gmsd", "vif", "lpips-alex", "dists", "clip-text"]
RUNGS = {"default": None, "rung2": 2, "rung7": 7}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "mtgc-compact")
    ap.add_argument("--profile", default="compact")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import pandas as pd
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    from mtgc_link.codecs import get_codec
    from mtgc_link.codecs.mtgc import bitstream as bs
    from mtgc_link.codecs.mtgc.codec import MTGCCodec
    from mtgc_link.codecs.mtgc.hci import decode_hci, hci_size
    from mtgc_link.codecs.mtgc.profiles import build_random, load_profile, save_profile
    from mtgc_link.metrics import compute_metrics

    captions = json.loads((args.kodak / "captions.json").read_text())
    paths = sorted(args.kodak.glob("kodim*.png"))[: args.limit]
    models = load_profile(args.profile, device="cpu")
    if not models.trained:
        sys.exit(f"profile {args.profile!r} is untrained: nothing to evaluate")
    tmp = Path(tempfile.mkdtemp())
    random_dir = save_profile(
        build_random(models.config.model_copy(update={"profile": "compact-random"})), tmp
    )

    mtgc = MTGCCodec(profile=args.profile)
    variants = {
        "no-spw": MTGCCodec(profile=args.profile, k=0),
        "no-hci": MTGCCodec(profile=args.profile, hci_scale=0),
        "random": MTGCCodec(profile=str(random_dir)),
    }
    bpg = get_codec("bpg")
    rows: list[dict] = []
    unavailable: dict[str, str] = {}
    examples: dict[str, dict[str, np.ndarray]] = {}

    def score(name, image, recon, variant, setting, stream=None, extra=None) -> None:
        values, why = compute_metrics(image, recon, METRICS, caption=captions.get(name))
        unavailable.update(why)
        row = dict(image=name, variant=variant, setting=setting, **values)
        if stream is not None:
            seg = bs.parse_bitstream(stream).sizes()
            row.update(bytes=len(stream), bpp=8 * len(stream) / (image.shape[0] * image.shape[1]))
            row.update({f"bytes_{m}": seg.get(m, 0) for m in ("header", *bs.MODALITIES)})
        row.update(extra or {})
        rows.append(row)

    t_start = time.perf_counter()
    for i, path in enumerate(paths):
        name = path.stem
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        cap = captions.get(name)
        for setting, rung in RUNGS.items():
            enc = mtgc.encode(image, quality=rung, caption=cap)
            t0 = time.perf_counter()
            dec = mtgc.decode(enc.data)
            t_dec = time.perf_counter() - t0
            assert dec.ok, dec.reason
            score(
                name,
                image,
                dec.image,
                "mtgc",
                setting,
                enc.data,
                {
                    "t_decode_s": t_dec,
                    "k": enc.info["k"],
                    "hci_scale": enc.info["hci_scale"],
                    "hci_q": enc.info["hci_q"],
                },
            )
            stream = bs.parse_bitstream(enc.data)
            hci = decode_hci(stream.segments["hci"], hci_size(h, w, stream.header.hci_scale))
            up = np.asarray(Image.fromarray(hci).resize((w, h), Image.Resampling.BICUBIC))
            score(name, image, up, "hci-bicubic", setting, extra={"bytes": len(stream.segments["hci"])})
            b = bpg.encode(image, max_bits=8 * len(enc.data))
            bdec = bpg.decode(b.data)
            score(
                name,
                image,
                bdec.image,
                "bpg",
                setting,
                extra={
                    "bytes": len(b.data),
                    "backend": bpg.backend,
                    "ladder_step": b.info.get("ladder_step", 0),
                },
            )
            if setting == "default":
                examples[name] = {"original": image, "hci": up, "bpg": bdec.image, "mtgc": dec.image}
        for variant, codec in variants.items():
            enc = codec.encode(image, caption=cap)
            dec = codec.decode(enc.data)
            assert dec.ok, dec.reason
            score(name, image, dec.image, variant, "default", enc.data)
        enc = mtgc.encode(image)  # no caption source at all: the caption segment is absent
        score(name, image, mtgc.decode(enc.data).image, "no-caption", "default", enc.data)
        print(
            f"{i + 1}/{len(paths)} {name} ({time.perf_counter() - t_start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    args.out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out / "results.csv", index=False)
    num = [
        c for c in df.columns if c not in ("image", "variant", "setting", "backend") and df[c].dtype != object
    ]
    summary = df.groupby(["variant", "setting"], sort=False)[num].mean(numeric_only=True)
    meta = {
        "profile": args.profile,
        "images": len(paths),
        "threads": args.threads,
        "bpg_backend": bpg.backend,
        "unavailable": unavailable,
        "means": json.loads(summary.reset_index().to_json(orient="records")),
    }
    (args.out / "summary.json").write_text(json.dumps(meta, indent=1))
    _figures(examples, args.out, args.profile)
    _print_tables(summary, unavailable, bpg.backend)


def _figures(examples, out: Path, profile: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtgc_link.codecs.mtgc.profiles import COMPACT_DIR

    names = [n for n in ("kodim04", "kodim07", "kodim14", "kodim20", "kodim23") if n in examples][:4]
    names = names or list(examples)[:4]
    cols = ["original", "hci", "bpg", "mtgc"]
    titles = ["original", "HCI, bicubic", "BPG, equal bits", "MTGC-compact"]
    fig, axes = plt.subplots(len(names), 4, figsize=(12, 2.2 * len(names) + 0.4), squeeze=False)
    for r, n in enumerate(names):
        for c, key in enumerate(cols):
            axes[r][c].imshow(examples[n][key])
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
            if r == 0:
                axes[r][c].set_title(titles[c])
        axes[r][0].set_ylabel(n)
    fig.tight_layout()
    fig.savefig(out / "examples.png", dpi=110)
    plt.close(fig)

    logs = Path(profile if Path(profile).is_dir() else COMPACT_DIR) / "logs"
    stages = ["vae", "clip", "unet", "controlnet", "tascm", "joint"]
    fig, axes = plt.subplots(1, len(stages), figsize=(3 * len(stages), 2.6))
    for ax, st in zip(axes, stages, strict=True):
        f = logs / f"{st}.jsonl"
        if not f.is_file():
            ax.set_title(f"{st}: no log")
            continue
        recs = [json.loads(line) for line in f.read_text().splitlines()]
        tr = [(r["step"], r["loss"]) for r in recs if "loss" in r]
        va = [(r["step"], r["val_loss"]) for r in recs if "val_loss" in r]
        if tr:
            ax.plot(*zip(*tr, strict=True), lw=0.8, label="train (batch)")
        if va:
            ax.plot(*zip(*va, strict=True), "o-", ms=2.5, label="val (fixed batch)")
        ax.set_title(st)
        ax.set_xlabel("step")
        ax.set_yscale("log")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "loss_curves.png", dpi=110)
    plt.close(fig)


def _print_tables(summary, unavailable, backend) -> None:
    s = summary.reset_index()
    cols = ["psnr", "ms-ssim", "haarpsi", "gmsd", "vif"]
    print(f"\nBPG backend: {backend}; unavailable: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    print("\n| variant | setting | bytes | bpp | header | caption | HCI | SPW | " + " | ".join(cols) + " |")
    print("|---" * (8 + len(cols)) + "|")
    for _, r in s.iterrows():
        seg = [r.get(f"bytes_{m}", float("nan")) for m in ("header", "caption", "hci", "spw")]
        vals = [r.get(c, float("nan")) for c in cols]
        nbytes, bpp = r.get("bytes", float("nan")), r.get("bpp", float("nan"))
        print(
            f"| {r['variant']} | {r['setting']} | {nbytes:.0f} | {bpp:.4f} | "
            + " | ".join("" if np.isnan(v) else f"{v:.0f}" for v in seg)
            + " | "
            + " | ".join(f"{v:.4f}" if c != "psnr" else f"{v:.2f}" for c, v in zip(cols, vals, strict=True))
            + " |"
        )


if __name__ == "__main__":
    main()
