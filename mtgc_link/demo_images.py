"""Image sets for sweeps: the photos bundled with scikit-image (no download), a folder, or a glob.

All images come back as uint8 (H, W, 3) RGB arrays keyed by a short name, sorted by name. Unreadable files
are raised together (``ImageSetError``) or returned beside the images (``load_image_set(errors="collect")``).
"""

from __future__ import annotations

import glob as _glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtgc_link.images import IMAGE_SUFFIXES, ImageError, is_image_file, load_image

__all__ = [
    "DEMO_CAPTIONS",
    "DEMO_NAMES",
    "IMAGE_SET_ERRORS",
    "IMAGE_SUFFIXES",
    "ImageSetError",
    "demo_images",
    "image_files",
    "load_captions",
    "load_image_set",
    "resize_longer_side",
]

#: The colour photos scikit-image ships inside its wheel (skimage.data), no network needed.
DEMO_NAMES = ("astronaut", "chelsea", "coffee", "motorcycle", "rocket")
#: Short captions of the demo photos, written for this project by looking at them (MTGC's caption modality).
DEMO_CAPTIONS = {
    "astronaut": "a smiling woman in an orange spacesuit holding a helmet in front of a flag",
    "chelsea": "close up of a tabby cat with green eyes",
    "coffee": "a red cup of espresso with a spoon on a saucer on a wooden table",
    "motorcycle": "a red motorcycle parked in a garage with shelves of boxes",
    "rocket": "a white rocket on a launch pad between towers at dusk",
}


def demo_images() -> dict[str, np.ndarray]:
    """astronaut (512x512), chelsea (300x451), coffee (400x600), motorcycle (left view of
    ``stereo_motorcycle``, 500x741), rocket (427x640); uint8 RGB."""
    from skimage import data

    return {
        "astronaut": data.astronaut(),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "motorcycle": data.stereo_motorcycle()[0],
        "rocket": data.rocket(),
    }


def _read(path: Path) -> np.ndarray:
    """One image file -> uint8 RGB (``mtgc_link.images.load_image``; ``ImageError`` names the file)."""
    return load_image(path)


def resize_longer_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (Lanczos) so that the longer side is at most ``max_side``; sides are rounded to even
    numbers (4:2:0 codecs need them). Images already small enough are returned unchanged."""
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    nh, nw = max(2, 2 * round(h * scale / 2)), max(2, 2 * round(w * scale / 2))
    return np.array(Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS))


def load_captions(source: str, captions: str | None = None) -> dict[str, str]:
    """Captions of an image set: ``captions`` (a JSON file {image name, stem or "split/stem": caption}),
    else the built-in ones for ``source="demo"``, else none. Keys are reduced to file stems."""
    import json

    if captions is None:
        return dict(DEMO_CAPTIONS) if source == "demo" else {}
    try:
        raw = json.loads(Path(captions).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"images.captions {captions!r}: not a readable JSON file ({exc})") from None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"images.captions {captions!r}: must map image names to caption strings")
    return {Path(k).stem: v for k, v in raw.items()}


class ImageSetError(ImageError):
    """Files of an image set that cannot be read, all of them: ``errors`` holds one ``ImageError`` per file
    and ``names`` their image names (``unreadable``: {name: error}). The message is one line:
    ``images.source '<source>': N unreadable files: <file> (<reason>); ...``."""

    def __init__(self, source: str, errors: list[ImageError], names: list[str] | None = None) -> None:
        self.errors = list(errors)
        self.names = list(names) if names is not None else [Path(e.path).stem for e in self.errors]
        self.path = source
        n = len(errors)
        self.reason = f"{n} unreadable file{'s' if n > 1 else ''}: " + "; ".join(
            f"{e.path} ({e.reason})" for e in errors
        )
        ValueError.__init__(self, f"images.source {source!r}: {self.reason}")

    @property
    def unreadable(self) -> dict[str, ImageError]:
        """{image name: its ``ImageError``}, in name order."""
        return dict(zip(self.names, self.errors, strict=True))


#: ``load_image_set(..., errors=...)``: what becomes of unreadable files.
IMAGE_SET_ERRORS = ("raise", "collect")


def image_files(source: str | Sequence[tuple[str, str]], limit: int | None = None) -> dict[str, Path]:
    """{image name: file} of ``source`` sorted by name, the first ``limit`` names; nothing is read.

    ``source``: a folder (its image files, not recursive) or a glob pattern; names are file stems (stems
    that occur twice get their parent folder prefixed). Or (name, file) pairs: a set already resolved (the
    sweep runner gives its workers the readable files so). Raises ValueError naming ``images.source`` when
    nothing matches ("demo" has no files).
    """
    if not isinstance(source, str):
        named = {str(n): Path(f) for n, f in source}
    else:
        p = Path(source).expanduser()
        if p.is_dir():
            paths = sorted(q for q in p.iterdir() if is_image_file(q))
        else:
            paths = sorted(Path(q) for q in _glob.glob(str(p)) if is_image_file(q))
        stems = [q.stem for q in paths]
        named = {(q.stem if stems.count(q.stem) == 1 else f"{q.parent.name}_{q.stem}"): q for q in paths}
    if not named:
        raise ValueError(f"images.source {source!r}: no image files found (a folder, a glob, or 'demo')")
    keep = sorted(named)[:limit] if limit else sorted(named)
    return {name: named[name] for name in keep}


def load_image_set(
    source: str | Sequence[tuple[str, str]],
    resize: int | None = None,
    limit: int | None = None,
    errors: str = "raise",
) -> dict[str, np.ndarray] | tuple[dict[str, np.ndarray], dict[str, ImageError]]:
    """Images of ``source``: "demo", a folder (its image files, not recursive), a glob pattern, or (name,
    file) pairs (:func:`image_files`).

    Returns {name: uint8 (H, W, 3)} sorted by name (file stem; duplicates get the parent folder prefixed).
    Files are read with ``mtgc_link.images.load_image``. ``limit`` keeps the first names before any file is
    read (unreadable files count), so the names do not depend on which files can be read. Every selected
    file is read; those that cannot be read:

    - ``errors="raise"`` (default): are reported together in one ``ImageSetError`` (an ``ImageError``, so a
      ValueError, naming ``images.source`` and each file with its reason);
    - ``errors="collect"``: are returned beside the others: ``(images, {name: ImageError})``, both sorted
      by name (the sweep's ``images.on_error: rows`` gives their points ``image_error`` rows).

    Raises ValueError naming ``images.source`` when nothing matches.
    """
    if errors not in IMAGE_SET_ERRORS:
        raise ValueError(f"errors must be one of {', '.join(IMAGE_SET_ERRORS)}, got {errors!r}")
    bad: dict[str, ImageError] = {}
    if isinstance(source, str) and source == "demo":
        images = demo_images()
    else:
        images = {}
        for name, path in image_files(source, limit).items():
            try:
                images[name] = _read(path)
            except ImageError as exc:
                bad[name] = exc
        if bad and errors == "raise":
            raise ImageSetError(source, list(bad.values()), list(bad))
    names = sorted(images)[:limit] if limit else sorted(images)
    out = {}
    for n in names:
        img = images[n]
        out[n] = np.ascontiguousarray(resize_longer_side(img, resize) if resize else img)
    return (out, bad) if errors == "collect" else out
